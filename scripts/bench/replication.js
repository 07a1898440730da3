#!/usr/bin/env node
// Replication benchmark (issue 3). Run with `npm run bench:replication` (builds first).
// Three SMAC agents on loopback (A; B and C join A), each in its own process (agent-child.js),
// and a three-member etcd 3 cluster measured in the same run (etcd-child.js as its clients):
//   1. write acknowledgement latency at A, concurrency 1;
//   2. visibility latency: A writes on a fixed schedule, B and C time arrival in onChange;
//   3. sustained throughput (single-op writes, 64 in flight; 100-op batches, 8 in flight) and
//      the replication lag of B and C, sampled every 100 ms, and how long it takes to drain;
//   4. catch-up: C stopped while A writes 100,000 events, then restarted; and a new agent D;
//   5. RSS of each process, idle after start and idle after the load;
// and, for reference, the write latency of one agent with storeSync 'full' (fsync per commit,
// etcd's durability) and the throughput of one agent with no peers under the same loads.
// Everything listens on 127.0.0.1 only; every load loop is bounded in count or time. Child
// processes and temp dirs are removed on exit, on error and on SIGINT/SIGTERM.
// Options: --quick (small counts, a fast check), --json (machine-readable output),
// --no-etcd (SMAC only), --no-install (do not run scripts/install-etcd.sh if etcd is missing).
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ChildProcess, sleep, summarize, wallNow } from './ipc.js';
import { findEtcd, startEtcdCluster } from './etcd.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const args = process.argv.slice(2);
const quick = args.includes('--quick');
const asJson = args.includes('--json');
const withEtcd = !args.includes('--no-etcd');
const mayInstall = !args.includes('--no-install');

const COUNTS = quick
  ? { ack: 300, vis: 300, visIntervalMs: 5, loadMs: 1500, catchUp: 10_000, floor: 200 }
  : { ack: 2000, vis: 2000, visIntervalMs: 5, loadMs: 5000, catchUp: 100_000, floor: 500 };
const SINGLE_INFLIGHT = 64;
const BATCH_OPS = 100;
const BATCH_INFLIGHT = 8;
const CATCHUP_INFLIGHT = 64;
const LAG_SAMPLE_MS = 100;

// Progress goes to stderr, so that `--json` leaves stdout machine-readable.
const note = (msg) => process.stderr.write(`[bench] ${msg}\n`);

// ---- cleanup: every child and temp dir, whatever way the run ends -------------------------

const children = new Set(); // ChildProcess (agents, etcd clients)
const etcdProcs = new Set(); // spawned etcd members
const tempDirs = new Set();

function cleanupSync() {
  for (const c of children) c.kill();
  for (const p of etcdProcs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
  for (const d of tempDirs) rmSync(d, { recursive: true, force: true });
  children.clear();
  etcdProcs.clear();
  tempDirs.clear();
}
process.on('exit', cleanupSync);
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    note(`${sig}: stopping children and removing temp dirs`);
    cleanupSync();
    process.exit(130);
  });
}

function tempDir(prefix) {
  const d = mkdtempSync(join(tmpdir(), prefix));
  tempDirs.add(d);
  return d;
}

function child(script, name, execArgv) {
  const c = new ChildProcess(join(here, script), name, execArgv);
  children.add(c);
  c.proc.once('exit', () => children.delete(c));
  return c;
}

/** Resident set size of a process in MB, from /proc (the same measure for SMAC and etcd). */
function rssMb(pid) {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Math.round(Number(m[1]) / 102.4) / 10 : undefined;
  } catch {
    return undefined;
  }
}

async function until(what, cond, timeoutMs = 30_000, everyMs = 50) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await cond()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

// ---- replication lag from progress logs ----------------------------------------------------

