#!/usr/bin/env node
// REST API and health benchmark (issue 4). Run with `npm run bench:api` (builds first).
// Every SMAC agent is its own `node dist/cli/main.js agent` process on loopback, with a temp
// data dir, found through the one JSON line it prints when ready. The load comes from this
// process, through a raw node:http client with keep-alive connections (over the agent's Unix
// socket or its TCP port), so that client overhead stays small; one cell uses the SDK
// (SmacClient) instead, to show what it adds.
//   1. single-op writes (pn-counter increment, lww-register set), Unix socket and TCP,
//      concurrency 1 and 64: p50 / p99 latency and acknowledged writes/s;
//   2. reads (GET /v1/objects/...) at concurrency 1 and 64;
//   3. batches (POST /v1/batch) of 100 and 1000 ops, 8 in flight: ops/s, events/s, latency;
//   all of them on one agent alone and on the writer of a three-agent cluster (B and C join A
//   and replicate in the background; their lag behind A is measured after every write load);
//   4. etcd 3 in the same run, one member and three, over its v3 JSON gateway with the same
//      HTTP client: put, range (serializable and linearizable) and txn of 100 / 1000 puts;
//   5. failure detection on the LAN profile (default settings): five agents, one SIGKILLed,
//      each survivor polled every 50 ms until it reports the member dead; repeated with a
//      fresh agent each time, and compared with detectionBoundMs(LAN_PROFILE, 5). Before that,
//      a soak of the idle five-agent cluster under a light write load counts transitions of
//      live members to suspect or dead (false positives).
// Everything listens on 127.0.0.1 only; every loop is bounded in count or time. Child
// processes and temp dirs are removed on exit, on error and on SIGINT/SIGTERM.
// Options: --quick (small counts, a short soak and one detection trial), --json
// (machine-readable output on stdout), --json-out <file> (the same JSON to a file, next to the
// text report), --fp-seconds <s> (length of the soak; 0 skips it),
// --no-etcd, --no-install (do not run scripts/install-etcd.sh if etcd is missing).
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sleep, summarize, wallNow } from './ipc.js';
import { findEtcd, startEtcdCluster } from './etcd.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const mainJs = join(root, 'dist', 'cli', 'main.js');
const args = process.argv.slice(2);
const quick = args.includes('--quick');
const asJson = args.includes('--json');
const withEtcd = !args.includes('--no-etcd');
const mayInstall = !args.includes('--no-install');
const jsonOut = args.includes('--json-out') ? args[args.indexOf('--json-out') + 1] : undefined;

function numberOption(name, fallback) {
  const i = args.indexOf(name);
  if (i < 0) return fallback;
  const v = Number(args[i + 1]);
  if (!Number.isFinite(v) || v < 0) throw new Error(`${name} needs a number of seconds ≥ 0`);
  return v;
}

const COUNTS = quick
  ? {
      c1: 300,
      c1Warmup: 50,
      loadMs: 1500,
      warmupMs: 300,
      fpSeconds: numberOption('--fp-seconds', 15),
      trials: 1,
    }
  : {
      c1: 2000,
      c1Warmup: 200,
      loadMs: 5000,
      warmupMs: 500,
      fpSeconds: numberOption('--fp-seconds', 120),
      trials: 3,
    };
const HIGH_C = 64;
const BATCH_C = 8;
const BATCH_SIZES = [100, 1000];
const POLL_MS = 50; // members poll during a detection trial
const FP_LOAD_INTERVAL_MS = 200; // the soak's light load: one write per agent every 200 ms
const CLUSTER_SIZE = 5;

// Progress goes to stderr, so that `--json` leaves stdout machine-readable.
const note = (msg) => process.stderr.write(`[bench:api] ${msg}\n`);
const round1 = (x) => (x === undefined ? undefined : Math.round(x * 10) / 10);

// ---- cleanup: every child and temp dir, whatever way the run ends -------------------------

const procs = new Set(); // spawned agents and etcd members
const tempDirs = new Set();

function cleanupSync() {
  for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
  for (const d of tempDirs) rmSync(d, { recursive: true, force: true });
  procs.clear();
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

function track(p) {
  procs.add(p);
  p.once('exit', () => procs.delete(p));
  return p;
}

/** Ends a child: SIGTERM (a graceful leave for agents), SIGKILL after `graceMs`. */
function terminate(p, graceMs = 5000) {
  return new Promise((resolve) => {
    if (p.exitCode !== null || p.signalCode !== null) return resolve();
    const t = setTimeout(() => p.kill('SIGKILL'), graceMs);
    p.once('exit', () => {
      clearTimeout(t);
      resolve();
    });
    p.kill('SIGTERM');
  });
}

async function until(what, cond, timeoutMs = 30_000, everyMs = 100) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await cond()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

// CPU time of a process (user + system, ms) from /proc, to tell whose CPU a load used.
const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;
function cpuMs(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(f[11]) + Number(f[12])) * 1000) / CLK_TCK; // utime, stime
  } catch {
    return undefined;
  }
}

