#!/usr/bin/env node
// Where the c=1 write tail comes from (issue 8, "Local writes in the three-region cluster as fast
// as a standalone agent"), cheaply, on loopback: `npm run bench:write-tail` (builds first).
//   1. a standalone agent S: c=1 writes from a client process, p50 / p99 / max;
//   2. three agents (B and C join A): the same c=1 writes at A while B's and C's own clients
//      write at c=`--bg` (default 1) the whole time, as bench:wan's latency phase loads every
//      region at once. A runs under `--cpu-prof`; the writes at A that took `--slow-ms` or more
//      are the windows in which the profile is read: which functions ran on A's thread while
//      those requests waited (profile-window.js), plus A's event-loop delay and GC pauses
//      (loop-monitor.js) over the cell.
// The clients are the WAN benchmark's (wan/client-child.js: lww-register writes over the Unix
// socket, keep-alive), one process per agent. Options: --writes N (timed writes at A, default
// 3000), --bg C (concurrency of B's and C's writers, 0 for none), --slow-ms X (default 5),
// --no-standalone, --keep-prof <dir> (keep A's profile), --json, --extra '<agent flags>'.
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { join } from 'node:path';
import { ChildProcess, summarize } from './ipc.js';
import { cpuPressure, Registry, root, runMain, startAgentProc, terminate, until } from './agent-procs.js';
import { windowBreakdown } from './profile-window.js';

const args = process.argv.slice(2);
const flag = (name) => args.includes(name);
const option = (name, dflt) => (args.includes(name) ? args[args.indexOf(name) + 1] : dflt);
const WRITES = Number(option('--writes', 3000));
const BG = Number(option('--bg', 1));
const SLOW_MS = Number(option('--slow-ms', 5));
const CATCHUP = Number(option('--catchup', 0));
const EXTRA = option('--extra', '').split(' ').filter(Boolean);
const note = (msg) => process.stderr.write(`[write-tail] ${msg}\n`);
const reg = new Registry(note);
const load = () => loadavg().map((x) => Math.round(x * 10) / 10);
const clientJs = join(root, 'scripts', 'bench', 'wan', 'client-child.js');

async function client(agent) {
  const c = new ChildProcess(clientJs, `client-${agent.name}`);
  reg.track(c.proc);
  await c.call('init', { smacSocket: agent.socketPath }, 10_000);
  return c;
}

/**
 * Scheduler figures of a process's threads (/proc/PID/task/TID/schedstat and status): ms on a
 * CPU and runnable but waiting for one, and context switches (voluntary: it blocked;
 * involuntary: it was preempted), for the main thread (TID = PID) and all threads together.
 */
