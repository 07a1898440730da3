// The agent's bundle (dist/bundle/main.js, scripts/build/agent-bundle.js), which `npm start` and
// the image run: two agents from it, on loopback with a cluster key, replicate a write made
// with the bundle's own CLI, serve the OpenAPI document (@fastify/swagger, a chunk loaded on
// that first request), and encrypt with the xsalsa20 instance from node_modules that
// src/net/pnet-cipher.ts patches (a preload counts that instance's calls: a bundle that
// carried its own copy would leave the patch on an instance nobody uses). The same for the
// yamux stream that src/net/yamux-window.ts patches, now bundled: the preload imports the
// bundle's yamux chunk (an ES module is one instance per URL, so it is the one the muxer uses)
// and counts that stream's window updates. When yamux-window.ts loaded stream.js by its
// node_modules URL, a bundled muxer was a copy the patch never saw, and every data frame got a
// window update again (this test then printed `patched: false` for the bundle's stream).
// Needs `npm run build` first, like every test of the real binary.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..', '..');
const bundle = join(root, 'dist', 'bundle', 'main.js');

/** The bundle's chunk of @chainsafe/libp2p-yamux (scripts/build/agent-bundle.js: one per package). */
function yamuxChunk(): string {
  const name = readdirSync(join(root, 'dist', 'bundle')).find((f) => f.startsWith('chainsafe_libp2p-yamux-'));
  if (name === undefined) throw new Error('no @chainsafe/libp2p-yamux chunk in dist/bundle');
  return join(root, 'dist', 'bundle', name);
}

/**
 * Preloaded into each agent: counts the calls into node_modules' xsalsa20 and into the bundled
 * yamux stream's window updates (yamux-window.ts calls the original for every stream that
 * opens), prints them on SIGUSR2.
 */
const preload = (yamux: string): string => `
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
const chunk = await import(pathToFileURL(${JSON.stringify(yamux)}).href);
const y = Object.values(chunk).find((v) => typeof v === 'function' && Object.hasOwn(v.prototype ?? {}, 'sendWindowUpdate'))?.prototype ?? {};
let yamuxCalls = 0;
const sendWindowUpdate = y.sendWindowUpdate;
if (sendWindowUpdate) y.sendWindowUpdate = function (...a) { yamuxCalls++; return sendWindowUpdate.apply(this, a); };
const req = createRequire(${JSON.stringify(join(root, 'node_modules', '@libp2p', 'pnet', 'package.json'))});
const x = req('xsalsa20');
let calls = 0;
const update = x.prototype.update;
x.prototype.update = function (...a) { calls++; return update.apply(this, a); };
process.on('SIGUSR2', () => {
  const patched = x.prototype[Symbol.for('smac.pnet-cipher-patched')] === true;
  process.stderr.write('XSALSA20 ' + JSON.stringify({ calls, patched }) + '\\n');
  const yamuxPatched = y[Symbol.for('smac.yamux-window-patched')] === true;
  const found = sendWindowUpdate !== undefined;
  process.stderr.write('YAMUX ' + JSON.stringify({ found, calls: yamuxCalls, patched: yamuxPatched }) + '\\n');
});
`;

interface Agent {
  proc: ChildProcess;
  dir: string;
  ready: { addresses: string[] };
  stderr: () => string;
}

async function waitFor<T>(
  what: string,
  f: () => T | undefined | Promise<T | undefined>,
  ms = 30_000,
): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v !== undefined) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('the agent bundle', () => {
  let tmp: string;
  const agents: Agent[] = [];

  const start = async (name: string, key: string, join_: string[]): Promise<Agent> => {
    const dir = join(tmp, name);
    const proc = spawn(
      process.execPath,
      [
        '--import',
        join(tmp, 'preload.mjs'),
        bundle,
        'agent',
        '--data-dir',
        dir,
        '--listen',
        '/ip4/127.0.0.1/tcp/0',
        '--cluster-key',
        key,
        '--log-level',
        'warn',
        ...join_.flatMap((a) => ['--join', a]),
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    let err = '';
    proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
    proc.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const line = await waitFor(`${name}'s ready line`, () => {
      if (proc.exitCode !== null) throw new Error(`${name} exited ${proc.exitCode}: ${err}`);
      return out.split('\n').find((l) => l.includes('"ready":true'));
    });
    const agent = { proc, dir, ready: JSON.parse(line) as Agent['ready'], stderr: () => err };
    agents.push(agent);
    return agent;
  };

  const cli = (a: Agent, ...args: string[]) =>
    spawnSync(process.execPath, [bundle, '--socket', join(a.dir, 'smac.sock'), ...args], {
      encoding: 'utf8',
    });

  beforeAll(() => {
    if (!existsSync(bundle)) throw new Error(`${bundle} is missing: run \`npm run build\` first`);
    tmp = mkdtempSync(join(tmpdir(), 'smac-bundle-'));
    writeFileSync(join(tmp, 'preload.mjs'), preload(yamuxChunk()));
  });
  afterAll(() => {
    for (const a of agents) a.proc.kill('SIGKILL');
    rmSync(tmp, { recursive: true, force: true });
  });

  it('runs agents that replicate through the cluster key, and serves the OpenAPI document', async () => {
    const key = join(tmp, 'cluster.key');
    expect(spawnSync(process.execPath, [bundle, 'keygen', '--out', key]).status).toBe(0);
    const a = await start('a', key, []);
    const b = await start('b', key, a.ready.addresses);

    const inc = cli(a, 'inc', 'bundle/hits', '5');
    expect(inc.status, inc.stderr).toBe(0);
    await waitFor('the increment at b', () => {
      const r = cli(b, '--json', 'get', 'bundle/hits');
      return r.status === 0 && (JSON.parse(r.stdout) as { value: unknown }).value === 5 ? true : undefined;
    });

    const doc = await new Promise<string>((resolve, reject) => {
      const req = request({ socketPath: join(a.dir, 'smac.sock'), path: '/openapi.json' }, (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => {
          resolve(body);
        });
      });
      req.on('error', reject);
      req.end();
    });
    expect((JSON.parse(doc) as { paths: Record<string, unknown> }).paths).toHaveProperty('/v1/status');

    for (const agent of [a, b]) {
      agent.proc.kill('SIGUSR2');
      const report = await waitFor(
        'the xsalsa20 report',
        () => /XSALSA20 (\{.*\})/.exec(agent.stderr())?.[1],
      );
      const { calls, patched } = JSON.parse(report) as { calls: number; patched: boolean };
      expect(patched).toBe(true);
      expect(calls).toBeGreaterThan(0);
      const yamux = await waitFor('the yamux report', () => /YAMUX (\{.*\})/.exec(agent.stderr())?.[1]);
      expect(JSON.parse(yamux)).toMatchObject({ found: true, patched: true, calls: expect.any(Number) });
      expect((JSON.parse(yamux) as { calls: number }).calls).toBeGreaterThan(0);
    }
    expect(readFileSync(key, 'utf8')).toMatch(/^\/key\/swarm\/psk\/1\.0\.0\//);
  }, 90_000);
});