/** Busy and total CPU time of the whole machine (ms, all cores) from /proc/stat. */
function machineCpuMs() {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const total = f.slice(0, 8).reduce((x, y) => x + y, 0); // user .. steal
  const idle = f[3] + f[4]; // idle + iowait
  return { busy: ((total - idle) * 1000) / CLK_TCK, total: (total * 1000) / CLK_TCK };
}

// ---- a raw HTTP client: keep-alive, no parsing beyond the status code ---------------------

/** `{ socketPath }` or `{ host, port }`. Bodies are strings, sent as application/json. */
function httpClient(target, maxSockets) {
  // Idle connections close after 4 s, before the agent's keep-alive timeout, as the SDK does:
  // a client that never closes them races the server's close (docs/api.md "Connections").
  const agent = new http.Agent({ keepAlive: true, maxSockets, timeout: 4_000 });
  const base = target.socketPath
    ? { socketPath: target.socketPath }
    : { host: target.host, port: target.port };
  // TCP always requires the agent's bearer token; the socket needs none.
  const auth = target.token ? { authorization: `Bearer ${target.token}` } : {};
  const request = (method, path, body) =>
    new Promise((resolve, reject) => {
      const headers =
        body === undefined
          ? { ...auth }
          : { ...auth, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) };
      const req = http.request({ ...base, agent, method, path, headers }, (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString();
          if (res.statusCode >= 200 && res.statusCode < 300) resolve(text);
          else reject(new Error(`${method} ${path}: HTTP ${res.statusCode} ${text.slice(0, 300)}`));
        });
        res.on('error', reject);
      });
      req.setTimeout(30_000, () => req.destroy(new Error(`${method} ${path}: no answer within 30 s`)));
      req.on('error', reject);
      req.end(body);
    });
  return {
    request,
    json: async (method, path, body) => JSON.parse(await request(method, path, body)),
    close: () => agent.destroy(),
  };
}

/**
 * One measurement cell: `concurrency` workers call `op(i)` until `count` ops were issued or
 * `durationMs` passed, after an untimed warm-up with the same op. Latency is per op; the rate
 * is completed ops over the time from the first issue to the last acknowledgement.
 */
async function cell({ op, concurrency, count = Infinity, durationMs = Infinity, cpuPids = [] }) {
  // Warm-up: JIT, connections, and (at high concurrency) the server's queues.
  await drive({
    op,
    concurrency,
    count: concurrency === 1 ? COUNTS.c1Warmup : Infinity,
    durationMs: COUNTS.warmupMs,
    base: 1e9,
  });
  const cpuBefore = cpuPids.map(cpuMs);
  const machineBefore = machineCpuMs();
  const clientBefore = process.cpuUsage();
  const r = await drive({ op, concurrency, count, durationMs, base: 0 });
  const client = process.cpuUsage(clientBefore);
  const machineAfter = machineCpuMs();
  const cpuPct = (used) => round1((used / r.elapsedMs) * 100);
  const servers = cpuPids.map((pid, k) => cpuMs(pid) - cpuBefore[k]);
  const clientMs = (client.user + client.system) / 1000;
  const machineBusy = machineAfter.busy - machineBefore.busy;
  return {
    ...summarize(r.lat),
    concurrency,
    perSec: Math.round(r.lat.length / (r.elapsedMs / 1000)),
    elapsedMs: round1(r.elapsedMs),
    errors: r.errors,
    firstError: r.firstError,
    cpuPct: {
      client: cpuPct(clientMs),
      servers: servers.map(cpuPct),
      // Everything else on the machine: other processes (it may be shared), and kernel work
      // not charged to ours.
      others: cpuPct(Math.max(0, machineBusy - clientMs - servers.reduce((x, y) => x + y, 0))),
      machineBusy: round1((machineBusy / (machineAfter.total - machineBefore.total)) * 100),
    },
  };
}

