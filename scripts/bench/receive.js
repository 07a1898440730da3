#!/usr/bin/env node
// Receive-path benchmark (issue 8, "Receiving is not the bottleneck"). Run with
// `npm run bench:receive` (builds first). It isolates one receiver applying genuine,
// signature-checked, single-op events of one origin, on loopback:
//   0. baseline, in this process: node:crypto's Ed25519 verify rate, on the event loop (one
//      core) and on libuv's thread pool (the callback form, as the agent uses it);
//   1. gossip: a bare SMAC node (gossip-sender.js, the origin's identity, no sync) publishes the
//      events to a fresh agent R1 in windows, 1 and then `--batch` events per gossip message
//      (an agent's coalesced drains put many events in one message under load); events/s from
//      the first publish until R1's clock covers the last, and apply latency (publish queued ->
//      applied at R1) p50 / p99 / max;
//   2. sync: the origin restarts as a full agent S on its data dir (no compaction, so it serves
//      events, not a snapshot) and a fresh agent R2 joins it and pulls all of them; events/s
//      from R2's first applied event until its clock covers S's, and from Agent.start returning.
// R1 and R2 are agent-child.js processes (the built agent in-process, as an operator's agent
// runs it); CPU (all threads, from /proc) and RSS are the receiver's over each cell.
// Options: --events N (default 50,000; --quick 10,000), --batch B (default 64), --json,
// --cpu-prof <dir> (profiles of R1 and R2; summarize with profile-top.js), --only <a,b>
// (phases: baseline, gossip, sync).
// Peer baseline: etcd is left out here (not installed on this machine; write-path.js and
// replication.js run it); the raw verify rate is the ceiling any signature-checked receiver
// on this machine can reach.
import { generateKeyPairSync, sign, verify } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { ChildProcess, sleep, summarize, wallNow } from './ipc.js';
import { cpuPressure, nodeFlags, Registry, root, runMain, startAgentProc, terminate } from './agent-procs.js';
import { benchArgs } from './args.js';

const { flag, option, quick, asJson, cpuProfDir, only } = benchArgs();
const want = (phase) => !only || only.includes(phase);
const N = Number(option('--events') ?? (quick ? 10_000 : 50_000));
const BATCH = Number(option('--batch') ?? 64);
const GOSSIP_CELLS = [
  // [events per gossip message, events per window, share of N]
  [1, 1000, 0.4],
  [BATCH, 5000, 0.6],
];

const note = (msg) => process.stderr.write(`[bench] ${msg}\n`);
const reg = new Registry(note);
const round1 = (x) => Math.round(x * 10) / 10;
const TICK_HZ = 100; // USER_HZ: /proc/PID/stat counts CPU time in 1/100 s

/** CPU seconds (user + system, all threads) and RSS MB of a process, from /proc. */
function usage(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const cpuS = (Number(f[11]) + Number(f[12])) / TICK_HZ;
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k) => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(status)?.[1] ?? 0);
  return { cpuS, rssMb: Math.round(kb('VmRSS') / 1024), hwmMb: Math.round(kb('VmHWM') / 1024) };
}

/** CPU use of `pid` between two usage() readings over `wallMs`. */
function cpuOver(a, b, wallMs, events) {
  const s = b.cpuS - a.cpuS;
  return {
    cpuPct: round1((s / (wallMs / 1000)) * 100),
    cpuUsPerEvent: Math.round((s * 1e6) / events),
    rssMb: b.rssMb,
    peakRssMb: b.hwmMb,
  };
}

async function until(what, cond, timeoutMs, everyMs = 5) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await cond()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

function startReceiver(name, opts) {
  const child = new ChildProcess(
    join(root, 'scripts', 'bench', 'agent-child.js'),
    name,
    nodeFlags(cpuProfDir, `receiver-${name}`),
  );
  reg.track(child.proc);
  return child.call('start', opts, 120_000).then((r) => ({ child, ...r }));
}

async function stopReceiver(r) {
  await r.child.call('stop', {}, 30_000).catch(() => undefined);
  await r.child.exit(10_000);
}

/** For each [seq, sent] mark: when R first applied an event at or past seq, minus sent (ms). */
function latencies(marks, progress) {
  const out = [];
  let i = 0;
  for (const [seq, sent] of marks) {
    while (i < progress.seq.length && progress.seq[i] < seq) i++;
    if (i === progress.seq.length) break;
    out.push(progress.t[i] - sent);
  }
  return out;
}

// ---- 0. baseline ---------------------------------------------------------------------------------