/** The seq a progress log had reached at time `t` (`base` before its first entry). */
function seqAt(log, t, base) {
  let lo = 0;
  let hi = log.t.length - 1;
  let found = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (log.t[mid] <= t) {
      found = mid;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  return found < 0 ? base : log.seq[found];
}

/**
 * Lag of a receiver behind A (A's seq minus the receiver's entry for A), sampled every 100 ms
 * over the load; the lag when the load stopped; and how long after that it reached 0.
 */
function lagOf(aLog, rLog, load) {
  let max = 0;
  for (let t = load.tStart; t <= load.tEnd; t += LAG_SAMPLE_MS) {
    max = Math.max(max, seqAt(aLog, t, load.seqStart) - seqAt(rLog, t, load.seqStart));
  }
  const atEnd = load.seqEnd - seqAt(rLog, load.tEnd, load.seqStart);
  const k = rLog.seq.findIndex((s) => s >= load.seqEnd);
  const drainMs = k < 0 ? undefined : Math.max(0, rLog.t[k] - load.tEnd);
  return { maxEvents: Math.max(max, atEnd), atEndEvents: atEnd, drainMs: round1(drainMs) };
}

const round1 = (x) => (x === undefined ? undefined : Math.round(x * 10) / 10);

// ---- SMAC ------------------------------------------------------------------------------------

async function startAgent(name, dataDir, extra = {}) {
  const c = child('agent-child.js', `agent ${name}`, [
    '--disable-warning=ExperimentalWarning', // node:sqlite
    '--expose-gc', // for the heap figure only; RSS is read before any forced GC
  ]);
  const tFork = wallNow();
  const info = await c.call('start', { dataDir, region: name, ...extra });
  return Object.assign(c, { info, tFork, dataDir });
}

async function stopAgent(a) {
  await a.call('stop', {}, 30_000).catch(() => undefined);
  await a.exit();
}

/** V8 heap in use after a full GC, MB: tells live data from memory the allocator kept. */
async function heaps(agents) {
  const entries = await Promise.all(
    Object.entries(agents).map(async ([name, a]) => [name, (await a.call('mem')).heapUsedMb]),
  );
  return Object.fromEntries(entries);
}

async function smacBench() {
  const dirs = tempDir('smac-bench-');
  const dataDir = (n) => {
    const d = join(dirs, n);
    mkdirSync(d);
    return d;
  };
  const out = { counts: COUNTS };

  note('starting agents A, B, C');
  const A = await startAgent('A', dataDir('a'));
  const joinA = A.info.addresses;
  const B = await startAgent('B', dataDir('b'), { join: joinA });
  const C = await startAgent('C', dataDir('c'), { join: joinA });
  const origin = A.info.peerId;
  await until('A connected to B and C', async () => (await A.call('connectedPeers')).length >= 2);
  await sleep(2000);
  out.rssIdleMb = { A: rssMb(A.pid), B: rssMb(B.pid), C: rssMb(C.pid) };

  // Warm-up: gossipsub builds its mesh on its heartbeat, and the JITs warm up.
  await A.call('paced', { n: 200, intervalMs: 5 });
  const warmClock = await A.call('clock');
  await Promise.all([B, C].map((r) => r.call('waitCovers', { target: warmClock })));
  await sleep(1000);

  note(`1. write ack latency: ${COUNTS.ack} single-op writes at A, concurrency 1`);
  out.ackMs = summarize(await A.call('ackLatency', { n: COUNTS.ack }, 120_000));

  note(`2. visibility: ${COUNTS.vis} writes at A every ${COUNTS.visIntervalMs} ms, timed at B and C`);
  await Promise.all([B, C].map((r) => r.call('visStart', { origin })));
  const paced = await A.call('paced', { n: COUNTS.vis, intervalMs: COUNTS.visIntervalMs }, 120_000);
  const visClock = await A.call('clock');
  await Promise.all([B, C].map((r) => r.call('waitCovers', { target: visClock })));
  const [visB, visC] = await Promise.all([B.call('visResults'), C.call('visResults')]);
  out.visibilityMs = {
    B: summarize(visB),
    C: summarize(visC),
    combined: summarize([...visB, ...visC]),
    writerElapsedMs: round1(paced.elapsedMs),
    writerAckMs: summarize(paced.ackMs),
  };

  const diag = () => Promise.all([A, B, C].map((x) => x.call('diag')));
  // A sync pull started during a load keeps streaming after gossip has caught the peer up;
  // wait for anti-entropy to go quiet so one phase's tail does not load the next.
  const settle = async () => {
    let last = '';
    const deadline = Date.now() + 20_000;
    for (;;) {
      const now = JSON.stringify((await diag()).map((d) => [d.syncPulled, d.syncServed, d.remoteApplied]));
      if (now === last || Date.now() > deadline) return;
      last = now;
      await sleep(1000);
    }
  };
  const loadPhase = async (label, loadArgs) => {
    await Promise.all([A, B, C].map((x) => x.call('track', { origin })));
    const load = await A.call('load', loadArgs, loadArgs.durationMs + 60_000);
    const target = await A.call('clock');
    await Promise.all([B, C].map((r) => r.call('waitCovers', { target, timeoutMs: 120_000 }, 130_000)));
    await settle();
    const [aLog, bLog, cLog] = await Promise.all([A, B, C].map((x) => x.call('progress', { origin })));
    note(`   ${label}: ${Math.round(load.eventsPerSec)} events/s, ${Math.round(load.opsPerSec)} ops/s`);
    return {
      events: load.events,
      elapsedMs: round1(load.elapsedMs),
      eventsPerSec: Math.round(load.eventsPerSec),
      opsPerSec: Math.round(load.opsPerSec),
      lag: { B: lagOf(aLog, bLog, load), C: lagOf(aLog, cLog, load) },
    };
  };
  await settle();
  const diagBefore = await diag();
  note(`3a. throughput: single-op writes, ${SINGLE_INFLIGHT} in flight, ${COUNTS.loadMs} ms`);
  const single = await loadPhase('single-op', { durationMs: COUNTS.loadMs, inflight: SINGLE_INFLIGHT });
  note(`3b. throughput: ${BATCH_OPS}-op batches, ${BATCH_INFLIGHT} in flight, ${COUNTS.loadMs} ms`);
  const batch = await loadPhase('batches', {
    durationMs: COUNTS.loadMs,
    inflight: BATCH_INFLIGHT,
    batch: BATCH_OPS,
  });
  out.throughput = { single, batch };
  await sleep(3000);
  out.rssAfterLoadMb = { A: rssMb(A.pid), B: rssMb(B.pid), C: rssMb(C.pid) };
  // Sync pulls finish after gossip has delivered, so count both loads together, once settled.
  const diagAfter = await diag();
  const delta = (i) =>
    Object.fromEntries(Object.keys(diagAfter[i]).map((k) => [k, diagAfter[i][k] - diagBefore[i][k]]));
  out.throughputDelivery = {
    eventsWritten: single.events + batch.events,
    A: delta(0),
    B: delta(1),
    C: delta(2),
  };
  out.heapAfterLoadMb = await heaps({ A, B, C });

  note(`4. catch-up: C stops, A writes ${COUNTS.catchUp} events, C restarts; then a new agent D`);
  await stopAgent(C);
  const bulk = await A.call(
    'load',
    { count: COUNTS.catchUp, inflight: CATCHUP_INFLIGHT, prefix: 'cu' },
    300_000,
  );
  const target = await A.call('clock');
  await B.call('waitCovers', { target, timeoutMs: 120_000 }, 130_000);
  const catchUp = async (name, dir) => {
    const x = await startAgent(name, dir, { join: joinA, coverTarget: target });
    const { tCovered, status } = await x.call('covered', { timeoutMs: 120_000 }, 130_000);
    return {
      agent: x,
      result: {
        fromProcessStartMs: round1(tCovered - x.tFork),
        fromAgentStartedMs: round1(tCovered - x.info.tStarted),
        agentStartMs: round1(x.info.tStarted - x.info.tStartBegin),
        snapshotsInstalled: status.counters.snapshotsInstalled,
        eventsReceived: status.counters.remoteEvents,
      },
    };
  };
  const restarted = await catchUp('C', C.dataDir);
  const fresh = await catchUp('D', dataDir('d'));
  out.catchUp = {
    events: bulk.events,
    writeEventsPerSec: Math.round(bulk.eventsPerSec),
    restartedC: restarted.result,
    newD: fresh.result,
  };
  const C2 = restarted.agent;
  const D = fresh.agent;
  const aStatus = await A.call('status');
  out.compactionsAtA = aStatus.counters.compactions;
  await sleep(3000);
  out.rssEndMb = { A: rssMb(A.pid), B: rssMb(B.pid), C: rssMb(C2.pid), D: rssMb(D.pid) };
  out.heapEndMb = await heaps({ A, B, C: C2, D });
  await Promise.all([A, B, C2, D].map(stopAgent));

  // The same latency with SQLite synchronous=FULL (fsync per commit), the durability etcd has.
  note(`   ack latency with storeSync=full (one agent alone): ${COUNTS.ack} writes`);
  const F = await startAgent('F', dataDir('f'), { storeSync: 'full' });
  out.ackFullSyncMs = summarize(await F.call('ackLatency', { n: COUNTS.ack }, 120_000));
  await stopAgent(F);

  // The same loads on one agent with no peers: the writer's own ceiling, for comparison.
  note(`   throughput of one agent alone: the same two loads`);
  const S = await startAgent('S', dataDir('s'));
  const alone = async (loadArgs) => {
    const r = await S.call('load', loadArgs, loadArgs.durationMs + 60_000);
    return { events: r.events, eventsPerSec: Math.round(r.eventsPerSec), opsPerSec: Math.round(r.opsPerSec) };
  };
  out.throughputAlone = {
    single: await alone({ durationMs: COUNTS.loadMs, inflight: SINGLE_INFLIGHT }),
    batch: await alone({ durationMs: COUNTS.loadMs, inflight: BATCH_INFLIGHT, batch: BATCH_OPS }),
  };
  await stopAgent(S);
  return out;
}

// ---- etcd ------------------------------------------------------------------------------------

async function stopEtcd(cluster) {
  await Promise.all(
    cluster.members.map(
      (m) =>
        new Promise((resolve) => {
          if (m.proc.exitCode !== null || m.proc.signalCode !== null) return resolve();
          const t = setTimeout(() => m.proc.kill('SIGKILL'), 5000);
          m.proc.once('exit', () => {
            clearTimeout(t);
            resolve();
          });
          m.proc.kill('SIGTERM');
        }),
    ),
  );
}

async function etcdBench() {
  const found = findEtcd({ mayInstall, note });
  if (!found.bin) return { skipped: found.why };
  const version = /etcd Version: (\S+)/.exec(
    spawnSync(found.bin, ['--version'], { encoding: 'utf8' }).stdout,
  )?.[1];
  note(`etcd ${version}: starting a 3-member cluster on 127.0.0.1`);
  const cluster = await startEtcdCluster({
    bin: found.bin,
    n: 3,
    dir: tempDir('etcd-bench-'),
    onSpawn: (p) => {
      etcdProcs.add(p);
      p.once('exit', () => etcdProcs.delete(p));
    },
    until,
  });
  const out = { version, counts: COUNTS, writesTo: 'leader', visibilityVia: 'POST /v3/watch stream' };
  const writer = child('etcd-child.js', 'etcd writer');
  const watchers = cluster.followers.map((m, i) => child('etcd-child.js', `etcd watcher ${i + 1}`));
  const url = cluster.leader.url;

  await writer.call('putLatency', { url, n: 200, warmup: 0 });
  await sleep(1000);
  out.rssIdleMb = Object.fromEntries(cluster.members.map((m) => [m.name, rssMb(m.proc.pid)]));

  note(`1. put ack latency: ${COUNTS.ack} puts to the leader, concurrency 1`);
  out.ackMs = summarize(await writer.call('putLatency', { url, n: COUNTS.ack }, 300_000));
  out.rangeFloorMs = summarize(await writer.call('rangeLatency', { url, n: COUNTS.floor }, 120_000));

  note(`2. visibility: ${COUNTS.vis} puts every ${COUNTS.visIntervalMs} ms, watched on both followers`);
  await Promise.all(
    watchers.map((w, i) => w.call('watchStart', { url: cluster.followers[i].url, prefix: 'vis/' })),
  );
  const paced = await writer.call('paced', { url, n: COUNTS.vis, intervalMs: COUNTS.visIntervalMs }, 300_000);
  await sleep(1000); // the watch streams deliver within ms once the puts are acknowledged
  const [vis1, vis2] = await Promise.all(watchers.map((w) => w.call('visResults')));
  out.visibilityMs = {
    follower1: summarize(vis1),
    follower2: summarize(vis2),
    combined: summarize([...vis1, ...vis2]),
    writerElapsedMs: round1(paced.elapsedMs),
    writerAckMs: summarize(paced.ackMs),
  };

  note(`3. throughput: puts, ${SINGLE_INFLIGHT} in flight, ${COUNTS.loadMs} ms`);
  const load = await writer.call(
    'load',
    { url, inflight: SINGLE_INFLIGHT, durationMs: COUNTS.loadMs },
    120_000,
  );
  out.throughput = {
    single: {
      events: load.events,
      elapsedMs: round1(load.elapsedMs),
      eventsPerSec: Math.round(load.eventsPerSec),
    },
  };
  await sleep(3000);
  out.rssAfterLoadMb = Object.fromEntries(cluster.members.map((m) => [m.name, rssMb(m.proc.pid)]));
  out.leader = cluster.leader.name;
  await Promise.all([writer, ...watchers].map((c) => c.exit(0)));
  await stopEtcd(cluster);
  return out;
}

// ---- output ----------------------------------------------------------------------------------

const fmt = (x, digits = 2) =>
  x === undefined
    ? '—'
    : x.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: 0 });