async function drive({ op, concurrency, count, durationMs, base }) {
  // With a count, the duration is only a safety bound.
  const bound = count === Infinity ? durationMs : Math.max(durationMs, 120_000);
  const lat = [];
  let issued = 0;
  let errors = 0;
  let firstError;
  const t0 = performance.now();
  let tLast = t0;
  const worker = async () => {
    while (issued < count && performance.now() - t0 < bound) {
      const i = base + issued++;
      const s = performance.now();
      try {
        await op(i);
        tLast = performance.now();
        lat.push(tLast - s);
      } catch (e) {
        errors++;
        firstError ??= e instanceof Error ? e.message : String(e);
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  if (lat.length === 0) throw new Error(`every request failed: ${firstError}`);
  return { lat, errors, firstError, elapsedMs: tLast - t0 };
}

// ---- SMAC agents as processes ---------------------------------------------------------------

/** Starts `node dist/cli/main.js agent` and waits for its ready line. */
async function startAgent(name, dataDir, join = [], extra = []) {
  mkdirSync(dataDir, { recursive: true });
  const argv = [
    '--disable-warning=ExperimentalWarning', // node:sqlite
    mainJs,
    'agent',
    '--data-dir',
    dataDir,
    '--listen',
    '/ip4/127.0.0.1/tcp/0',
    '--api-port',
    '0',
    '--log-level',
    'warn',
    '--region',
    name,
    ...join.flatMap((a) => ['--join', a]),
    ...extra,
  ];
  const p = track(spawn(process.execPath, argv, { stdio: ['ignore', 'pipe', 'pipe'] }));
  let stderr = '';
  p.stderr.on('data', (d) => {
    stderr = (stderr + d.toString()).slice(-4000);
  });
  const ready = await new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(
      () => reject(new Error(`agent ${name} not ready within 60 s: ${stderr}`)),
      60_000,
    );
    const onExit = (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`agent ${name} exited (code ${code}, signal ${signal}) before ready: ${stderr}`));
    };
    p.once('exit', onExit);
    p.stdout.on('data', (d) => {
      out += d.toString();
      const nl = out.indexOf('\n');
      if (nl < 0) return;
      try {
        const line = JSON.parse(out.slice(0, nl));
        clearTimeout(timer);
        p.off('exit', onExit);
        resolve(line);
      } catch (e) {
        clearTimeout(timer);
        reject(new Error(`agent ${name}: unexpected first line ${out.slice(0, nl)} (${e})`));
      }
    });
  });
  const url = new URL(ready.api.url);
  const agent = {
    name,
    proc: p,
    pid: p.pid,
    peerId: ready.peerId,
    addresses: ready.addresses,
    socketPath: ready.api.socket,
    // The token the agent generated in its data directory (TCP requires it).
    tcp: {
      host: url.hostname,
      port: Number(url.port),
      token: readFileSync(ready.api.tokenFile, 'utf8').trim(),
    },
    stderr: () => stderr,
  };
  // A small control connection (status, members) apart from the load's connections.
  agent.ctl = httpClient({ socketPath: agent.socketPath }, 4);
  return agent;
}

async function stopAgents(agents) {
  for (const a of agents) a.ctl.close();
  await Promise.all(agents.map((a) => terminate(a.proc)));
}

// ---- 1.–3. SMAC over its REST API -------------------------------------------------------------

const incrementBody = JSON.stringify({ kind: 'increment', by: 1 });
const setBody = (i) => `{"kind":"set","value":{"i":${i}}}`;

/** Pre-built batch bodies (distinct keys within each), so that the client does not serialize per request. */
function batchBodies(size, variants = 16) {
  return Array.from({ length: variants }, (_, v) =>
    JSON.stringify({
      ops: Array.from({ length: size }, (_, j) => ({
        type: 'lww-register',
        key: `batch/k${(v * size + j) % 4096}`,
        op: { kind: 'set', value: { v, j } },
      })),
    }),
  );
}

/** Lag of peers behind the writer once a load stopped, and how long it took to drain. */
async function peerLag(writer, peers) {
  if (peers.length === 0) return undefined;
  const target = (await writer.ctl.json('GET', '/v1/status')).clock[writer.peerId] ?? 0;
  const t0 = wallNow();
  const out = {};
  await Promise.all(
    peers.map(async (p) => {
      let first;
      const deadline = t0 + 60_000;
      for (;;) {
        const seen = (await p.ctl.json('GET', '/v1/status')).clock[writer.peerId] ?? 0;
        first ??= target - seen;
        if (seen >= target) {
          out[p.name] = { atEndEvents: first, drainedMs: first === 0 ? 0 : Math.round(wallNow() - t0) };
          return;
        }
        if (wallNow() > deadline) {
          out[p.name] = { atEndEvents: first, drainedMs: undefined };
          return;
        }
        await sleep(100);
      }
    }),
  );
  return out;
}

