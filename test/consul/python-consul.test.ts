// SMAC's Consul-compatible listener driven by a Consul client that is not part of this project:
// Debian's python3-consul (python-consul 0.7), installed by scripts/install-python-consul.sh,
// given the agent's API token (consul.Consul(token=...)), which the listener requires.
// (Debian's prometheus cannot be that client: bookworm's 2.42 and trixie's 2.53 are built without
// Consul service discovery, docs/consul.md.) Against three agent processes: services registered on any agent
// appear through one agent's listener; a blocking query returns when its service changes; an
// endpoint leaves `?passing` once its node is SIGKILLed.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ROOT } from '../support/agent-process.js';
import { describeWith, type External } from '../support/external.js';
import { type ClusterAgent, type ConsulCluster, eventually, startConsulCluster } from './cluster.js';

const PYTHON = '/usr/bin/python3';
const CLIENT = join(import.meta.dirname, 'python-consul-client.py');
/** python3-consul, installed by the project's script on first use (ensureExternal's contract). */
function pythonConsul(): External {
  const present = (): boolean => {
    try {
      execFileSync(PYTHON, ['-c', 'import consul'], { stdio: 'ignore' });
      return true;
    } catch {
      return false;
    }
  };
  if (present()) return { command: 'python3-consul', missing: undefined };
  try {
    execFileSync(join(ROOT, 'scripts', 'install-python-consul.sh'), [], {
      stdio: ['ignore', 'ignore', 'pipe'],
      timeout: 600_000,
    });
  } catch (err) {
    const stderr = (err as { stderr?: Buffer }).stderr?.toString().trim() ?? '';
    return {
      command: 'python3-consul',
      missing: `python3-consul could not be installed: ${stderr || String(err)}`,
    };
  }
  return present()
    ? { command: 'python3-consul', missing: undefined }
    : { command: 'python3-consul', missing: `${PYTHON} cannot import consul after the install` };
}

/**
 * Runs the Python client, which passes `token` as consul.Consul(token=...); resolves with its
 * JSON lines, its exit code and its stderr.
 */
