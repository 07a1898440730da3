#!/usr/bin/env node
// Benchmarks of the pure core (issue 2). Run with `npm run bench:core` (builds first).
// Reports, per CRDT type, local events/s (prepare + effect + event) and remote events/s
// (causal checks + parse + effect) with p50/p99 per event, next to a plain-object baseline
// doing the same logical updates without any CRDT metadata; bytes of replication metadata per
// event at 3, 30 and 300 origins; and heap per set element.
// Options: --events N (default 50000), --json (machine-readable output).
import { performance } from 'node:perf_hooks';
import { Replica } from '../../dist/core/replica.js';
import { encodeEvent, eventMetadataBytes } from '../../dist/core/codec/index.js';

const args = process.argv.slice(2);
const EVENTS = Number(args[args.indexOf('--events') + 1] || 0) || 50_000;
const asJson = args.includes('--json');
const NOW = 1_700_000_000_000;

// 52-character ids, the length of an Ed25519 libp2p peer id in base58.
const peerId = (i) => `12D3KooW${String(i).padStart(44, '0')}`;

const opFor = {
  'pn-counter': (i) => ({ kind: 'increment', by: 1 + (i % 3) }),
  'lww-register': (i) => ({ kind: 'set', value: { v: i } }),
  'mv-register': (i) => ({ kind: 'set', value: { v: i } }),
  'aw-set': (i) => (i % 4 === 3 ? { kind: 'remove', value: i - 1 } : { kind: 'add', value: i }),
  'rw-set': (i) => (i % 4 === 3 ? { kind: 'remove', value: i - 1 } : { kind: 'add', value: i }),
  'ew-flag': (i) => ({ kind: i % 2 ? 'disable' : 'enable' }),
  'or-map': (i) => ({
    kind: 'update',
    field: `f${i % 16}`,
    type: 'pn-counter',
    op: { kind: 'increment', by: 1 },
  }),
};

function pct(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

function timed(n, fn) {
  const lat = new Float64Array(n);
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const s = performance.now();
    fn(i);
    lat[i] = performance.now() - s;
  }
  const total = performance.now() - t0;
  lat.sort();
  return {
    perSec: Math.round(n / (total / 1000)),
    p50us: +(pct(lat, 50) * 1000).toFixed(2),
    p99us: +(pct(lat, 99) * 1000).toFixed(2),
  };
}

function benchType(type) {
  const a = new Replica({ id: peerId(1) });
  const b = new Replica({ id: peerId(2) });
  const keys = 64;
  const events = [];
  const local = timed(EVENTS, (i) => {
    const { event } = a.step(
      { kind: 'local', ops: [{ type, key: `bench/${i % keys}`, op: opFor[type](i) }] },
      NOW + i,
    );
    events.push(event);
  });
  const remote = timed(EVENTS, (i) => {
    b.step({ kind: 'remote', event: events[i], bytes: 100 }, NOW + i);
  });
  if (b.stats().rejected !== 0 || JSON.stringify(b.list()) !== JSON.stringify(a.list())) {
    throw new Error(`${type}: replicas diverged in the benchmark`);
  }
  // Baseline: the same logical updates on a plain object, no CRDT metadata at all.
  const plain = {};
  const base = timed(EVENTS, (i) => {
    const k = `bench/${i % keys}`;
    plain[k] = (plain[k] ?? 0) + 1;
  });
  return { type, local, remote, baselinePerSec: base.perSec };
}