async function smacSetup(label, n) {
  const dir = tempDir('smac-api-bench-');
  note(`SMAC, ${label}: starting ${n} agent${n > 1 ? 's' : ''}`);
  const A = await startAgent('A', join(dir, 'a'));
  const peers = [];
  for (let i = 1; i < n; i++)
    peers.push(await startAgent(String.fromCharCode(65 + i), join(dir, `p${i}`), A.addresses));
  const all = [A, ...peers];
  if (n > 1) {
    await until(
      'A connected to its peers',
      async () => (await A.ctl.json('GET', '/v1/status')).peers.filter((p) => p.connected).length >= n - 1,
    );
    await sleep(2000); // gossipsub builds its mesh on its heartbeat
  }
  const cpuPids = all.map((a) => a.pid);
  const unix = httpClient({ socketPath: A.socketPath }, HIGH_C);
  const tcp = httpClient(A.tcp, HIGH_C);
  const { SmacClient } = await import('../../dist/client/client.js');
  const sdk = new SmacClient({ socketPath: A.socketPath });
  const out = { agents: n, cells: {} };

  const counterOp = (c) => (i) =>
    c.request('POST', `/v1/objects/pn-counter/bench/c${i % 1024}`, incrementBody);
  const setOp = (c) => (i) => c.request('POST', `/v1/objects/lww-register/bench/r${i % 1024}`, setBody(i));
  const readOp = (c) => (i) => c.request('GET', `/v1/objects/lww-register/bench/r${i % 64}`);
  const sdkOp = (i) => sdk.op('pn-counter', `bench/s${i % 1024}`, { kind: 'increment', by: 1 });

  // Setup warm-up over both transports: JIT, connections, gossip mesh, SQLite pages.
  for (const c of [unix, tcp]) {
    await drive({ op: counterOp(c), concurrency: 1, count: COUNTS.c1Warmup * 2, durationMs: 0, base: 2e9 });
    await drive({
      op: setOp(c),
      concurrency: HIGH_C,
      count: Infinity,
      durationMs: COUNTS.warmupMs * 2,
      base: 2e9,
    });
  }
  await peerLag(A, peers);

  const run = async (name, op, concurrency, { writes = false } = {}) => {
    const r = await cell(
      concurrency === 1
        ? { op, concurrency, count: COUNTS.c1, cpuPids }
        : { op, concurrency, durationMs: COUNTS.loadMs, cpuPids },
    );
    if (writes) r.lag = await peerLag(A, peers);
    out.cells[name] = r;
    note(
      `  ${name}: p50 ${r.p50} ms, p99 ${r.p99} ms, ${r.perSec}/s${r.errors ? `, ${r.errors} errors (${r.firstError})` : ''}${
        r.lag
          ? `; peer lag at end ${Object.values(r.lag)
              .map((l) => l.atEndEvents)
              .join(' / ')} events`
          : ''
      }`,
    );
    return r;
  };

  for (const [tname, c] of [
    ['unix', unix],
    ['tcp', tcp],
  ]) {
    for (const conc of [1, HIGH_C]) {
      await run(`counter.${tname}.c${conc}`, counterOp(c), conc, { writes: true });
      await run(`set.${tname}.c${conc}`, setOp(c), conc, { writes: true });
    }
  }
  for (const conc of [1, HIGH_C]) await run(`sdk-counter.unix.c${conc}`, sdkOp, conc, { writes: true });
  await run('read.unix.c1', readOp(unix), 1);
  await run(`read.unix.c${HIGH_C}`, readOp(unix), HIGH_C);
  await run('read.tcp.c1', readOp(tcp), 1);
  for (const size of BATCH_SIZES) {
    const bodies = batchBodies(size);
    const r = await run(
      `batch${size}.unix.c${BATCH_C}`,
      (i) => unix.request('POST', '/v1/batch', bodies[i % bodies.length]),
      BATCH_C,
      {
        writes: true,
      },
    );
    r.opsPerSec = r.perSec * size;
    r.eventsPerSec = r.perSec;
  }
  unix.close();
  tcp.close();
  sdk.close();
  out.status = (await A.ctl.json('GET', '/v1/status')).counters;
  await stopAgents(all);
  return out;
}

// ---- 4. etcd ----------------------------------------------------------------------------------

const b64 = (s) => Buffer.from(s).toString('base64');

function txnBodies(size, variants = 16) {
  return Array.from({ length: variants }, (_, v) =>
    JSON.stringify({
      success: Array.from({ length: size }, (_, j) => ({
        request_put: { key: b64(`batch/k${(v * size + j) % 4096}`), value: b64(JSON.stringify({ v, j })) },
      })),
    }),
  );
}