function runClient(
  token: string | undefined,
  args: string[],
): {
  lines: AsyncIterableIterator<string>;
  child: ChildProcess;
  exit: Promise<number | null>;
  stderr: () => string;
} {
  // python-consul reads CONSUL_HTTP_TOKEN itself, over the token= argument: keep it out.
  const env: NodeJS.ProcessEnv = { ...process.env, SMAC_TEST_CONSUL_TOKEN: token };
  delete env.CONSUL_HTTP_TOKEN;
  if (token === undefined) delete env.SMAC_TEST_CONSUL_TOKEN;
  const child = spawn(PYTHON, [CLIENT, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exit = new Promise<number | null>((resolve) => {
    child.once('exit', (code) => {
      if (code !== 0 && stderr && token !== undefined) console.warn(`python-consul client: ${stderr}`);
      resolve(code);
    });
  });
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  return { lines, child, exit, stderr: () => stderr };
}

async function snapshot(port: number, token: string): Promise<Snapshot> {
  const { lines, exit } = runClient(token, ['127.0.0.1', String(port), 'snapshot', 'web', 'cfg/']);
  const first = await lines.next();
  expect(await exit).toBe(0);
  return JSON.parse(first.value as string) as Snapshot;
}

interface Snapshot {
  services: Record<string, string[]>;
  passing: string[];
  healthNodes: string[];
  checks: string[];
  catalog: [string, string, string, number, string[]][];
  nodes: string[];
  kv: Record<string, string>;
  datacenter: string;
  nodeName: string;
  leader: string;
  servicesIndex: string;
}

interface WatchLine {
  index: string;
  ids: string[];
  blocking: boolean;
}

/**
 * Indexes never go back, and a blocking query came back only when its answer changed or its
 * wait was over (then with the same index). The endpoints here have no checks, so with
 * ?passing the answer changes exactly when its endpoint ids do.
 */
function expectOnlyRealChanges(lines: readonly WatchLine[]): void {
  for (let i = 1; i < lines.length; i++) {
    const [prev, cur] = [lines[i - 1]!, lines[i]!];
    expect(Number(cur.index)).toBeGreaterThanOrEqual(Number(prev.index));
    if (cur.index !== prev.index) expect(cur.ids, `answer ${i} has a new index`).not.toEqual(prev.ids);
  }
}

describeWith([pythonConsul()], 'a third-party Consul client (python3-consul) against three agents', () => {
  let cluster: ConsulCluster;
  let a: ClusterAgent, b: ClusterAgent, c: ClusterAgent;
  let port: number;
  let token: string;
  const children: ChildProcess[] = [];

  beforeAll(async () => {
    cluster = await startConsulCluster();
    ({ a, b, c, port, token } = cluster);
    await a.client.register('web', 'web-a', { address: '127.0.0.1', port: 9101, tags: ['v1'] });
    await b.client.register('web', 'web-b', { address: '127.0.0.2', port: 9102, tags: ['v2'] });
    await b.client.batch([
      { type: 'lww-register', key: 'cfg/greeting', op: { kind: 'set', value: 'héllo' } },
    ]);
  }, 120_000);

  afterAll(() => {
    for (const ch of children) ch.kill('SIGKILL');
    (cluster as ConsulCluster | undefined)?.stop();
  });

  it('is refused without the API token (ACLPermissionDenied), on loopback too', async () => {
    const denied = runClient(undefined, ['127.0.0.1', String(port), 'snapshot', 'web', 'cfg/']);
    expect(await denied.exit).not.toBe(0);
    expect(denied.stderr()).toMatch(/consul\.base\.ACLPermissionDenied: ACL not found/);
  });

  it('sees the services registered on any agent, the nodes, the keys, the datacenter and no leader', async () => {
    const s = await eventually(
      'both endpoints and the key through the Consul listener',
      () => snapshot(port, token),
      (x) => x.passing.length === 2 && x.kv['cfg/greeting'] !== undefined,
    );
    expect(s.services).toEqual({ web: ['v1', 'v2'] });
    expect(s.passing).toEqual(['web-a', 'web-b']);
    expect(s.healthNodes).toEqual([a.peerId, b.peerId].sort());
    expect(s.checks).toEqual(['serfHealth', 'serfHealth']);
    expect(s.catalog).toEqual([
      ['web-a', a.peerId, '127.0.0.1', 9101, ['v1']],
      ['web-b', b.peerId, '127.0.0.2', 9102, ['v2']],
    ]);
    expect(s.nodes).toEqual([a.peerId, b.peerId, c.peerId].sort());
    expect(s.kv).toEqual({ 'cfg/greeting': 'héllo' });
    expect(s.datacenter).toBe('eu');
    expect(s.nodeName).toBe(a.peerId);
    expect(s.leader).toBe('');
    expect(Number(s.servicesIndex)).toBeGreaterThan(0);
  });

  it('returns a blocking query when its service changes (an endpoint registered on another agent)', async () => {
    const w = runClient(token, ['127.0.0.1', String(port), 'watch', 'web', 'present', 'web-c', '60']);
    children.push(w.child);
    const first = JSON.parse((await w.lines.next()).value as string) as WatchLine;
    expect(first.ids).toEqual(['web-a', 'web-b']);
    await c.client.register('web', 'web-c', { address: '127.0.0.3', port: 9103 });
    const rest: WatchLine[] = [];
    for await (const line of w.lines) rest.push(JSON.parse(line) as WatchLine);
    expect(await w.exit).toBe(0);
    const last = rest[rest.length - 1];
    expect(last?.ids).toEqual(['web-a', 'web-b', 'web-c']);
    expect(Number(last?.index)).toBeGreaterThan(Number(first.index));
    expectOnlyRealChanges([first, ...rest]);
  });

  it('drops an endpoint from ?passing once its node is SIGKILLed, and keeps the others', async () => {
    const w = runClient(token, ['127.0.0.1', String(port), 'watch', 'web', 'absent', 'web-b', '90']);
    children.push(w.child);
    const first = JSON.parse((await w.lines.next()).value as string) as WatchLine;
    expect(first.ids).toEqual(['web-a', 'web-b', 'web-c']);
    b.proc.process.kill('SIGKILL');
    const rest: WatchLine[] = [];
    for await (const line of w.lines) rest.push(JSON.parse(line) as WatchLine);
    expect(await w.exit).toBe(0);
    expect(rest[rest.length - 1]?.ids).toEqual(['web-a', 'web-c']);
    // While b was only suspected its endpoint stayed: no answer came back for it.
    expectOnlyRealChanges([first, ...rest]);
    const after = await snapshot(port, token);
    expect(after.passing).toEqual(['web-a', 'web-c']);
    expect(after.nodes).toContain(b.peerId); // a failed node stays in the catalog, as in Consul
  });
});