async function baseline() {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const n = quick ? 5_000 : 20_000;
  const msgs = [];
  for (let i = 0; i < n; i++) {
    const m = Buffer.from(`smac-event-v1 a single-op event of about 120 bytes, number ${i}`.padEnd(140, '.'));
    msgs.push([m, sign(null, m, privateKey)]);
  }
  for (const [m, s] of msgs.slice(0, 1000)) verify(null, m, publicKey, s);
  let t0 = performance.now();
  for (const [m, s] of msgs) if (!verify(null, m, publicKey, s)) throw new Error('verify failed');
  const onLoopUs = ((performance.now() - t0) * 1000) / n;
  t0 = performance.now();
  await Promise.all(
    msgs.map(
      ([m, s]) =>
        new Promise((resolve, reject) =>
          verify(null, m, publicKey, s, (err, ok) =>
            err || !ok ? reject(err ?? new Error('bad')) : resolve(),
          ),
        ),
    ),
  );
  const poolMs = performance.now() - t0;
  return {
    signatures: n,
    onLoopPerSec: Math.round(1e6 / onLoopUs),
    onLoopUs: round1(onLoopUs),
    threadPoolPerSec: Math.round(n / (poolMs / 1000)),
    threadPoolSize: Number(process.env.UV_THREADPOOL_SIZE ?? 4),
  };
}

// ---- 1. gossip and 2. sync -----------------------------------------------------------------------

async function run(phases) {
  const dir = reg.tempDir('smac-rx-');
  const senderDir = join(dir, 'sender');
  const sender = new ChildProcess(join(root, 'scripts', 'bench', 'gossip-sender.js'), 'sender', nodeFlags());
  reg.track(sender.proc);
  note(`the origin makes ${N} signed single-op events`);
  const made = await sender.call(
    'prepare',
    { dataDir: senderDir, n: N, snapshotEveryEvents: 10 * N + 100_000 },
    600_000,
  );
  const out = { events: made.envelopes, envelopeBytes: Math.round(made.bytes / made.envelopes) };
  const origin = made.origin;
  if (phases.gossip)
    out.gossip = await gossipPhase(sender, senderDir, join(dir, 'r1'), origin, made.envelopes);
  await sender.call('stop', {}, 10_000).catch(() => undefined);
  await sender.exit();
  if (phases.sync) out.sync = await syncPhase(senderDir, join(dir, 'r2'), origin);
  return out;
}

async function gossipPhase(sender, senderDir, dataDir, origin, total) {
  const R = await startReceiver('R1', { dataDir });
  const clockOf = async () => (await R.child.call('clock', {}, 30_000))[origin] ?? 0;
  const cells = {};
  try {
    await R.child.call('track', { origin });
    await sender.call('connect', { dataDir: senderDir, addresses: R.addresses }, 60_000);
    let from = 0;
    for (const [batch, windowEvents, share] of GOSSIP_CELLS) {
      const count = Math.min(total - from, Math.floor(total * share));
      note(`gossip: ${count} events, ${batch} per message, ${windowEvents} per window`);
      const u0 = usage(R.child.pid);
      let tStart;
      let tDone;
      let messages = 0;
      const marks = [];
      for (let done = 0; done < count;) {
        const sent = await sender.call(
          'blast',
          { count: Math.min(windowEvents, count - done), batch, marks: true },
          300_000,
        );
        tStart ??= sent.tStart;
        messages += sent.messages;
        marks.push(...sent.marks);
        done += sent.sent;
        await until(
          `R1 applying seq ${sent.lastSeq}`,
          async () => (await clockOf()) >= sent.lastSeq,
          120_000,
        );
        tDone = wallNow();
      }
      const u1 = usage(R.child.pid);
      const elapsedMs = tDone - tStart;
      const progress = await R.child.call('progress', { origin });
      await R.child.call('track', { origin });
      cells[`batch${batch}`] = {
        events: count,
        messages,
        windowEvents,
        eventsPerSec: Math.round(count / (elapsedMs / 1000)),
        elapsedMs: Math.round(elapsedMs),
        applyMs: summarize(latencies(marks, progress)),
        receiver: cpuOver(u0, u1, elapsedMs, count),
      };
      from += count;
    }
    const diag = await R.child.call('diag', {});
    cells.rejected = (await R.child.call('status', {})).counters.rejectedEvents;
    cells.gossipDelivered = diag.gossipDelivered;
    cells.opened = diag.gossipOpened;
    return cells;
  } finally {
    await stopReceiver(R);
  }
}