async function etcdSetup(bin, n) {
  note(`etcd, ${n} member${n > 1 ? 's' : ''}: starting`);
  const cluster = await startEtcdCluster({
    bin,
    n,
    dir: tempDir('etcd-api-bench-'),
    extraArgs: ['--max-txn-ops=1000'], // the default (128) would refuse the 1000-put txn
    onSpawn: track,
    until,
  });
  const url = new URL(cluster.leader.url);
  const c = httpClient({ host: url.hostname, port: Number(url.port) }, HIGH_C);
  const cpuPids = cluster.members.map((m) => m.proc.pid);
  const out = { members: n, writesTo: 'leader', cells: {} };
  const putOp = (i) =>
    c.request('POST', '/v3/kv/put', `{"key":"${b64(`bench/r${i % 1024}`)}","value":"${b64(`{"i":${i}}`)}"}`);
  const rangeOp = (serializable) => (i) =>
    c.request(
      'POST',
      '/v3/kv/range',
      `{"key":"${b64(`bench/r${i % 64}`)}"${serializable ? ',"serializable":true' : ''}}`,
    );
  const run = async (name, op, concurrency) => {
    const r = await cell(
      concurrency === 1
        ? { op, concurrency, count: COUNTS.c1, cpuPids }
        : { op, concurrency, durationMs: COUNTS.loadMs, cpuPids },
    );
    out.cells[name] = r;
    note(
      `  ${name}: p50 ${r.p50} ms, p99 ${r.p99} ms, ${r.perSec}/s${r.errors ? `, ${r.errors} errors (${r.firstError})` : ''}`,
    );
    return r;
  };
  await run('put.c1', putOp, 1);
  await run(`put.c${HIGH_C}`, putOp, HIGH_C);
  await run('range-serializable.c1', rangeOp(true), 1);
  await run(`range-serializable.c${HIGH_C}`, rangeOp(true), HIGH_C);
  await run('range-linearizable.c1', rangeOp(false), 1);
  for (const size of BATCH_SIZES) {
    const bodies = txnBodies(size);
    const r = await run(
      `txn${size}.c${BATCH_C}`,
      (i) => c.request('POST', '/v3/kv/txn', bodies[i % bodies.length]),
      BATCH_C,
    );
    r.opsPerSec = r.perSec * size;
  }
  c.close();
  await Promise.all(cluster.members.map((m) => terminate(m.proc)));
  return out;
}

async function etcdBench() {
  const found = findEtcd({ mayInstall, note });
  if (!found.bin) return { skipped: found.why };
  const version = /etcd Version: (\S+)/.exec(
    spawnSync(found.bin, ['--version'], { encoding: 'utf8' }).stdout,
  )?.[1];
  return { version, one: await etcdSetup(found.bin, 1), three: await etcdSetup(found.bin, 3) };
}

// ---- 5. failure detection and false positives -------------------------------------------------

const membersOf = async (a) => (await a.ctl.json('GET', '/v1/members')).members;

async function allSeeAlive(agents) {
  const ids = agents.map((a) => a.peerId);
  const views = await Promise.all(agents.map(membersOf));
  return views.every((ms) => ids.every((id) => ms.some((m) => m.id === id && m.status === 'alive')));
}

/** Light load during the soak: one counter increment per agent every FP_LOAD_INTERVAL_MS. */
function lightLoad(agents, stopAt) {
  return Promise.all(
    agents.map(async (a, k) => {
      let i = 0;
      while (wallNow() < stopAt) {
        await a.ctl.request('POST', `/v1/objects/pn-counter/soak/${k}`, incrementBody).catch(() => undefined);
        i++;
        await sleep(FP_LOAD_INTERVAL_MS);
      }
      return i;
    }),
  );
}

async function soak(agents, seconds) {
  note(`false positives: ${agents.length} agents, ${seconds} s soak with a light write load`);
  const live = new Set(agents.map((a) => a.peerId));
  const t0 = wallNow();
  const stopAt = t0 + seconds * 1000;
  const seen = new Map(); // dedupe transitions across polls
  let polls = 0;
  let nonAliveSamples = 0;
  const poll = async () => {
    polls++;
    await Promise.all(
      agents.map(async (a) => {
        const { members, transitions } = await a.ctl.json('GET', '/v1/members');
        for (const m of members) if (live.has(m.id) && m.status !== 'alive') nonAliveSamples++;
        for (const t of transitions) {
          if (Date.parse(t.at) < t0 - 1) continue;
          seen.set(`${a.name}|${t.id}|${t.from}|${t.to}|${t.incarnation}|${t.at}`, {
            observer: a.name,
            ...t,
          });
        }
      }),
    );
  };
  const load = lightLoad(agents, stopAt);
  while (wallNow() < stopAt) {
    await poll();
    await sleep(2000);
  }
  const writes = (await load).reduce((x, y) => x + y, 0);
  await poll();
  const all = [...seen.values()].filter((t) => live.has(t.id));
  const suspects = all.filter((t) => t.to === 'suspect').length;
  const deads = all.filter((t) => t.to === 'dead').length;
  const memberHours = (live.size * seconds) / 3600;
  return {
    seconds,
    members: live.size,
    memberHours: Math.round(memberHours * 1000) / 1000,
    writes,
    polls,
    suspectTransitions: suspects,
    deadTransitions: deads,
    suspectPerMemberHour: Math.round((suspects / memberHours) * 100) / 100,
    deadPerMemberHour: Math.round((deads / memberHours) * 100) / 100,
    nonAliveSamples,
    transitions: all,
  };
}

