#!/usr/bin/env node
// Write-path benchmark (issue 8, "Local writes ..." and "Receiving is not the bottleneck").
// Run with `npm run bench:write-path` (builds first). Every agent is its own
// `node dist/cli/main.js agent` process on loopback with loop-monitor.js preloaded, so each
// phase also reports the agents' event-loop delay (monitorEventLoopDelay), GC pauses, CPU and
// memory. Writes go over the agent's Unix socket through a keep-alive HTTP client in this
// process (POST /v1/objects/pn-counter/..., one op per request).
//   1. standalone agent: c=1 (sequential) p50 / p99 / max, c=16 acknowledged writes/s;
//   2. three agents (B and C join A), writes at A with replication running: the same cells,
//      plus how far B and C lag when the load stops and how long they take to drain;
//   3. receive rate: a fresh agent R receives genuine, signed single-op events by gossip from a
//      bare SMAC node (gossip-sender.js) and applies them; events/s from the first publish
//      until R's clock covers the last, for 1 and 100 events per gossip message;
//   4. the cost of opening (decoding + verifying) one envelope, in this process;
//   5. etcd 3 (three members on loopback, puts to the leader over its JSON gateway) in the
//      same run: c=1 latency and c=16 puts/s.
// Options: --quick (small counts), --json (machine-readable stdout), --no-etcd, --no-install,
// --cpu-prof <dir> (CPU profiles of every agent, written when it stops), --only <a,b,...>
// (phases: standalone, cluster, receive, verify, etcd), --report <file.json> (print the text
// report of an earlier --json run).
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { loadavg, availableParallelism, cpus } from 'node:os';
import { join } from 'node:path';
import { ChildProcess, sleep, summarize, wallNow } from './ipc.js';
import { findEtcd, startEtcdCluster } from './etcd.js';
import {
  cpuPressure,
  nodeFlags,
  Registry,
  root,
  runMain,
  socketClient,
  startAgentProc,
  terminate,
  until,
} from './agent-procs.js';
import { benchArgs } from './args.js';

const { flag, option, quick, asJson, cpuProfDir, only } = benchArgs();
const want = (phase) => (phase === 'etcd' && flag('--no-etcd') ? false : !only || only.includes(phase));

const COUNTS = quick
  ? { c1: 500, warmup: 200, loadMs: 2000, receive: 10_000, verify: 5_000 }
  : { c1: 3000, warmup: 500, loadMs: 8000, receive: 40_000, verify: 20_000 };
const HIGH_C = 16;

const note = (msg) => process.stderr.write(`[bench] ${msg}\n`);
const reg = new Registry(note);
const round1 = (x) => (x === undefined ? undefined : Math.round(x * 10) / 10);
const incrementBody = JSON.stringify({ kind: 'increment', by: 1 });

// ---- load -------------------------------------------------------------------------------------

