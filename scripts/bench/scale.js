#!/usr/bin/env node
// Scale benchmark (issue 8, "Scale past this machine"). Run with `npm run bench:scale` (builds
// first). For each cluster size N of --sizes, --runs times:
//   1. N agents on loopback, each in its own process (agent-child.js), all joined to the first;
//      time from launching the joiners until every agent's failure detector holds N alive;
//   2. after --settle s, an idle window of --idle s with no calls into the agents: per agent
//      RSS (/proc/<pid>/status), CPU % of one core (/proc/<pid>/stat utime+stime) and bytes/s
//      sent and received on its TCP connections (`ss -tinp` bytes_acked / bytes_received of
//      every socket the process owns: the agents have no other TCP sockets);
//   3. the first agent writes --events events; a new agent joins the first: time until its
//      clock covers them (catch-up) and until all N+1 hold N+1 alive;
//   4. that new agent is SIGKILLed: time until every other agent holds it dead.
// Each figure is the median over the runs of the per-run median over agents (max beside it).
// Everything listens on 127.0.0.1; every wait is bounded. Child processes and temp dirs are
// removed on exit, on error and on SIGINT/SIGTERM.
// Options: --sizes 3,10 --runs 3 --idle 30 --settle 10 --events 1000 --json
//          --cpu-prof DIR (profile every agent of the last run of each size)
//          --diag (print what the agents did in the idle window: beats, syncs, events)
//          --protocols (print the idle window's bytes per protocol and layer, per agent:
//          proto-bytes.js)
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ChildProcess, sleep, wallNow } from './ipc.js';

const here = dirname(fileURLToPath(import.meta.url));
const argv = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < argv.length ? argv[i + 1] : dflt;
};
const num = (name, dflt, min, max) => {
  const v = Number(opt(name, dflt));
  if (!Number.isFinite(v) || v < min || v > max)
    throw new Error(`--${name} must be a number in [${min}, ${max}]`);
  return v;
};
const SIZES = String(opt('sizes', '3,10'))
  .split(',')
  .map((s) => Number(s));
if (SIZES.some((n) => !Number.isInteger(n) || n < 2 || n > 64)) throw new Error('--sizes: integers 2..64');
const RUNS = num('runs', 3, 1, 9);
const IDLE_S = num('idle', 30, 2, 600);
const SETTLE_S = num('settle', 10, 0, 600);
const EVENTS = num('events', 1000, 1, 100_000);
const CPU_PROF = opt('cpu-prof', undefined);
const DIAG = argv.includes('--diag');
const PROTOCOLS = argv.includes('--protocols');
const asJson = argv.includes('--json');
const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;
const WAIT_LIMIT_MS = 240_000;

const note = (msg) => process.stderr.write(`[scale] ${msg}\n`);

// ---- cleanup: every child and temp dir, whatever way the run ends -------------------------

const children = new Set();
const tempDirs = new Set();
function cleanupSync() {
  for (const c of children) c.kill();
  for (const d of tempDirs) rmSync(d, { recursive: true, force: true });
  children.clear();
  tempDirs.clear();
}
process.on('exit', cleanupSync);
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    note(`${sig}: stopping agents and removing temp dirs`);
    cleanupSync();
    process.exit(130);
  });
}

// ---- per-process figures from /proc and ss -------------------------------------------------

function procCpuTicks(pid) {
  const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
  return Number(f[11]) + Number(f[12]); // utime + stime (fields 14 and 15)
}