/** SIGKILLs `victim`; per survivor, ms until its /v1/members first shows it suspect and dead. */
async function detectionTrial(victim, survivors, boundMs) {
  const tKill = wallNow();
  victim.proc.kill('SIGKILL');
  const per = await Promise.all(
    survivors.map(async (s) => {
      let suspectMs;
      const deadline = tKill + boundMs + 10_000;
      for (;;) {
        const { members, transitions } = await s.ctl.json('GET', '/v1/members');
        const now = wallNow();
        const m = members.find((x) => x.id === victim.peerId);
        if (m?.status === 'suspect') suspectMs ??= now - tKill;
        if (m?.status === 'dead') {
          const t = transitions.findLast((x) => x.id === victim.peerId && x.to === 'dead');
          return {
            survivor: s.name,
            suspectMs: round1(suspectMs ?? now - tKill),
            deadMs: round1(now - tKill),
            // The agent's own timestamp of the transition (ms precision), as a cross-check.
            deadByTransitionMs: t ? Math.round(Date.parse(t.at) - tKill) : undefined,
          };
        }
        if (now > deadline) return { survivor: s.name, suspectMs: round1(suspectMs), deadMs: undefined };
        await sleep(POLL_MS);
      }
    }),
  );
  const dead = per
    .map((p) => p.deadMs)
    .filter((x) => x !== undefined)
    .sort((a, b) => a - b);
  return {
    victim: victim.name,
    survivors: per,
    undetected: per.length - dead.length,
    minMs: dead[0],
    medianMs: dead.length ? dead[Math.floor((dead.length - 1) / 2)] : undefined,
    maxMs: dead.at(-1),
  };
}

async function healthBench() {
  const { detectionBoundMs, LAN_PROFILE } = await import('../../dist/core/membership/config.js');
  const boundMs = detectionBoundMs(LAN_PROFILE, CLUSTER_SIZE);
  const dir = tempDir('smac-health-bench-');
  note(`health: starting ${CLUSTER_SIZE} agents (LAN profile, default settings)`);
  let next = 0;
  const fresh = async (joinVia) => {
    const name = `F${next}`;
    return startAgent(
      name,
      join(dir, `f${next++}`),
      joinVia.flatMap((a) => a.addresses),
    );
  };
  const first = await fresh([]);
  const agents = [first];
  for (let i = 1; i < CLUSTER_SIZE; i++) agents.push(await fresh([first]));
  await until(`all ${CLUSTER_SIZE} agents see each other alive`, () => allSeeAlive(agents), 60_000, 250);
  const out = { profile: 'lan', clusterSize: CLUSTER_SIZE, boundMs, pollMs: POLL_MS };
  await sleep(2000);
  out.falsePositives = COUNTS.fpSeconds > 0 ? await soak(agents, COUNTS.fpSeconds) : { skipped: true };
  out.trials = [];
  for (let t = 0; t < COUNTS.trials; t++) {
    // Kill the oldest agent but the seed; replacements join at the end.
    const victim = agents[1];
    const survivors = agents.filter((a) => a !== victim);
    note(
      `detection trial ${t + 1}/${COUNTS.trials}: SIGKILL ${victim.name}, polling ${survivors.length} survivors every ${POLL_MS} ms`,
    );
    const r = await detectionTrial(victim, survivors, boundMs);
    note(`  dead after min ${r.minMs} / median ${r.medianMs} / max ${r.maxMs} ms (bound ${boundMs} ms)`);
    out.trials.push(r);
    victim.ctl.close();
    agents.splice(agents.indexOf(victim), 1);
    if (t + 1 < COUNTS.trials) {
      const replacement = await fresh(agents);
      agents.push(replacement);
      await until('the replacement is alive everywhere', () => allSeeAlive(agents), 60_000, 250);
      await sleep(2000);
    }
  }
  await stopAgents(agents);
  return out;
}

// ---- output ----------------------------------------------------------------------------------

const fmt = (x, digits = 2) =>
  x === undefined
    ? '—'
    : x.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: 0 });
/** Latencies to 3 significant figures or so: 0.42, 12.4, 195. */
const ms = (x) => (x === undefined ? '—' : fmt(x, x < 10 ? 2 : x < 100 ? 1 : 0));
const lat = (c) => (c ? `${ms(c.p50)} / ${ms(c.p99)}` : '');
/** Other processes used a quarter of a core or more during the cell: the figure is disturbed. */
const BUSY_OTHERS_PCT = 25;
const flag = (c) => (c.cpuPct.others >= BUSY_OTHERS_PCT ? '*' : ' ');
const latRate = (c) => (c ? `${lat(c)} · ${fmt(c.perSec, 0)}/s${flag(c)}` : '');

