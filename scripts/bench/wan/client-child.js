// One region's client process for the WAN benchmark (run.js), started inside the region's
// network namespace and driven over IPC (../ipc.js). It talks to the region's own SMAC agent
// over its Unix socket and to the region's own etcd member over etcd's v3 JSON gateway on the
// region's address, both with node:http and keep-alive connections, so the two systems are
// measured by the same client code on the same event loop. Every loop is bounded in count and
// time.
import { serve, sleep, wallNow } from '../ipc.js';
import { HttpTarget } from './http.js';

/** target name ('smac' | 'etcd') -> HttpTarget, set by `init`. */
const targets = new Map();
/** Set by `halt`: running latency loops stop after their write in flight. */
let halted = false;

function target(system) {
  const t = targets.get(system);
  if (!t) throw new Error(`no ${system} target: call init first`);
  return t;
}

/**
 * `concurrency` writers until `n` writes were acknowledged (or `maxMs` passed, or `halt` was
 * called); latency (ms) of each after `warmup` untimed writes, and the throughput of the timed
 * part. With `slowMs`, also the writes that took at least that long: start (process.hrtime,
 * µs, the clock of V8's CPU profiles) and duration, for scripts/bench/write-tail.js.
 */
async function latency({ system, n, concurrency, warmup = 20, maxMs = 600_000, prefix = 'lat', slowMs }) {
  const t = target(system);
  halted = false;
  for (let i = 0; i < warmup; i++) await t.write(`${prefix}/w${i % 16}`, { i });
  const lat = [];
  const slow = [];
  let issued = 0;
  let errors = 0;
  const tStart = wallNow();
  let tEnd = tStart;
  const worker = async () => {
    while (issued < n && wallNow() - tStart < maxMs && !halted) {
      const i = issued++;
      const s = performance.now();
      const t0Us = slowMs === undefined ? 0 : Number(process.hrtime.bigint() / 1000n);
      try {
        await t.write(`${prefix}/k${i % 256}`, { i });
        const ms = performance.now() - s;
        lat.push(ms);
        if (slowMs !== undefined && ms >= slowMs) slow.push({ t0Us, ms });
      } catch {
        errors++;
      }
      tEnd = wallNow();
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const elapsedMs = tEnd - tStart;
  return { lat, slow, errors, elapsedMs, writesPerSec: lat.length / (elapsedMs / 1000) };
}

/** Polls `key` until it holds `value`; the wall time it was first seen (or undefined). */
async function waitValue({ system, key, value, timeoutMs = 30_000, everyMs = 1 }) {
  const t = target(system);
  const deadline = wallNow() + timeoutMs;
  for (let i = 0; wallNow() < deadline && i < 10_000_000; i++) {
    const before = wallNow();
    let got;
    try {
      got = await t.read(key);
    } catch {
      got = undefined;
    }
    if (got !== undefined && got.v === value) return { at: wallNow(), readStartedAt: before };
    if (everyMs > 0) await sleep(everyMs);
  }
  return { at: undefined };
}

/** One write; its start and acknowledgement wall times. */
async function writeOnce({ system, key, value }) {
  const sent = wallNow();
  await target(system).write(key, { v: value, t: sent });
  return { sent, acked: wallNow() };
}

/** `n` writes with `concurrency` in flight, then one marker write; times of each stage. */
async function burst({ system, n, concurrency, prefix, marker }) {
  const t = target(system);
  let issued = 0;
  let acked = 0;
  let errors = 0;
  const tStart = wallNow();
  const worker = async () => {
    while (issued < n) {
      const i = issued++;
      try {
        await t.write(`${prefix}/k${i}`, { i });
        acked++;
      } catch {
        errors++;
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const tLastAck = wallNow();
  await t.write(marker.key, { v: marker.value });
  return { tStart, tLastAck, tMarkerAck: wallNow(), acked, errors };
}

/**
 * Writes `prefix/<i>` every `intervalMs` until `durationMs` passed, each with its own timeout;
 * which were acknowledged and which failed (a failed write's effect is unknown, not counted).
 */
async function paced({ system, prefix, intervalMs, durationMs, timeoutMs = 15_000, maxInFlight = 64 }) {
  const t = target(system);
  const tStart = wallNow();
  const acked = [];
  const failed = [];
  const pending = new Set();
  for (let i = 0; i < 1_000_000 && wallNow() - tStart < durationMs; i++) {
    while (pending.size >= maxInFlight) await Promise.race(pending);
    const key = `${prefix}/${i}`;
    const sent = wallNow();
    const p = t
      .write(key, { i }, timeoutMs)
      .then(
        () => acked.push({ key, at: wallNow(), ms: wallNow() - sent }),
        (e) =>
          failed.push({
            key,
            at: wallNow(),
            ms: wallNow() - sent,
            error: String(e.message ?? e).slice(0, 120),
          }),
      )
      .finally(() => pending.delete(p));
    pending.add(p);
    const wait = tStart + (i + 1) * intervalMs - wallNow();
    if (wait > 0) await sleep(wait);
  }
  await Promise.all(pending);
  return { acked, failed };
}

serve(
  {
    init({ smacSocket, etcdUrl }) {
      if (smacSocket) targets.set('smac', HttpTarget.smac(smacSocket));
      if (etcdUrl) targets.set('etcd', HttpTarget.etcd(etcdUrl));
      return true;
    },
    latency,
    waitValue,
    writeOnce,
    burst,
    paced,
    /** Ends every running `latency` loop after its writes in flight. */
    halt() {
      halted = true;
      return true;
    },
    /** Keys under `prefix` (all of them, for the lost-write check). */
    keys: ({ system, prefix }) => target(system).keys(prefix),
    /** What the partition phase compares: SMAC's clock and values, etcd's revision and hash. */
    fingerprint: ({ system, prefix }) => target(system).fingerprint(prefix),
    /** etcd's members (ID and name), to name the leader's region. */
    async etcdMembers() {
      return (await target('etcd').ok('POST', '/v3/cluster/member/list', {})).members;
    },
    async stop() {
      for (const t of targets.values()) t.close();
      setImmediate(() => process.exit(0));
      return true;
    },
  },
  async () => {
    for (const t of targets.values()) t.close();
  },
);