function sched(pid) {
  const one = (tid) => {
    try {
      const dir = `/proc/${pid}/task/${tid}`;
      const [run, wait] = readFileSync(`${dir}/schedstat`, 'utf8').split(' ').map(Number);
      const status = readFileSync(`${dir}/status`, 'utf8');
      const ctx = (k) => Number(new RegExp(`^${k}_ctxt_switches:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? 0);
      return { run: run / 1e6, wait: wait / 1e6, vol: ctx('voluntary'), invol: ctx('nonvoluntary') };
    } catch {
      return { run: 0, wait: 0, vol: 0, invol: 0 };
    }
  };
  const all = { run: 0, wait: 0, vol: 0, invol: 0 };
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    const t = one(tid);
    for (const k of Object.keys(all)) all[k] += t[k];
  }
  return { main: one(pid), all };
}

/** What `sched` measured between two readings (ms rounded). */
const schedDelta = (a, b) =>
  Object.fromEntries(
    ['main', 'all'].map((k) => [
      k,
      {
        runMs: Math.round(b[k].run - a[k].run),
        waitMs: Math.round(b[k].wait - a[k].wait),
        voluntary: b[k].vol - a[k].vol,
        preempted: b[k].invol - a[k].invol,
      },
    ]),
  );

const COUNTED = ['localEvents', 'remoteEvents', 'syncsStarted', 'heartbeatsReceived', 'rejectedEvents'];
const countersDelta = (a, b) => Object.fromEntries(COUNTED.map((k) => [k, b[k] - a[k]]));

const timed = (c, extra) =>
  c.call(
    'latency',
    { system: 'smac', n: WRITES, concurrency: 1, warmup: 200, maxMs: 600_000, prefix: 'tail', ...extra },
    720_000,
  );

async function standalone() {
  const S = await startAgentProc(reg, 'S', { dataDir: join(reg.tempDir('smac-wt-'), 's'), extra: EXTRA });
  const c = await client(S);
  try {
    await S.loop();
    const s0 = sched(S.pid);
    const r = await timed(c);
    return { ...summarize(r.lat), errors: r.errors, S: await S.loop(), sched: schedDelta(s0, sched(S.pid)) };
  } finally {
    await c.call('stop', {}, 5000).catch(() => undefined);
    await terminate(S.proc);
  }
}

async function cluster() {
  const dir = reg.tempDir('smac-wt-');
  const profDir = option('--keep-prof') ?? join(dir, 'prof');
  mkdirSync(profDir, { recursive: true });
  const A = await startAgentProc(reg, 'A', { dataDir: join(dir, 'a'), cpuProfDir: profDir, extra: EXTRA });
  const agents = [A];
  const clients = [];
  try {
    for (const n of ['B', 'C'])
      agents.push(await startAgentProc(reg, n, { dataDir: join(dir, n), join: A.addresses, extra: EXTRA }));
    await until(
      'A connected to B and C',
      async () => (await A.status()).peers.filter((p) => p.connected).length >= 2,
    );
    for (const a of agents) clients.push(await client(a));
    await new Promise((r) => setTimeout(r, 2000)); // gossipsub meshes form on its 1 s heartbeat
    const background =
      BG > 0
        ? clients
            .slice(1)
            .map((c) =>
              c.call(
                'latency',
                { system: 'smac', n: 10_000_000, concurrency: BG, warmup: 0, maxMs: 600_000, prefix: 'bg' },
                720_000,
              ),
            )
        : [];
    await Promise.all(agents.map((a) => a.loop()));
    const loadAt = load();
    const c0 = (await A.status()).counters;
    const s0 = sched(A.pid);
    const r = await timed(clients[0], { slowMs: SLOW_MS });
    const s1 = sched(A.pid);
    const loops = await Promise.all(agents.map((a) => a.loop()));
    await Promise.all(clients.slice(1).map((c) => c.call('halt', {}, 5000)));
    const bg = (await Promise.all(background)).map((b) => ({
      ...summarize(b.lat),
      perSec: Math.round(b.writesPerSec),
    }));
    const counters = countersDelta(c0, (await A.status()).counters);
    await terminate(A.proc); // writes the profile
    const prof = JSON.parse(readFileSync(join(profDir, 'agent-A.cpuprofile'), 'utf8'));
    const windows = r.slow.map((s) => [s.t0Us, s.t0Us + s.ms * 1000]);
    return {
      loadAt,
      ...summarize(r.lat),
      errors: r.errors,
      slow: { n: r.slow.length, ...windowBreakdown(prof, windows) },
      loops: Object.fromEntries(agents.map((a, i) => [a.name, loops[i]])),
      background: bg,
      counters,
      sched: schedDelta(s0, s1),
    };
  } finally {
    for (const c of clients) await c.call('stop', {}, 5000).catch(() => undefined);
    await Promise.all(agents.map((a) => terminate(a.proc)));
  }
}

const loopLine = (l) =>
  l
    ? `loop p99 ${l.loopMs.p99} max ${l.loopMs.max} ms; gc ${l.gc.count}× total ${l.gc.totalMs} max ${l.gc.maxMs} ms; cpu ${l.cpuPct}%`
    : '-';

const schedLine = (x) =>
  `main thread on CPU ${x.main.runMs} ms, runnable but waiting ${x.main.waitMs} ms, ${x.main.voluntary} blocked / ${x.main.preempted} preempted; all threads ${x.all.runMs} / ${x.all.waitMs} ms, ${x.all.voluntary} / ${x.all.preempted}`;

function report(r) {
  const out = [];
  const say = (s) => out.push(s);
  say(
    `write-tail ${r.at}, Node ${process.version}, ${r.cpus} CPUs; load ${r.loadBefore.join(' ')} -> ${r.loadAfter.join(' ')}; CPU pressure avg60 ${r.pressureBefore}% -> ${r.pressureAfter}%`,
  );
  if (r.standalone)
    say(
      `standalone c=1: p50 ${r.standalone.p50} p99 ${r.standalone.p99} max ${r.standalone.max} ms (n=${r.standalone.n}); S ${loopLine(r.standalone.S)}; ${schedLine(r.standalone.sched)}`,
    );
  const c = r.cluster ?? r.catchup;
  say(
    r.cluster
      ? `cluster c=1 at A, B and C writing at c=${r.bg} (load ${c.loadAt.join(' ')}): p50 ${c.p50} p99 ${c.p99} max ${c.max} ms (n=${c.n}, errors ${c.errors})`
      : `catch-up: A pulled ${c.events} events from B in ${c.caughtUpMs} ms; c=1 at A meanwhile: p50 ${c.p50} p99 ${c.p99} max ${c.max} ms (n=${c.n}, errors ${c.errors})`,
  );
  for (const [name, l] of Object.entries(c.loops)) say(`  ${name}: ${loopLine(l)}`);
  say(`  A's threads: ${schedLine(c.sched)}`);
  say(`  A's counters during the cell: ${JSON.stringify(c.counters)}`);
  c.background.forEach((b, i) =>
    say(`  background ${'BC'[i]}: ${b.n} writes, ${b.perSec}/s, p50 ${b.p50} p99 ${b.p99} max ${b.max} ms`),
  );
  const s = c.slow;
  say(
    `\nA's profile during the ${s.n} writes of >= ${r.slowMs} ms (${s.windows} windows, ${s.totalMs} ms): sampled ${s.sampledMs} ms (idle ${s.idleMs}), unsampled gaps ${s.unsampledMs} ms`,
  );
  say('  self time by area:');
  for (const x of s.areas.slice(0, 12)) say(`    ${String(x.ms).padStart(8)} ms  ${x.name}`);
  say('  self time by function:');
  for (const x of s.self.slice(0, 20)) say(`    ${String(x.ms).padStart(8)} ms  ${x.name}`);
  say('  inclusive (on the stack):');
  for (const x of s.inclusive.slice(0, 30)) say(`    ${String(x.ms).padStart(8)} ms  ${x.name}`);
  return out.join('\n');
}

/**
 * Catch-up: B alone takes CATCHUP writes (c=16); then A starts, joins B and pulls them all by
 * sync while A's client writes at c=1, until A's clock covers B's writes. The same figures as
 * the cluster cell, for the writes made during the catch-up.
 */
async function catchup() {
  const dir = reg.tempDir('smac-wt-');
  const profDir = option('--keep-prof') ?? join(dir, 'prof');
  mkdirSync(profDir, { recursive: true });
  const B = await startAgentProc(reg, 'B', { dataDir: join(dir, 'b'), extra: EXTRA });
  const agents = [B];
  const clients = [await client(B)];
  try {
    await clients[0].call(
      'latency',
      { system: 'smac', n: CATCHUP, concurrency: 16, warmup: 0, maxMs: 600_000, prefix: 'pre' },
      720_000,
    );
    const target = (await B.status()).clock;
    const A = await startAgentProc(reg, 'A', {
      dataDir: join(dir, 'a'),
      join: B.addresses,
      cpuProfDir: profDir,
      extra: EXTRA,
    });
    agents.unshift(A);
    clients.unshift(await client(A));
    await A.loop(); // the loop monitor from here on, not A's start-up
    const s0 = sched(A.pid);
    const t0 = performance.now();
    const writes = timed(clients[0], { slowMs: SLOW_MS, warmup: 0, n: 1_000_000 });
    await until(
      'A caught up with B',
      async () => {
        const vc = (await A.status()).clock;
        return Object.entries(target).every(([o, seq]) => (vc[o] ?? 0) >= seq);
      },
      600_000,
      100,
    );
    const caughtUpMs = Math.round(performance.now() - t0);
    await clients[0].call('halt', {}, 5000);
    const r = await writes;
    const s1 = sched(A.pid);
    const loop = await A.loop();
    const counters = (await A.status()).counters;
    await terminate(A.proc);
    const prof = JSON.parse(readFileSync(join(profDir, 'agent-A.cpuprofile'), 'utf8'));
    const windows = r.slow.map((x) => [x.t0Us, x.t0Us + x.ms * 1000]);
    return {
      events: CATCHUP,
      caughtUpMs,
      ...summarize(r.lat),
      errors: r.errors,
      slow: { n: r.slow.length, ...windowBreakdown(prof, windows) },
      loops: { A: loop },
      background: [],
      counters: countersDelta(Object.fromEntries(COUNTED.map((k) => [k, 0])), counters),
      sched: schedDelta(s0, s1),
    };
  } finally {
    for (const c of clients) await c.call('stop', {}, 5000).catch(() => undefined);
    await Promise.all(agents.map((a) => terminate(a.proc)));
  }
}

async function main() {
  const r = {
    at: new Date().toISOString(),
    cpus: availableParallelism(),
    bg: BG,
    slowMs: SLOW_MS,
    loadBefore: load(),
    pressureBefore: cpuPressure(),
  };
  if (!flag('--no-standalone')) {
    note(`standalone: ${WRITES} writes at c=1`);
    r.standalone = await standalone();
  }
  if (CATCHUP > 0) {
    note(`catch-up: B takes ${CATCHUP} writes alone, then A joins and writes at c=1 while it pulls them`);
    r.catchup = await catchup();
  } else {
    note(`cluster: ${WRITES} writes at c=1 at A, B and C writing at c=${BG}`);
    r.cluster = await cluster();
  }
  r.loadAfter = load();
  r.pressureAfter = cpuPressure();
  process.stdout.write((flag('--json') ? JSON.stringify(r, null, 2) : report(r)) + '\n');
}

runMain(main, reg, note);