function printReport(r) {
  const lines = [];
  const s1 = r.smac.one.cells;
  const s3 = r.smac.three.cells;
  const e = r.etcd.skipped ? undefined : r.etcd;
  const e1 = e?.one.cells;
  const e3 = e?.three.cells;
  const W = 30;
  const row = (label, ...cols) =>
    lines.push(label.padEnd(46) + cols.map((c) => String(c ?? '').padStart(W)).join(''));
  const head = () =>
    row('', 'SMAC 1 agent', 'SMAC 3 agents', e ? 'etcd 1 member' : '', e ? 'etcd 3 members' : '');
  lines.push(
    `SMAC REST API and health benchmark — ${r.date}, Node ${r.node}, ${r.cpus} CPUs${r.quick ? ' (--quick)' : ''}; run took ${r.totalSeconds} s`,
  );
  lines.push(
    `Loopback only; every agent and etcd member is its own process. Load from one client process (node:http, keep-alive). etcd: ${
      e ? `${e.version}, writes to the leader, v3 JSON gateway` : `skipped — ${r.etcd.skipped}`
    }.`,
  );
  lines.push(
    `1-minute load average ${r.loadAvgAtStart} at the start, ${r.loadAvgAtEnd} at the end. * = other processes used ≥ ${BUSY_OTHERS_PCT}% of a core during that cell (see the CPU table).`,
  );
  lines.push('');
  lines.push(
    `Single-op writes: p50 / p99 ms · acknowledged writes/s (c=1: ${COUNTS.c1} requests; c=${HIGH_C}: ${COUNTS.loadMs} ms)`,
  );
  head();
  for (const [type, label] of [
    ['counter', 'pn-counter increment'],
    ['set', 'lww-register set'],
  ]) {
    for (const t of ['unix', 'tcp']) {
      for (const c of [1, HIGH_C]) {
        const k = `${type}.${t}.c${c}`;
        const etcdCell = type === 'set' && t === 'tcp' ? `put.c${c}` : undefined;
        row(
          `${label}, ${t === 'unix' ? 'Unix socket' : 'TCP'}, c=${c}`,
          latRate(s1[k]),
          latRate(s3[k]),
          etcdCell ? latRate(e1?.[etcdCell]) : '',
          etcdCell ? latRate(e3?.[etcdCell]) : '',
        );
      }
    }
  }
  for (const c of [1, HIGH_C]) {
    row(
      `SDK (SmacClient) increment, Unix socket, c=${c}`,
      latRate(s1[`sdk-counter.unix.c${c}`]),
      latRate(s3[`sdk-counter.unix.c${c}`]),
    );
  }
  lines.push('');
  lines.push('Reads: p50 / p99 ms · reads/s (SMAC: GET /v1/objects, local; etcd: POST /v3/kv/range)');
  head();
  row(
    'SMAC Unix socket | etcd serializable, c=1',
    latRate(s1['read.unix.c1']),
    latRate(s3['read.unix.c1']),
    latRate(e1?.['range-serializable.c1']),
    latRate(e3?.['range-serializable.c1']),
  );
  row(
    `SMAC Unix socket | etcd serializable, c=${HIGH_C}`,
    latRate(s1[`read.unix.c${HIGH_C}`]),
    latRate(s3[`read.unix.c${HIGH_C}`]),
    latRate(e1?.[`range-serializable.c${HIGH_C}`]),
    latRate(e3?.[`range-serializable.c${HIGH_C}`]),
  );
  row(
    'SMAC TCP | etcd linearizable, c=1',
    latRate(s1['read.tcp.c1']),
    latRate(s3['read.tcp.c1']),
    latRate(e1?.['range-linearizable.c1']),
    latRate(e3?.['range-linearizable.c1']),
  );
  lines.push('');
  lines.push(
    `Batches, ${BATCH_C} in flight, ${COUNTS.loadMs} ms: ops/s (events/s), p50 / p99 ms per batch (SMAC: POST /v1/batch over the Unix socket; etcd: txn of puts)`,
  );
  head();
  const batchCell = (c) => (c ? `${fmt(c.opsPerSec, 0)} (${fmt(c.perSec, 0)}) · ${lat(c)}${flag(c)}` : '');
  for (const size of BATCH_SIZES) {
    row(
      `${size} ops per batch`,
      batchCell(s1[`batch${size}.unix.c${BATCH_C}`]),
      batchCell(s3[`batch${size}.unix.c${BATCH_C}`]),
      batchCell(e1?.[`txn${size}.c${BATCH_C}`]),
      batchCell(e3?.[`txn${size}.c${BATCH_C}`]),
    );
  }
  lines.push('');
  lines.push(
    'SMAC 3 agents: lag of B / C behind A (events) when each write load stopped, and ms until both had caught up',
  );
  for (const [k, c] of Object.entries(s3)) {
    if (!c.lag) continue;
    const l = Object.values(c.lag);
    const drained = l.map((x) => x.drainedMs);
    lines.push(
      `  ${k.padEnd(30)} ${l
        .map((x) => fmt(x.atEndEvents, 0))
        .join(' / ')
        .padStart(16)}   ${
        drained.includes(undefined) ? 'not within 60 s' : `${fmt(Math.max(...drained), 0)} ms`
      }`,
    );
  }
  lines.push('');
  lines.push(
    `CPU used during a load, % of one core: client | servers (A [B C]; etcd m1 [m2 m3]) | everything else on the machine. The machine has ${r.cpus * 100}%.`,
  );
  head();
  const cpu = (c) =>
    c
      ? `${fmt(c.cpuPct.client, 0)} | ${c.cpuPct.servers.map((x) => fmt(x, 0)).join(' ')} | ${fmt(c.cpuPct.others, 0)}`
      : '';
  row(
    `set (etcd put) over Unix socket, c=${HIGH_C}`,
    cpu(s1[`set.unix.c${HIGH_C}`]),
    cpu(s3[`set.unix.c${HIGH_C}`]),
  );
  row(
    `set (etcd put) over TCP, c=${HIGH_C}`,
    cpu(s1[`set.tcp.c${HIGH_C}`]),
    cpu(s3[`set.tcp.c${HIGH_C}`]),
    cpu(e1?.[`put.c${HIGH_C}`]),
    cpu(e3?.[`put.c${HIGH_C}`]),
  );
  row(
    `reads, c=${HIGH_C}`,
    cpu(s1[`read.unix.c${HIGH_C}`]),
    cpu(s3[`read.unix.c${HIGH_C}`]),
    cpu(e1?.[`range-serializable.c${HIGH_C}`]),
    cpu(e3?.[`range-serializable.c${HIGH_C}`]),
  );
  for (const size of BATCH_SIZES) {
    row(
      `${size}-op batches (txns), c=${BATCH_C}`,
      cpu(s1[`batch${size}.unix.c${BATCH_C}`]),
      cpu(s3[`batch${size}.unix.c${BATCH_C}`]),
      cpu(e1?.[`txn${size}.c${BATCH_C}`]),
      cpu(e3?.[`txn${size}.c${BATCH_C}`]),
    );
  }
  const h = r.health;
  lines.push('');
  lines.push(
    `Failure detection, LAN profile, ${h.clusterSize} agents: SIGKILL one, poll /v1/members on each survivor every ${h.pollMs} ms. Bound detectionBoundMs(LAN_PROFILE, ${h.clusterSize}) = ${fmt(h.boundMs, 0)} ms`,
  );
  for (const [i, t] of h.trials.entries()) {
    lines.push(
      `  trial ${i + 1} (${t.victim} killed): dead after min ${fmt(t.minMs, 0)} / median ${fmt(t.medianMs, 0)} / max ${fmt(t.maxMs, 0)} ms (${fmt(
        (t.maxMs / h.boundMs) * 100,
        0,
      )}% of the bound); first suspect ${t.survivors.map((x) => fmt(x.suspectMs, 0)).join(', ')} ms${t.undetected ? `; ${t.undetected} survivors never reported it` : ''}`,
    );
  }
  const fp = h.falsePositives;
  lines.push(
    fp.skipped
      ? 'False positives: soak skipped (--fp-seconds 0)'
      : `False positives: ${fp.members} agents for ${fp.seconds} s (${fp.memberHours} member-h), ${fmt(fp.writes, 0)} light writes: ${fp.suspectTransitions} transitions of live members to suspect (${fp.suspectPerMemberHour}/member-h), ${fp.deadTransitions} to dead (${fp.deadPerMemberHour}/member-h), over all agents' views`,
  );
  console.log(lines.join('\n'));
}

