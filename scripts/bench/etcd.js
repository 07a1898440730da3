// etcd for the benchmarks' same-run comparison: find (or install) the binary and start an
// n-member cluster on 127.0.0.1, with the leader identified. Shared by api.js and
// replication.js.
import { spawn, spawnSync } from 'node:child_process';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

function which(cmd) {
  const r = spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

/** etcd's path, installing it with scripts/install-etcd.sh if allowed; or why it is missing. */
export function findEtcd({ mayInstall, note }) {
  let bin = which('etcd');
  if (bin) return { bin };
  const script = join(root, 'scripts', 'install-etcd.sh');
  if (!mayInstall) return { why: `etcd is not on PATH; install it with ${script} (needs root and apt)` };
  note(`etcd is not on PATH; running ${script}`);
  // Its output goes to stderr so that --json output stays clean.
  const r = spawnSync('sh', [script], { stdio: ['ignore', 2, 2] });
  bin = which('etcd');
  if (r.status === 0 && bin) return { bin };
  return { why: `could not install etcd (${script} exited ${r.status}); install etcd 3 and re-run` };
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/**
 * Starts `n` members under `dir` and waits until all are healthy. `onSpawn` gets each child
 * process (for cleanup on exit); `until(what, cond)` is the caller's bounded polling helper.
 * Resolves to { members, leader, followers }: write to the leader, etcd's best case.
 */
export async function startEtcdCluster({ bin, n, dir, extraArgs = [], onSpawn, until }) {
  const members = [];
  for (let i = 1; i <= n; i++)
    members.push({ name: `m${i}`, client: await freePort(), peer: await freePort() });
  const initial = members.map((m) => `${m.name}=http://127.0.0.1:${m.peer}`).join(',');
  const token = `smac-bench-${process.pid}-${Date.now()}`;
  for (const m of members) {
    m.url = `http://127.0.0.1:${m.client}`;
    const argv = [
      `--name=${m.name}`,
      `--data-dir=${join(dir, m.name)}`,
      `--listen-client-urls=${m.url}`,
      `--advertise-client-urls=${m.url}`,
      `--listen-peer-urls=http://127.0.0.1:${m.peer}`,
      `--initial-advertise-peer-urls=http://127.0.0.1:${m.peer}`,
      `--initial-cluster=${initial}`,
      '--initial-cluster-state=new',
      `--initial-cluster-token=${token}`,
      ...extraArgs,
      '--logger=zap',
      '--log-level=error',
    ];
    m.proc = spawn(bin, argv, { stdio: ['ignore', 'ignore', 'pipe'] });
    onSpawn(m.proc);
    m.stderr = '';
    m.proc.stderr.on('data', (d) => {
      m.stderr = (m.stderr + d.toString()).slice(-4000);
    });
  }
  const healthy = async (m) => {
    if (m.proc.exitCode !== null) throw new Error(`etcd ${m.name} exited: ${m.stderr}`);
    try {
      const res = await fetch(`${m.url}/health`, { signal: AbortSignal.timeout(1000) });
      return res.ok && (await res.json()).health === 'true';
    } catch {
      return false;
    }
  };
  await until('etcd healthy', async () => (await Promise.all(members.map(healthy))).every(Boolean));
  const statuses = await Promise.all(
    members.map(async (m) =>
      (await fetch(`${m.url}/v3/maintenance/status`, { method: 'POST', body: '{}' })).json(),
    ),
  );
  const leader = members[statuses.findIndex((s) => s.header.member_id === statuses[0].leader)];
  if (!leader) throw new Error('could not find the etcd leader');
  return { members, leader, followers: members.filter((m) => m !== leader) };
}