/** Average bytes of metadata per event (everything but the ops) for three workloads. */
function metadata(origins) {
  const ids = Array.from({ length: origins }, (_, i) => peerId(i));
  const measure = (rounds, writersPerRound) => {
    const reps = ids.map((id) => new Replica({ id }));
    // Warm-up: every origin writes once and everyone hears everything.
    const warm = reps.map(
      (r) =>
        r.step({ kind: 'local', ops: [{ type: 'pn-counter', key: 'm', op: { kind: 'increment' } }] }, NOW)
          .event,
    );
    for (const r of reps)
      for (const e of warm) if (e.origin !== r.id) r.step({ kind: 'remote', event: e, bytes: 0 }, NOW);
    let bytes = 0;
    let count = 0;
    let fullClockBytes = 0;
    for (let round = 0; round < rounds; round++) {
      const writers = reps.slice(0, writersPerRound);
      const made = writers.map(
        (r) =>
          r.step(
            { kind: 'local', ops: [{ type: 'pn-counter', key: 'm', op: { kind: 'increment' } }] },
            NOW + round,
          ).event,
      );
      // Round 0 still carries what each writer heard during the warm-up; steady state starts after it.
      for (const e of round === 0 ? [] : made) {
        bytes += eventMetadataBytes(e);
        fullClockBytes += eventMetadataBytes({
          ...e,
          deps: new Map([...reps[0].clock()].filter(([id]) => id !== e.origin)),
        });
        count++;
      }
      for (const r of writers)
        for (const e of made)
          if (e.origin !== r.id) r.step({ kind: 'remote', event: e, bytes: 0 }, NOW + round);
    }
    return { avgBytes: Math.round(bytes / count), fullClockAvgBytes: Math.round(fullClockBytes / count) };
  };
  return {
    origins,
    oneWriter: measure(200, 1),
    threeWriters: measure(100, Math.min(3, origins)),
    allWrite: measure(origins === 300 ? 3 : 20, origins),
  };
}

function setMemory() {
  const n = 100_000;
  globalThis.gc?.();
  const before = process.memoryUsage().heapUsed;
  const r = new Replica({ id: peerId(1) });
  for (let i = 0; i < n; i += 1000) {
    const ops = [];
    for (let j = i; j < i + 1000; j++)
      ops.push({
        type: 'aw-set',
        key: 'members',
        op: { kind: 'add', value: `10.0.${j >> 8}.${j & 255}:8080` },
      });
    r.step({ kind: 'local', ops }, NOW + i);
  }
  globalThis.gc?.();
  const after = process.memoryUsage().heapUsed;
  if (r.read('aw-set', 'members').value.length !== n) throw new Error('set size mismatch');
  const event = r.step(
    { kind: 'local', ops: [{ type: 'aw-set', key: 'x', op: { kind: 'add', value: 1 } }] },
    NOW,
  ).event;
  return {
    elements: n,
    bytesPerElement: Math.round((after - before) / n),
    gcExposed: typeof globalThis.gc === 'function',
    sampleEventBytes: encodeEvent(event).length,
  };
}

const result = {
  node: process.version,
  events: EVENTS,
  types: Object.keys(opFor).map(benchType),
  metadata: [3, 30, 300].map(metadata),
  setMemory: setMemory(),
};

if (asJson) console.log(JSON.stringify(result, null, 2));
else {
  console.log(`SMAC core benchmark — ${EVENTS} single-op events per type, Node ${process.version}\n`);
  console.log(
    'type          local ev/s  p50 µs  p99 µs | remote ev/s  p50 µs  p99 µs | plain-object baseline ops/s',
  );
  for (const t of result.types) {
    console.log(
      `${t.type.padEnd(13)} ${String(t.local.perSec).padStart(10)} ${String(t.local.p50us).padStart(7)} ${String(t.local.p99us).padStart(7)} | ${String(t.remote.perSec).padStart(11)} ${String(t.remote.p50us).padStart(7)} ${String(t.remote.p99us).padStart(7)} | ${t.baselinePerSec}`,
    );
  }
  console.log(
    '\nmetadata bytes per event (delta deps; in brackets: the same event carrying a full vector clock)',
  );
  console.log('origins  one writer   three writers   all write');
  for (const m of result.metadata) {
    console.log(
      `${String(m.origins).padStart(7)}  ${`${m.oneWriter.avgBytes} [${m.oneWriter.fullClockAvgBytes}]`.padEnd(12)} ${`${m.threeWriters.avgBytes} [${m.threeWriters.fullClockAvgBytes}]`.padEnd(15)} ${m.allWrite.avgBytes} [${m.allWrite.fullClockAvgBytes}]`,
    );
  }
  const s = result.setMemory;
  console.log(
    `\naw-set: ${s.bytesPerElement} bytes of heap per element over ${s.elements} elements${s.gcExposed ? '' : ' (run with --expose-gc for a cleaner figure)'}`,
  );
}