// ---- main ------------------------------------------------------------------------------------

async function main() {
  if (!existsSync(mainJs))
    throw new Error('dist/ is missing: run `npm run build` first (npm run bench:api does)');
  const started = Date.now();
  const result = {
    date: new Date().toISOString().slice(0, 10),
    node: process.version,
    cpus: availableParallelism(),
    quick,
    counts: { ...COUNTS, highConcurrency: HIGH_C, batchConcurrency: BATCH_C },
    loadAvgAtStart: round1(loadavg()[0]),
  };
  result.smac = { one: await smacSetup('1 agent', 1), three: await smacSetup('3 agents (B, C join A)', 3) };
  result.etcd = withEtcd ? await etcdBench() : { skipped: 'disabled by --no-etcd' };
  if (result.etcd.skipped) note(`etcd part skipped: ${result.etcd.skipped}`);
  result.health = await healthBench();
  result.loadAvgAtEnd = round1(loadavg()[0]);
  result.totalSeconds = Math.round((Date.now() - started) / 1000);
  if (jsonOut) writeFileSync(jsonOut, JSON.stringify(result, null, 2) + '\n');
  if (asJson) console.log(JSON.stringify(result, null, 2));
  else printReport(result);
}

try {
  await main();
} catch (e) {
  console.error(e instanceof Error ? e.stack : e);
  process.exitCode = 1;
} finally {
  cleanupSync();
}