/** `concurrency` workers send increments until `count` were issued or `durationMs` passed. */
async function drive(client, { concurrency, count = Infinity, durationMs = 120_000, prefix }) {
  const lat = [];
  let issued = 0;
  const t0 = performance.now();
  let tLast = t0;
  const worker = async () => {
    while (issued < count && performance.now() - t0 < durationMs) {
      const i = issued++;
      const s = performance.now();
      await client.request('POST', `/v1/objects/pn-counter/${prefix}/c${i % 1024}`, incrementBody);
      tLast = performance.now();
      lat.push(tLast - s);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const elapsedMs = tLast - t0;
  return {
    ...summarize(lat),
    perSec: Math.round(lat.length / (elapsedMs / 1000)),
    elapsedMs: Math.round(elapsedMs),
  };
}

/** One cell: warm-up, reset the loop monitors, load, and what every agent measured meanwhile. */
async function cell(writer, all, load) {
  const client = socketClient(writer.socketPath, load.concurrency);
  try {
    await drive(client, { concurrency: load.concurrency, count: COUNTS.warmup, prefix: 'warm' });
    await Promise.all(all.map((a) => a.loop()));
    const r = await drive(client, { ...load, prefix: 'bench' });
    const loops = await Promise.all(all.map((a) => a.loop()));
    return { ...r, agents: Object.fromEntries(all.map((a, i) => [a.name, loops[i]])) };
  } finally {
    client.close();
  }
}

const clockOf = async (a, origin) => (await a.status()).clock[origin] ?? 0;

/** Lag of each peer behind the writer when a load stopped, and the time until it drained. */
async function drain(writer, peers) {
  const target = await clockOf(writer, writer.peerId);
  const t0 = wallNow();
  return Object.fromEntries(
    await Promise.all(
      peers.map(async (p) => {
        const lagAtStop = target - (await clockOf(p, writer.peerId));
        await until(
          `${p.name} caught up`,
          async () => (await clockOf(p, writer.peerId)) >= target,
          60_000,
          20,
        );
        return [p.name, { lagAtStop, drainMs: Math.round(wallNow() - t0) }];
      }),
    ),
  );
}

// ---- 1. and 2. --------------------------------------------------------------------------------

async function standalone() {
  const dir = reg.tempDir('smac-wp-');
  const s = await startAgentProc(reg, 'S', { dataDir: join(dir, 's'), cpuProfDir });
  try {
    note(`standalone: c=1, ${COUNTS.c1} writes`);
    const c1 = await cell(s, [s], { concurrency: 1, count: COUNTS.c1 });
    note(`standalone: c=${HIGH_C}, ${COUNTS.loadMs} ms`);
    const c16 = await cell(s, [s], { concurrency: HIGH_C, durationMs: COUNTS.loadMs });
    return { c1, [`c${HIGH_C}`]: c16 };
  } finally {
    await terminate(s.proc);
  }
}

async function cluster() {
  const dir = reg.tempDir('smac-wp-');
  const A = await startAgentProc(reg, 'A', { dataDir: join(dir, 'a'), cpuProfDir });
  const agents = [A];
  try {
    for (const n of ['B', 'C'])
      agents.push(await startAgentProc(reg, n, { dataDir: join(dir, n), join: A.addresses, cpuProfDir }));
    await until(
      'A connected to B and C',
      async () => (await A.status()).peers.filter((p) => p.connected).length >= 2,
    );
    await sleep(2000); // gossipsub meshes form on its 1 s heartbeat
    note(`cluster: c=1, ${COUNTS.c1} writes at A`);
    const c1 = await cell(A, agents, { concurrency: 1, count: COUNTS.c1 });
    c1.drain = await drain(A, agents.slice(1));
    note(`cluster: c=${HIGH_C}, ${COUNTS.loadMs} ms at A`);
    const c16 = await cell(A, agents, { concurrency: HIGH_C, durationMs: COUNTS.loadMs });
    c16.drain = await drain(A, agents.slice(1));
    const counters = (await A.status()).counters;
    return { c1, [`c${HIGH_C}`]: c16, writerCounters: counters };
  } finally {
    await Promise.all(agents.map((a) => terminate(a.proc)));
  }
}

// ---- 3. receive rate ----------------------------------------------------------------------------

async function receive() {
  const dir = reg.tempDir('smac-wp-');
  const sender = new ChildProcess(join(root, 'scripts', 'bench', 'gossip-sender.js'), 'sender', nodeFlags());
  reg.track(sender.proc);
  const half = Math.floor(COUNTS.receive / 2);
  note(`receive: the sender makes ${COUNTS.receive} signed single-op events`);
  const made = await sender.call('prepare', { dataDir: join(dir, 'sender'), n: COUNTS.receive }, 300_000);
  const R = await startAgentProc(reg, 'R', { dataDir: join(dir, 'r'), cpuProfDir });
  try {
    await sender.call('connect', { dataDir: join(dir, 'sender'), addresses: R.addresses }, 60_000);
    const out = { events: made.envelopes, envelopeBytes: Math.round(made.bytes / made.envelopes) };
    // Open loop, a whole half at once, overflows gossipsub's stream buffers on a loaded machine
    // (the stream is reset and the rest is lost; only sync would repair it, and the sender
    // serves none). So the sender publishes a window, and the next once R has applied it.
    for (const [batch, windowEvents] of [
      [1, 1000],
      [100, 5000],
    ]) {
      note(`receive: ${half} events, ${batch} per gossip message, ${windowEvents} per window`);
      await R.loop();
      let tStart;
      let tDone;
      let messages = 0;
      for (let done = 0; done < half;) {
        const sent = await sender.call(
          'blast',
          { count: Math.min(windowEvents, half - done), batch },
          300_000,
        );
        tStart ??= sent.tStart;
        messages += sent.messages;
        done += sent.sent;
        await until(
          `R applying seq ${sent.lastSeq}`,
          async () => (await clockOf(R, made.origin)) >= sent.lastSeq,
          60_000,
          5,
        );
        tDone = wallNow();
      }
      const loop = await R.loop();
      const elapsedMs = tDone - tStart;
      out[`batch${batch}`] = {
        events: half,
        messages,
        windowEvents,
        eventsPerSec: Math.round(half / (elapsedMs / 1000)),
        elapsedMs: Math.round(elapsedMs),
        receiver: loop,
      };
    }
    const c = (await R.status()).counters;
    out.receiverCounters = { remoteEvents: c.remoteEvents, rejectedEvents: c.rejectedEvents };
    return out;
  } finally {
    await sender.call('stop', {}, 10_000).catch(() => undefined);
    await sender.exit();
    await terminate(R.proc);
  }
}

// ---- 4. verification cost -----------------------------------------------------------------------

async function verify() {
  const { generateKeyPair } = await import('@libp2p/crypto/keys');
  const { peerIdFromPrivateKey } = await import('@libp2p/peer-id');
  const { encodeEvent } = await import('../../dist/core/codec/index.js');
  const { openEnvelope, sealEvent } = await import('../../dist/net/envelope.js');
  const key = await generateKeyPair('Ed25519');
  const origin = peerIdFromPrivateKey(key).toString();
  const envs = [];
  for (let i = 1; i <= COUNTS.verify; i++) {
    const event = {
      origin,
      seq: i,
      deps: new Map(),
      hlc: { wall: 1_700_000_000_000 + i, logical: 0 },
      ops: [{ type: 'pn-counter', key: `k${i % 64}`, op: { kind: 'increment', by: 1 } }],
    };
    envs.push(sealEvent(key, encodeEvent(event)));
  }
  for (const e of envs.slice(0, 1000)) openEnvelope(e); // warm-up
  const t0 = performance.now();
  for (const e of envs) openEnvelope(e);
  const perEventUs = ((performance.now() - t0) * 1000) / envs.length;
  return {
    envelopes: envs.length,
    openEnvelopeUs: round1(perEventUs),
    perSecOneCore: Math.round(1e6 / perEventUs),
  };
}

// ---- 5. etcd -------------------------------------------------------------------------------------

async function etcd() {
  const found = findEtcd({ mayInstall: !flag('--no-install'), note });
  if (!found.bin) return { skipped: found.why };
  const version = /etcd Version: (\S+)/.exec(
    spawnSync(found.bin, ['--version'], { encoding: 'utf8' }).stdout,
  )?.[1];
  note(`etcd ${version}: 3 members on 127.0.0.1`);
  const cl = await startEtcdCluster({
    bin: found.bin,
    n: 3,
    dir: reg.tempDir('etcd-wp-'),
    onSpawn: (p) => reg.track(p),
    until,
  });
  const writer = new ChildProcess(join(root, 'scripts', 'bench', 'etcd-child.js'), 'etcd writer');
  reg.track(writer.proc);
  try {
    const url = cl.leader.url;
    const c1 = summarize(
      await writer.call('putLatency', { url, n: COUNTS.c1, warmup: COUNTS.warmup }, 600_000),
    );
    const load = await writer.call('load', { url, inflight: HIGH_C, durationMs: COUNTS.loadMs }, 120_000);
    return { version, c1, [`c${HIGH_C}`]: { perSec: Math.round(load.eventsPerSec) } };
  } finally {
    await writer.exit(1000);
    for (const m of cl.members) m.proc.kill('SIGKILL');
  }
}

// ---- report ----------------------------------------------------------------------------------

const lat = (c) => (c ? `${c.p50} / ${c.p99} / ${c.max}` : '-');
const loopOf = (r) =>
  r
    ? `loop p99 ${r.loopMs.p99} max ${r.loopMs.max} ms, gc max ${r.gc.maxMs} ms, cpu ${r.cpuPct}%, rss ${r.rssMb} MB`
    : '-';

/**
 * CPU time a process spent per operation while the cell ran (µs): less sensitive than latency
 * to what else the machine runs, since waiting for a core costs no CPU time.
 */
const cpuPer = (l, n) => (l && n ? Math.round((l.cpuPct * l.wallMs * 10) / n) : '-');
/** Main-thread CPU µs and read + write system calls per operation (Linux; loop-monitor.js). */
const procPer = (l, n) =>
  l?.mainCpuMs === undefined || !n
    ? ''
    : `, main thread ${Math.round((l.mainCpuMs * 1000) / n)} µs, ` +
      `${Math.round(((l.syscalls.read + l.syscalls.write) * 10) / n) / 10} syscalls`;

function report(r) {
  const lines = [];
  const say = (s) => lines.push(s);
  say(`write-path benchmark ${r.at} (${r.quick ? 'quick' : 'full'}), Node ${process.version}, ${r.machine}`);
  say(`load average before: ${r.loadBefore.join(' ')}, after: ${r.loadAfter.join(' ')}`);
  if (r.cpuPressureBefore !== undefined)
    say(
      `CPU pressure (PSI some avg60: time a runnable task waited for a CPU): ${r.cpuPressureBefore}% before, ${r.cpuPressureAfter}% after`,
    );
  for (const [name, ph] of [
    ['standalone', r.standalone],
    ['3-agent cluster, writes at A', r.cluster],
  ]) {
    if (!ph) continue;
    say(`\n${name}: p50 / p99 / max ms, writes/s`);
    for (const k of ['c1', `c${HIGH_C}`]) {
      const c = ph[k];
      say(`  ${k.padEnd(4)} ${lat(c).padEnd(28)} ${String(c.perSec).padStart(6)}/s`);
      for (const [a, l] of Object.entries(c.agents))
        say(`       ${a}: ${loopOf(l)}, ${cpuPer(l, c.n)} µs CPU${procPer(l, c.n)} /write`);
      if (c.drain)
        say(
          `       drain: ${Object.entries(c.drain)
            .map(([p, d]) => `${p} lag ${d.lagAtStop}, ${d.drainMs} ms`)
            .join('; ')}`,
        );
    }
  }
  if (r.receive) {
    say(`\nreceive (R applies signed single-op events from gossip, ${r.receive.envelopeBytes} B each)`);
    for (const b of ['batch1', 'batch100']) {
      const x = r.receive[b];
      say(
        `  ${b.padEnd(9)} ${x.events} events in ${x.elapsedMs} ms: ${x.eventsPerSec}/s (${x.messages} msgs); R ${loopOf(x.receiver)}, ${cpuPer(x.receiver, x.events)} µs CPU/event`,
      );
    }
  }
  if (r.verify)
    say(
      `\nopenEnvelope (decode + Ed25519 verify): ${r.verify.openEnvelopeUs} µs each, ${r.verify.perSecOneCore}/s on one core`,
    );
  if (r.etcd) {
    if (r.etcd.skipped) say(`\netcd skipped: ${r.etcd.skipped}`);
    else
      say(
        `\netcd ${r.etcd.version}, 3 members, puts to the leader: c1 ${lat(r.etcd.c1)} ms; c${HIGH_C} ${r.etcd[`c${HIGH_C}`].perSec}/s`,
      );
  }
  return lines.join('\n');
}

async function main() {
  const from = option('--report');
  if (from) {
    // Re-print the text report of an earlier --json run.
    process.stdout.write(report(JSON.parse(readFileSync(from, 'utf8'))) + '\n');
    return;
  }
  const r = {
    at: new Date().toISOString(),
    quick,
    machine: `${availableParallelism()} CPUs (${cpus()[0]?.model ?? '?'})`,
    loadBefore: loadavg().map((x) => round1(x)),
    cpuPressureBefore: cpuPressure(),
  };
  if (want('verify')) r.verify = await verify();
  if (want('standalone')) r.standalone = await standalone();
  if (want('cluster')) r.cluster = await cluster();
  if (want('receive')) r.receive = await receive();
  if (want('etcd')) r.etcd = await etcd();
  r.loadAfter = loadavg().map((x) => round1(x));
  r.cpuPressureAfter = cpuPressure();
  if (cpuProfDir) r.cpuProfDir = cpuProfDir;
  process.stdout.write(asJson ? JSON.stringify(r, null, 2) + '\n' : report(r) + '\n');
}

runMain(main, reg, note);
