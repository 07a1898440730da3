// The SDK entry `smac/client` (src/client/index.ts) is for application containers, which bring
// their own Node: it must load without the agent (no node:sqlite, no libp2p, no package at
// all) and run on Node 20, while the agent itself needs Node 22. Checked on dist/ (npm run
// build): the import graph statically, then a real run on the system Node 20 when the machine
// has one, against an API served from this process.
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApiServers, type ApiServers } from '../../src/api/server.js';
import { ReplicaAgent } from '../api/helpers.js';

const ROOT = join(import.meta.dirname, '..', '..');
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  exports: Record<string, { import?: string } | string>;
};

/** Every module the entry loads, following relative imports; bare and node: ones listed as is. */
function importGraph(entry: string): { files: string[]; external: string[] } {
  const files = new Set<string>();
  const external = new Set<string>();
  const todo = [entry];
  for (let file = todo.pop(); file !== undefined; file = todo.pop()) {
    if (files.has(file)) continue;
    files.add(file);
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(
      /(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g,
    )) {
      const spec = m[1] ?? m[2] ?? '';
      if (spec.startsWith('.')) todo.push(resolve(dirname(file), spec));
      else external.add(spec);
    }
  }
  return { files: [...files], external: [...external] };
}

/** A Node older than 22 on this machine (the system Node), outside the project's pinned one. */
function oldNode(): string | undefined {
  const candidates = [
    ...(process.env.PATH ?? '')
      .split(delimiter)
      .filter((d) => !d.includes('node_modules'))
      .map((d) => join(d, 'node')),
    '/usr/bin/node',
    '/usr/local/bin/node',
  ];
  for (const c of candidates) {
    if (!existsSync(c)) continue;
    try {
      const v = execFileSync(c, ['--version'], { encoding: 'utf8' }).trim();
      if (Number(/^v(\d+)/.exec(v)?.[1]) < 22) return c;
    } catch {
      // not runnable: try the next
    }
  }
  return undefined;
}

describe('the SDK entry point smac/client', () => {
  it('is exported, and loads only node:http, node:https and the SDK files', () => {
    const entry = pkg.exports['./client'];
    expect(entry).toMatchObject({ import: './dist/client/index.js', types: './dist/client/index.d.ts' });
    const graph = importGraph(join(ROOT, 'dist', 'client', 'index.js'));
    expect(graph.external.sort()).toEqual(['node:http', 'node:https']);
    for (const f of graph.files) expect(f.startsWith(join(ROOT, 'dist', 'client'))).toBe(true);
  });

  const node20 = oldNode();
  describe.skipIf(node20 === undefined)(`on the system Node (${node20 ?? 'none found'})`, () => {
    const dir = mkdtempSync(join(tmpdir(), 'smac-node20-'));
    const socket = join(dir, 'smac.sock');
    let servers: ApiServers;
    beforeAll(async () => {
      servers = await startApiServers({ agent: new ReplicaAgent(), socketPath: socket, tcp: false });
    });
    afterAll(async () => {
      await servers.close();
      rmSync(dir, { recursive: true, force: true });
    });

    it('imports smac/client and talks to the agent over its socket', async () => {
      const script = `
        import { SmacClient, SmacApiError } from 'smac/client';
        const c = new SmacClient({ socketPath: ${JSON.stringify(socket)} });
        await c.op('pn-counter', 'n20/hits', { kind: 'increment', by: 2 });
        const { value } = await c.read('pn-counter', 'n20/hits');
        let code;
        try { await c.read('pn-counter', 'n20/none'); } catch (e) { code = e instanceof SmacApiError && e.code; }
        const w = c.watch({ prefix: 'n20/' });
        let first;
        for await (const e of w) { first = e.kind; break; }
        w.close();
        c.close();
        console.log(JSON.stringify({ node: process.version, value, code, first }));
      `;
      const out = await new Promise<string>((res, rej) => {
        execFile(
          node20 ?? 'node',
          ['--input-type=module', '-e', script],
          { cwd: ROOT },
          (err, stdout, stderr) => {
            if (err) rej(new Error(`${err.message}\n${stderr}`));
            else res(stdout);
          },
        );
      });
      const r = JSON.parse(out) as { node: string; value: number; code: string; first: string };
      expect(Number(/^v(\d+)/.exec(r.node)?.[1])).toBeLessThan(22);
      expect(r).toMatchObject({ value: 2, code: 'NOT_FOUND', first: 'snapshot' });
    }, 20_000);
  });
});