const pp = (s) => (s ? `${fmt(s.p50)} / ${fmt(s.p99)}` : '—');

function printTable(r) {
  const s = r.smac;
  const e = r.etcd.skipped ? undefined : r.etcd;
  const lines = [];
  const row = (label, a, b) =>
    lines.push(`${label.padEnd(50)} ${String(a).padStart(18)}  ${String(b).padStart(18)}`);
  lines.push(
    `SMAC replication benchmark on loopback — ${r.date}, Node ${r.node}, ${r.cpus} CPUs${r.quick ? ' (--quick)' : ''}`,
  );
  lines.push(
    `SMAC: 3 agents (B, C join A), each its own process. etcd: ${e ? `${e.version}, 3 members, writes to the leader` : `skipped — ${r.etcd.skipped}`}.`,
  );
  lines.push('All processes share the system clock: visibility = receive wall time − send wall time.');
  lines.push(
    `Run took ${r.totalSeconds} s; 1-minute load average ${r.loadAvgAtStart} at the start, ${r.loadAvgAtEnd} at the end.`,
  );
  lines.push('');
  row('', 'SMAC', e ? 'etcd' : '');
  row(`write ack, concurrency 1, p50 / p99 ms (n=${s.ackMs.n})`, pp(s.ackMs), pp(e?.ackMs));
  row('  same, SMAC storeSync=full (fsync per commit)', pp(s.ackFullSyncMs), '');
  row('  etcd HTTP floor: serializable range, p50 / p99 ms', '', pp(e?.rangeFloorMs));
  row(`visibility p50 / p99 ms, B | etcd follower 1`, pp(s.visibilityMs.B), pp(e?.visibilityMs.follower1));
  row(`visibility p50 / p99 ms, C | etcd follower 2`, pp(s.visibilityMs.C), pp(e?.visibilityMs.follower2));
  row(
    `visibility p50 / p99 ms, combined (n=${s.visibilityMs.combined.n})`,
    pp(s.visibilityMs.combined),
    pp(e?.visibilityMs.combined),
  );
  row(
    '  write ack at the writer during those paced writes',
    pp(s.visibilityMs.writerAckMs),
    pp(e?.visibilityMs.writerAckMs),
  );
  row(
    `single-op writes, ${SINGLE_INFLIGHT} in flight: acked events/s`,
    fmt(s.throughput.single.eventsPerSec, 0),
    fmt(e?.throughput.single.eventsPerSec, 0),
  );
  row('  same, one SMAC agent alone (no peers)', fmt(s.throughputAlone.single.eventsPerSec, 0), '');
  row(
    `${BATCH_OPS}-op batches, ${BATCH_INFLIGHT} in flight: events/s`,
    fmt(s.throughput.batch.eventsPerSec, 0),
    '',
  );
  row(
    `${BATCH_OPS}-op batches, ${BATCH_INFLIGHT} in flight: ops/s`,
    fmt(s.throughput.batch.opsPerSec, 0),
    '',
  );
  row('  same, one SMAC agent alone (no peers)', fmt(s.throughputAlone.batch.opsPerSec, 0), '');

  const rss = (o) =>
    o
      ? Object.values(o)
          .map((x) => fmt(x, 0))
          .join(' / ')
      : '—';
  row('RSS idle after start, MB (A / B / C | m1 / m2 / m3)', rss(s.rssIdleMb), rss(e?.rssIdleMb));
  row('RSS idle 3 s after the throughput load, MB', rss(s.rssAfterLoadMb), rss(e?.rssAfterLoadMb));
  lines.push('');
  lines.push(
    `SMAC replication lag behind A (events), sampled every ${LAG_SAMPLE_MS} ms during the load (A wrote ${fmt(s.throughput.single.events, 0)} single-op events, then ${fmt(s.throughput.batch.events, 0)} batches):`,
  );
  lines.push(
    `${'load'.padEnd(30)} ${'peer'.padEnd(5)} ${'max'.padStart(8)} ${'at end'.padStart(8)} ${'drained after ms'.padStart(17)}`,
  );
  for (const [name, t] of Object.entries(s.throughput)) {
    for (const [peer, l] of Object.entries(t.lag)) {
      const label =
        name === 'single'
          ? `single-op, ${SINGLE_INFLIGHT} in flight`
          : `${BATCH_OPS}-op batches, ${BATCH_INFLIGHT} in flight`;
      lines.push(
        `${label.padEnd(30)} ${peer.padEnd(5)} ${fmt(l.maxEvents, 0).padStart(8)} ${fmt(l.atEndEvents, 0).padStart(8)} ${fmt(l.drainMs, 1).padStart(17)}`,
      );
    }
  }
  const d = s.throughputDelivery;
  const peer = (p) =>
    `${p} applied ${fmt(d[p].remoteApplied, 0)}, got ${fmt(d[p].gossipDelivered, 0)} by gossip and ${fmt(d[p].syncPulled, 0)} by sync`;
  lines.push('');
  lines.push(
    `Events by path over both loads (duplicates count on each path): A wrote ${fmt(d.eventsWritten, 0)}, served ${fmt(d.A.syncServed, 0)} by sync and pulled ${fmt(d.A.syncPulled, 0)} (its own) back; ${peer('B')}; ${peer('C')}.`,
  );
  lines.push(
    `V8 heap in use after a full GC, MB: after the load ${rss(s.heapAfterLoadMb)}; at the end ${rss(s.heapEndMb)}`,
  );
  const c = s.catchUp;
  lines.push('');
  lines.push(
    `SMAC catch-up: A wrote ${fmt(c.events, 0)} events (${fmt(c.writeEventsPerSec, 0)}/s, ${CATCHUP_INFLIGHT} in flight) while C was stopped.`,
  );
  const cu = (label, x) =>
    lines.push(
      `${label.padEnd(36)} covered A's clock ${fmt(x.fromProcessStartMs, 0)} ms after process start (${fmt(x.fromAgentStartedMs, 0)} ms after Agent.start resolved; start took ${fmt(x.agentStartMs, 0)} ms); snapshots installed ${x.snapshotsInstalled}, events received ${fmt(x.eventsReceived, 0)}`,
    );
  cu('C restarted on its data dir:', c.restartedC);
  cu('D, a new agent:', c.newD);
  lines.push(
    `RSS idle at the end, MB (A / B / C / D): ${rss(s.rssEndMb)}; compactions at A: ${s.compactionsAtA}`,
  );
  console.log(lines.join('\n'));
}

// ---- main ------------------------------------------------------------------------------------

async function main() {
  if (!existsSync(join(root, 'dist', 'agent', 'agent.js'))) {
    throw new Error('dist/ is missing: run `npm run build` first (npm run bench:replication does)');
  }
  const started = Date.now();
  const result = {
    date: new Date().toISOString().slice(0, 10),
    node: process.version,
    cpus: availableParallelism(),
    quick,
    // The machine may be shared: the 1-minute load average says how busy it was around the run.
    loadAvgAtStart: round1(loadavg()[0]),
    smac: await smacBench(),
    etcd: withEtcd ? await etcdBench() : { skipped: 'disabled by --no-etcd' },
  };
  if (result.etcd.skipped) note(`etcd part skipped: ${result.etcd.skipped}`);
  result.loadAvgAtEnd = round1(loadavg()[0]);
  result.totalSeconds = Math.round((Date.now() - started) / 1000);
  if (asJson) console.log(JSON.stringify(result, null, 2));
  else printTable(result);
}

try {
  await main();
} catch (e) {
  console.error(e instanceof Error ? e.stack : e);
  process.exitCode = 1;
} finally {
  cleanupSync();
}