async function syncPhase(senderDir, dataDir, origin) {
  const S = await startAgentProc(reg, 'S', {
    dataDir: senderDir,
    monitor: false,
    extra: ['--snapshot-every-events', '100000000'],
  });
  try {
    const target = (await S.status()).clock;
    const events = Object.values(target).reduce((a, b) => a + b, 0);
    note(`sync: R2 joins S and pulls ${events} events`);
    const R = await startReceiver('R2', { dataDir, join: [S.addresses[0]], coverTarget: target });
    try {
      await R.child.call('track', { origin });
      const u0 = usage(R.child.pid);
      const { tCovered, status } = await R.child.call('covered', { timeoutMs: 300_000 }, 310_000);
      const u1 = usage(R.child.pid);
      const progress = await R.child.call('progress', { origin });
      const { syncOpened } = await R.child.call('diag', {});
      const tFirst = progress.t[0] ?? R.tStarted;
      const fromFirstMs = tCovered - tFirst;
      return {
        events,
        viaSnapshot: (status.counters.snapshotsInstalled ?? 0) > 0,
        startToCoveredMs: Math.round(tCovered - R.tStarted),
        firstToCoveredMs: Math.round(fromFirstMs),
        eventsPerSec: Math.round(events / (fromFirstMs / 1000)),
        remoteEvents: status.counters.remoteEvents,
        rejected: status.counters.rejectedEvents,
        opened: syncOpened,
        receiver: cpuOver(u0, u1, tCovered - R.tStarted, events),
      };
    } finally {
      await stopReceiver(R);
    }
  } finally {
    await terminate(S.proc);
  }
}

// ---- report ------------------------------------------------------------------------------------

const res = (r) =>
  `CPU ${r.cpuPct}% of a core (${r.cpuUsPerEvent} µs/event), RSS ${r.rssMb} MB (peak ${r.peakRssMb})`;

const opened = (o) =>
  o ? `; signatures checked ${o.verified}, events accepted through a chain link ${o.covered}` : '';

function report(r) {
  const lines = [];
  const say = (s) => lines.push(s);
  say(`receive benchmark ${r.at}, Node ${process.version}, ${r.machine}`);
  say(`load average before: ${r.loadBefore.join(' ')}, after: ${r.loadAfter.join(' ')}`);
  if (r.cpuPressureBefore !== undefined)
    say(`CPU pressure (PSI some avg60): ${r.cpuPressureBefore}% before, ${r.cpuPressureAfter}% after`);
  if (r.baseline)
    say(
      `\nbaseline, node:crypto Ed25519 verify: ${r.baseline.onLoopPerSec}/s on one core (${r.baseline.onLoopUs} µs), ${r.baseline.threadPoolPerSec}/s on the thread pool (${r.baseline.threadPoolSize} threads)`,
    );
  const x = r.run;
  if (x?.gossip) {
    say(`\ngossip: R1 applies ${x.events} signed single-op events (${x.envelopeBytes} B each)`);
    for (const [k, c] of Object.entries(x.gossip)) {
      if (!k.startsWith('batch')) continue;
      say(
        `  ${k.padEnd(8)} ${c.events} events, ${c.messages} msgs, in ${c.elapsedMs} ms: ${c.eventsPerSec}/s; apply p50 / p99 / max ${c.applyMs.p50} / ${c.applyMs.p99} / ${c.applyMs.max} ms`,
      );
      say(`           R1 ${res(c.receiver)}`);
    }
    say(
      `  R1 rejected ${x.gossip.rejected}, gossip delivered ${x.gossip.gossipDelivered}${opened(x.gossip.opened)}`,
    );
  }
  if (x?.sync) {
    const s = x.sync;
    say(
      `\nsync: R2 pulls ${s.events} events from S${s.viaSnapshot ? ' (VIA A SNAPSHOT: not a receive figure)' : ''}: ${s.eventsPerSec}/s from its first applied event (${s.firstToCoveredMs} ms), ${s.startToCoveredMs} ms from Agent.start`,
    );
    say(`  R2 ${res(s.receiver)}; applied ${s.remoteEvents}, rejected ${s.rejected}${opened(s.opened)}`);
  }
  return lines.join('\n');
}

async function main() {
  const r = {
    at: new Date().toISOString(),
    machine: `${availableParallelism()} CPUs (${cpus()[0]?.model ?? '?'})`,
    loadBefore: loadavg().map(round1),
    cpuPressureBefore: cpuPressure(),
  };
  if (want('baseline')) r.baseline = await baseline();
  if (want('gossip') || want('sync')) r.run = await run({ gossip: want('gossip'), sync: want('sync') });
  r.loadAfter = loadavg().map(round1);
  r.cpuPressureAfter = cpuPressure();
  process.stdout.write(asJson ? JSON.stringify(r, null, 2) + '\n' : report(r) + '\n');
}

runMain(main, reg, note);