function procRssMb(pid) {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

/** pid -> { sent, received } summed over its established TCP sockets. */
function socketBytes() {
  const out = new Map();
  const r = spawnSync('ss', ['-tinpH', 'state', 'established'], { encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`ss failed: ${r.stderr}`);
  let pid;
  for (const line of r.stdout.split('\n')) {
    const p = /pid=(\d+)/.exec(line);
    if (p) {
      pid = Number(p[1]);
      continue;
    }
    if (pid === undefined) continue;
    const acked = /bytes_acked:(\d+)/.exec(line);
    const recv = /bytes_received:(\d+)/.exec(line);
    if (acked || recv) {
      const o = out.get(pid) ?? { sent: 0, received: 0 };
      o.sent += acked ? Number(acked[1]) : 0;
      o.received += recv ? Number(recv[1]) : 0;
      out.set(pid, o);
      pid = undefined;
    }
  }
  return out;
}

function sample(agents) {
  const bytes = socketBytes();
  return {
    t: wallNow(),
    per: agents.map((a) => ({
      cpu: procCpuTicks(a.pid),
      bytes: bytes.get(a.pid) ?? { sent: 0, received: 0 },
    })),
  };
}

// ---- helpers ---------------------------------------------------------------------------------

const median = (xs) => {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  return s.length === 0 ? undefined : s[Math.floor((s.length - 1) / 2)];
};
const max = (xs) => (xs.length === 0 ? undefined : Math.max(...xs));

async function startAgent(dir, name, join, coverTarget, prof) {
  const execArgv = ['--disable-warning=ExperimentalWarning'];
  if (prof) execArgv.push('--cpu-prof', `--cpu-prof-dir=${prof}`, `--cpu-prof-name=${name}.cpuprofile`);
  const c = new ChildProcess(join_(here, 'agent-child.js'), name, execArgv);
  children.add(c);
  c.proc.once('exit', () => children.delete(c));
  const info = await c.call('start', { dataDir: join_(dir, name), join, coverTarget }, 120_000);
  return Object.assign(c, { peerId: info.peerId, addresses: info.addresses });
}
const join_ = join;

/** Polls until every agent holds `n` alive; resolves to the wall time it first held. */
async function allAlive(agents, n) {
  const deadline = wallNow() + WAIT_LIMIT_MS;
  let counts = [];
  while (wallNow() < deadline) {
    counts = await Promise.all(agents.map((a) => a.call('alive').then((r) => r.count)));
    if (counts.every((c) => c >= n)) return wallNow();
    await sleep(100);
  }
  throw new Error(
    `not every agent saw ${n} alive within ${WAIT_LIMIT_MS} ms (alive counts: ${counts.join(',')})`,
  );
}

async function allHoldDead(agents, id) {
  const deadline = wallNow() + WAIT_LIMIT_MS;
  while (wallNow() < deadline) {
    const st = await Promise.all(agents.map((a) => a.call('memberStatus', { id })));
    if (st.every((s) => s === 'dead' || s === 'left' || s === undefined)) return wallNow();
    await sleep(100);
  }
  throw new Error(`the killed agent was not held dead everywhere within ${WAIT_LIMIT_MS} ms`);
}

async function stopAll(agents) {
  await Promise.all(
    agents.map(async (a) => {
      if (a.exited) return;
      await a.call('stop', {}, 20_000).catch(() => undefined);
      await a.exit(10_000);
    }),
  );
}

// ---- one run -----------------------------------------------------------------------------

async function runOnce(n, prof) {
  const dir = mkdtempSync(join(tmpdir(), 'smac-scale-'));
  tempDirs.add(dir);
  const agents = [];
  try {
    const first = await startAgent(dir, 'a0', [], undefined, prof);
    agents.push(first);
    const seed = first.addresses.filter((a) => a.includes('127.0.0.1'));
    const tLaunch = wallNow();
    const rest = await Promise.all(
      Array.from({ length: n - 1 }, (_, i) => startAgent(dir, `a${i + 1}`, seed, undefined, prof)),
    );
    agents.push(...rest);
    const tStarted = wallNow();
    const tAlive = await allAlive(agents, n);
    note(`  N=${n}: all ${n} alive ${((tAlive - tLaunch) / 1000).toFixed(1)} s after launch`);
    await sleep(SETTLE_S * 1000);

    const d0 = DIAG ? await Promise.all(agents.map((a) => a.call('diag'))) : undefined;
    const p0 = PROTOCOLS ? await Promise.all(agents.map((a) => a.call('protoBytes'))) : undefined;
    const s0 = sample(agents);
    await sleep(IDLE_S * 1000);
    const s1 = sample(agents);
    if (p0) {
      const p1 = await Promise.all(agents.map((a) => a.call('protoBytes')));
      note(`  N=${n} idle window, bytes/s per agent (mean over agents):\n${protocolTable(p0, p1, IDLE_S)}`);
    }
    if (d0) {
      // What the agents did in the window (counter deltas, summed over agents).
      const d1 = await Promise.all(agents.map((a) => a.call('diag')));
      const delta = {};
      for (const [i, d] of d1.entries())
        for (const [k, v] of Object.entries(d))
          if (typeof v === 'number') delta[k] = (delta[k] ?? 0) + v - (d0[i][k] ?? 0);
      note(`  N=${n} idle window, summed over agents: ${JSON.stringify(delta)}`);
    }
    const secs = (s1.t - s0.t) / 1000;
    const per = agents.map((a, i) => ({
      rssMb: procRssMb(a.pid),
      cpuPct: (((s1.per[i].cpu - s0.per[i].cpu) / CLK_TCK) * 100) / secs,
      sentBps: (s1.per[i].bytes.sent - s0.per[i].bytes.sent) / secs,
      receivedBps: (s1.per[i].bytes.received - s0.per[i].bytes.received) / secs,
    }));

    // A new agent joins after the first wrote EVENTS events. A phase that fails (times out on
    // an overloaded machine) is reported as missing; the run goes on.
    const phase = async (name, fn) => {
      try {
        return await fn();
      } catch (e) {
        note(`  N=${n}: ${name} failed: ${e instanceof Error ? e.message.slice(0, 300) : String(e)}`);
        return undefined;
      }
    };
    await first.call('load', { count: EVENTS, inflight: 16, prefix: 'scale' }, 120_000);
    const target = await first.call('clock');
    const tJoin = wallNow();
    const joiner = await startAgent(dir, `a${n}`, seed, target, prof);
    agents.push(joiner);
    const covered = await phase('joiner catch-up', () =>
      joiner.call('covered', { timeoutMs: WAIT_LIMIT_MS }, WAIT_LIMIT_MS + 5_000),
    );
    const tJoinAlive = await phase('joiner seen alive', () => allAlive(agents, n + 1));

    // Detection: SIGKILL the joiner; every other agent must come to hold it dead.
    const tKill = wallNow();
    joiner.kill();
    agents.pop();
    const tDead = await phase('detection', () => allHoldDead(agents, joiner.peerId));
    const since = (t, t0) => (t === undefined ? undefined : t - t0);
    return {
      n,
      allAliveMs: tAlive - tLaunch,
      allAliveAfterStartMs: tAlive - tStarted,
      rssMb: per.map((p) => p.rssMb),
      cpuPct: per.map((p) => p.cpuPct),
      sentBps: per.map((p) => p.sentBps),
      receivedBps: per.map((p) => p.receivedBps),
      joinCatchUpMs: since(covered?.tCovered, tJoin),
      joinAllAliveMs: since(tJoinAlive, tJoin),
      detectDeadMs: since(tDead, tKill),
    };
  } finally {
    await stopAll(agents);
    rmSync(dir, { recursive: true, force: true });
    tempDirs.delete(dir);
  }
}

/** Per label: mean over agents of bytes/s (and items/s) between two protoBytes snapshots. */
function protocolTable(p0, p1, secs) {
  const rows = [];
  for (const part of ['sent', 'received', 'rpcReceived']) {
    const labels = new Set(p1.flatMap((p) => Object.keys(p[part])));
    for (const label of [...labels].sort()) {
      let bytes = 0;
      let count = 0;
      for (const [i, p] of p1.entries()) {
        bytes += (p[part][label]?.bytes ?? 0) - (p0[i][part][label]?.bytes ?? 0);
        count += (p[part][label]?.count ?? 0) - (p0[i][part][label]?.count ?? 0);
      }
      const per = p1.length * secs;
      if (bytes > 0)
        rows.push(
          `    ${part.padEnd(11)} ${label.padEnd(28)} ${(bytes / per).toFixed(1).padStart(9)} B/s ${(count / per).toFixed(2).padStart(8)} /s`,
        );
    }
  }
  return rows.join('\n');
}

function summarizeRuns(runs) {
  const pick = (f) => runs.map(f);
  const agg = (key) => ({
    median: median(pick((r) => median(r[key]))),
    max: max(pick((r) => max(r[key]))),
  });
  return {
    n: runs[0].n,
    runs: runs.length,
    allAliveMs: median(pick((r) => r.allAliveMs)),
    allAliveAfterStartMs: median(pick((r) => r.allAliveAfterStartMs)),
    rssMb: agg('rssMb'),
    cpuPct: agg('cpuPct'),
    sentBps: agg('sentBps'),
    receivedBps: agg('receivedBps'),
    joinCatchUpMs: median(pick((r) => r.joinCatchUpMs)),
    joinAllAliveMs: median(pick((r) => r.joinAllAliveMs)),
    detectDeadMs: median(pick((r) => r.detectDeadMs)),
    failedPhases: runs.reduce(
      (k, r) => k + [r.joinCatchUpMs, r.joinAllAliveMs, r.detectDeadMs].filter((x) => x === undefined).length,
      0,
    ),
  };
}

const f0 = (x) => (x === undefined ? '—' : x.toFixed(0));
const f1 = (x) => (x === undefined || Number.isNaN(x) ? '—' : x.toFixed(1));

async function main() {
  note(
    `sizes ${SIZES.join(',')}, ${RUNS} run(s), idle ${IDLE_S} s after ${SETTLE_S} s, ${EVENTS} events for the joiner; ` +
      `load ${loadavg()
        .map((l) => l.toFixed(1))
        .join(' ')} on ${availableParallelism()} CPUs`,
  );
  const results = [];
  for (const n of SIZES) {
    const runs = [];
    for (let r = 0; r < RUNS; r++) {
      let prof;
      if (CPU_PROF && r === RUNS - 1) {
        prof = resolve(CPU_PROF, `n${n}`);
        mkdirSync(prof, { recursive: true });
      }
      note(`N=${n} run ${r + 1}/${RUNS}`);
      runs.push(await runOnce(n, prof));
    }
    results.push({ summary: summarizeRuns(runs), runs });
  }
  const load = loadavg();
  if (asJson) {
    process.stdout.write(JSON.stringify({ load, idleS: IDLE_S, results }, null, 2) + '\n');
    return;
  }
  const lines = [
    `load average at the end: ${load.map((l) => l.toFixed(2)).join(' ')}; idle window ${IDLE_S} s after ${SETTLE_S} s; median of ${RUNS} run(s) (max over agents and runs in brackets)`,
    '',
    '| N | all alive after launch (s) | after all started (s) | RSS per agent (MB) | CPU per agent (% of a core) | sent per agent (B/s) | received per agent (B/s) | joiner catch-up (s) | joiner seen alive by all (s) | SIGKILL → dead at all (s) |',
    '|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const { summary: s } of results) {
    lines.push(
      `| ${s.n} | ${f1(s.allAliveMs / 1000)} | ${f1(s.allAliveAfterStartMs / 1000)} | ${f0(s.rssMb.median)} (${f0(s.rssMb.max)}) | ${f1(s.cpuPct.median)} (${f1(s.cpuPct.max)}) | ${f0(s.sentBps.median)} (${f0(s.sentBps.max)}) | ${f0(s.receivedBps.median)} (${f0(s.receivedBps.max)}) | ${f1(s.joinCatchUpMs / 1000)} | ${f1(s.joinAllAliveMs / 1000)} | ${f1(s.detectDeadMs / 1000)} |`,
    );
  }
  for (const { summary: s } of results)
    if (s.failedPhases > 0)
      lines.push(`N=${s.n}: ${s.failedPhases} phase(s) timed out (shown as —, or left out of the median)`);
  process.stdout.write(lines.join('\n') + '\n');
}

main()
  .then(() => {
    cleanupSync();
    process.exit(0);
  })
  .catch((e) => {
    note(`failed: ${e instanceof Error ? e.stack : String(e)}`);
    cleanupSync();
    process.exit(1);
  });
