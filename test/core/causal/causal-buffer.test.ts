import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  CausalBuffer,
  type CausalMeta,
  type Gap,
  isDeliverable,
  isDuplicate,
} from '../../../src/core/causal/causal-buffer.js';
import { type VectorClock, vcGet } from '../../../src/core/clock/vector-clock.js';
import { ErrorCode, SmacError } from '../../../src/core/errors.js';

interface Ev extends CausalMeta {
  /** Full causal dependencies (the origin's clock just before the event, own entry included). */
  readonly full: VectorClock;
}

function ev(origin: string, seq: number, deps: Record<string, number> = {}): Ev {
  const d = new Map(Object.entries(deps));
  return { origin, seq, deps: d, full: new Map([...d, [origin, seq - 1]]) };
}

const vc = (r: Record<string, number> = {}): VectorClock => new Map(Object.entries(r));
const BIG = { maxEvents: 1_000_000, maxBytes: 1_000_000_000 };

function expectCode(fn: () => unknown, code: string): void {
  let thrown: unknown;
  try {
    fn();
  } catch (e) {
    thrown = e;
  }
  expect(thrown).toBeInstanceOf(SmacError);
  expect((thrown as SmacError).code).toBe(code);
}

/** Releases everything deliverable under `clock`, advancing it; returns the released keys. */
function drain(buf: CausalBuffer<Ev>, clock: VectorClock): string[] {
  const out: string[] = [];
  for (let e = buf.popDeliverable(clock); e; e = buf.popDeliverable(clock)) {
    clock.set(e.origin, e.seq);
    out.push(`${e.origin}${e.seq}`);
  }
  return out;
}

describe('isDuplicate and isDeliverable', () => {
  it.each<[string, Ev, Record<string, number>, boolean, boolean]>([
    ['first event, no deps', ev('a', 1), {}, false, true],
    ['next event', ev('a', 3), { a: 2 }, false, true],
    ['a seq ahead', ev('a', 3), { a: 1 }, false, false],
    ['already delivered', ev('a', 2), { a: 2 }, true, false],
    ['long delivered', ev('a', 1), { a: 5 }, true, false],
    ['dep covered', ev('b', 1, { a: 2 }), { a: 2 }, false, true],
    ['dep covered by more', ev('b', 1, { a: 2 }), { a: 7 }, false, true],
    ['dep missing', ev('b', 1, { a: 2 }), { a: 1 }, false, false],
    ['one of two deps missing', ev('c', 2, { a: 1, b: 3 }), { a: 1, b: 2, c: 1 }, false, false],
    ['two deps covered', ev('c', 2, { a: 1, b: 3 }), { a: 1, b: 3, c: 1 }, false, true],
  ])('%s', (_name, e, clock, dup, deliverable) => {
    expect(isDuplicate(e, vc(clock))).toBe(dup);
    expect(isDeliverable(e, vc(clock))).toBe(deliverable);
  });
});

describe('CausalBuffer', () => {
  it('holds an event until it is deliverable', () => {
    const buf = new CausalBuffer<Ev>(BIG);
    const clock = vc();
    expect(buf.add(ev('b', 1, { a: 1 }), 10, 0)).toBe('buffered');
    expect(buf.add(ev('a', 2), 10, 0)).toBe('buffered');
    expect(buf.popDeliverable(clock)).toBeUndefined();
    expect(buf.size).toBe(2);
    expect(buf.bytes).toBe(20);
    clock.set('a', 1); // a1 arrived and was delivered directly
    expect(drain(buf, clock)).toEqual(expect.arrayContaining(['a2', 'b1']));
    expect(buf.size).toBe(0);
    expect(buf.bytes).toBe(0);
  });

  it('releases in a causal order across origins', () => {
    const buf = new CausalBuffer<Ev>(BIG);
    // c2 needs b2; b2 needs a3 (by delta, b1 already needed a1); a3 needs a1, a2.
    for (const e of [
      ev('c', 2, { b: 2 }),
      ev('b', 2, { a: 3 }),
      ev('a', 3),
      ev('a', 2),
      ev('b', 1, { a: 1 }),
    ]) {
      expect(buf.add(e, 1, 0)).toBe('buffered');
    }
    const clock = vc({ c: 1 });
    expect(drain(buf, clock)).toEqual([]);
    clock.set('a', 1);
    const order = drain(buf, clock);
    expect(order.sort()).toEqual(['a2', 'a3', 'b1', 'b2', 'c2']);
    expect(clock).toEqual(vc({ a: 3, b: 2, c: 2 }));
  });

  it('reports a duplicate of a buffered event and keeps the first', () => {
    const buf = new CausalBuffer<Ev>(BIG);
    const first = ev('a', 2);
    expect(buf.add(first, 5, 0)).toBe('buffered');
    expect(buf.add(ev('a', 2), 7, 0)).toBe('duplicate');
    expect(buf.size).toBe(1);
    expect(buf.bytes).toBe(5);
    expect(buf.popDeliverable(vc({ a: 1 }))).toBe(first);
  });

  it('is bounded in events: past the bound nothing is stored', () => {
    const buf = new CausalBuffer<Ev>({ maxEvents: 2, maxBytes: 1000 });
    expect(buf.add(ev('a', 2), 1, 0)).toBe('buffered');
    expect(buf.add(ev('a', 3), 1, 0)).toBe('buffered');
    expect(buf.add(ev('a', 4), 1, 0)).toBe('overflow');
    expect(buf.add(ev('a', 3), 1, 0)).toBe('duplicate');
    expect(buf.size).toBe(2);
    expect(buf.bytes).toBe(2);
    expect(buf.gaps(vc())).toEqual([{ origin: 'a', from: 1, to: 1 }]);
  });

  it('is bounded in bytes: past the bound nothing is stored', () => {
    const buf = new CausalBuffer<Ev>({ maxEvents: 100, maxBytes: 100 });
    expect(buf.add(ev('a', 2), 60, 0)).toBe('buffered');
    expect(buf.add(ev('a', 3), 50, 0)).toBe('overflow');
    expect(buf.size).toBe(1);
    expect(buf.bytes).toBe(60);
    expect(buf.add(ev('a', 3), 40, 0)).toBe('buffered');
    expect(buf.bytes).toBe(100);
    expect(buf.add(ev('a', 4), 0, 0)).toBe('buffered');
    expect(buf.add(ev('a', 5), 1, 0)).toBe('overflow');
  });

  it('a zero bound stores nothing', () => {
    const buf = new CausalBuffer<Ev>({ maxEvents: 0, maxBytes: 100 });
    expect(buf.add(ev('a', 2), 1, 0)).toBe('overflow');
    expect(buf.size).toBe(0);
  });

  it('prune drops what the clock covers, including events no longer deliverable', () => {
    const buf = new CausalBuffer<Ev>(BIG);
    buf.add(ev('a', 2), 3, 0);
    buf.add(ev('a', 3), 3, 0);
    buf.add(ev('a', 5), 3, 0);
    buf.add(ev('b', 4, { a: 9 }), 3, 0);
    // A snapshot moved the clock past a2: it is now stale and never popped.
    const clock = vc({ a: 2 });
    expect(buf.prune(clock)).toBe(1);
    expect(buf.size).toBe(3);
    expect(buf.bytes).toBe(9);
    expect(buf.prune(clock)).toBe(0);
    expect(drain(buf, clock)).toEqual(['a3']);
    expect(buf.prune(vc({ a: 9, b: 4 }))).toBe(2);
    expect(buf.size).toBe(0);
    expect(buf.bytes).toBe(0);
    expect(buf.gaps(vc())).toEqual([]);
  });

  it('oldestAgeMs follows the oldest event still buffered', () => {
    const buf = new CausalBuffer<Ev>(BIG);
    expect(buf.oldestAgeMs(1000)).toBe(0);
    buf.add(ev('a', 2), 1, 100);
    buf.add(ev('b', 2), 1, 150);
    expect(buf.oldestAgeMs(200)).toBe(100);
    buf.popDeliverable(vc({ a: 1 }));
    expect(buf.oldestAgeMs(200)).toBe(50);
    // A clock that stepped back does not make a later arrival the oldest.
    buf.add(ev('c', 2), 1, 120);
    buf.popDeliverable(vc({ b: 1 }));
    expect(buf.oldestAgeMs(200)).toBe(50);
    expect(buf.oldestAgeMs(100)).toBe(0);
    buf.prune(vc({ c: 2 }));
    expect(buf.oldestAgeMs(200)).toBe(0);
  });

  it('rejects bad input with a stable code and stays unchanged', () => {
    const buf = new CausalBuffer<Ev>(BIG);
    buf.add(ev('a', 2), 1, 0);
    expectCode(() => buf.add(ev('a', 0), 1, 0), ErrorCode.InvalidEvent);
    expectCode(() => buf.add(ev('a', 1.5), 1, 0), ErrorCode.InvalidEvent);
    expectCode(() => buf.add(ev('', 3), 1, 0), ErrorCode.InvalidEvent);
    expectCode(() => buf.add(ev('a', 3), -1, 0), ErrorCode.InvalidArgument);
    expectCode(() => buf.add(ev('a', 3), 0.5, 0), ErrorCode.InvalidArgument);
    expectCode(() => buf.add(ev('a', 3), 1, Number.NaN), ErrorCode.InvalidArgument);
    expect(buf.size).toBe(1);
    expect(buf.bytes).toBe(1);
    expectCode(() => new CausalBuffer<Ev>({ maxEvents: -1, maxBytes: 1 }), ErrorCode.InvalidArgument);
    expectCode(
      () => new CausalBuffer<Ev>({ maxEvents: 1, maxBytes: Number.POSITIVE_INFINITY }),
      ErrorCode.InvalidArgument,
    );
  });
});

describe('CausalBuffer gaps', () => {
  const rows: [string, Ev[], Record<string, number>, Gap[]][] = [
    ['empty buffer', [], {}, []],
    ['the origin’s earlier events', [ev('a', 3)], {}, [{ origin: 'a', from: 1, to: 2 }]],
    ['counted from the clock', [ev('a', 5)], { a: 3 }, [{ origin: 'a', from: 4, to: 4 }]],
    [
      'holes between buffered events',
      [ev('a', 3), ev('a', 6), ev('a', 7)],
      { a: 1 },
      [
        { origin: 'a', from: 2, to: 2 },
        { origin: 'a', from: 4, to: 5 },
      ],
    ],
    ['a missing dependency on another origin', [ev('b', 1, { a: 2 })], {}, [{ origin: 'a', from: 1, to: 2 }]],
    ['a dependency partly delivered', [ev('b', 1, { a: 4 })], { a: 2 }, [{ origin: 'a', from: 3, to: 4 }]],
    ['a dependency that is buffered is no gap', [ev('b', 1, { a: 1 }), ev('a', 1)], {}, []],
    [
      'a dependency partly buffered',
      [ev('b', 1, { a: 4 }), ev('a', 2)],
      {},
      [
        { origin: 'a', from: 1, to: 1 },
        { origin: 'a', from: 3, to: 4 },
      ],
    ],
    [
      'ranges from several events merge',
      [ev('b', 1, { a: 2 }), ev('c', 1, { a: 4 }), ev('a', 6)],
      {},
      [{ origin: 'a', from: 1, to: 5 }],
    ],
    ['a covered dependency is no gap', [ev('b', 2, { a: 2 })], { a: 3, b: 1 }, []],
    [
      'sorted by origin then from',
      [ev('z', 2), ev('m', 3, { a: 1 }), ev('b', 1, { z: 5 })],
      { m: 1 },
      [
        { origin: 'a', from: 1, to: 1 },
        { origin: 'm', from: 2, to: 2 },
        { origin: 'z', from: 1, to: 1 },
        { origin: 'z', from: 3, to: 5 },
      ],
    ],
    ['stale buffered events are ignored', [ev('a', 1, { b: 5 })], { a: 1 }, []],
    ['a huge seq costs nothing', [ev('a', 2 ** 50)], {}, [{ origin: 'a', from: 1, to: 2 ** 50 - 1 }]],
  ];
  it.each(rows)('%s', (_name, events, clock, expected) => {
    const buf = new CausalBuffer<Ev>(BIG);
    for (const e of events) expect(buf.add(e, 1, 0)).toBe('buffered');
    expect(buf.gaps(vc(clock))).toEqual(expected);
  });
});

// ---- random causal histories ---------------------------------------------------------------

type PlanStep =
  | { readonly t: 'make'; readonly at: number; readonly full: boolean }
  | { readonly t: 'learn'; readonly at: number; readonly from: number };

/** Builds events from a plan: origins make events (delta deps) and learn each other's clocks. */
function history(origins: number, plan: readonly PlanStep[]): Ev[] {
  const ids = ['a', 'b', 'c', 'd', 'e', 'f', 'g'].slice(0, origins);
  const clocks = ids.map(() => new Map<string, number>());
  const lastDeps = ids.map(() => new Map<string, number>());
  const events: Ev[] = [];
  for (const step of plan) {
    const i = step.at % origins;
    const id = ids[i] ?? 'a';
    const clock = clocks[i] ?? new Map<string, number>();
    if (step.t === 'learn') {
      for (const [x, n] of clocks[step.from % origins] ?? []) if (n > vcGet(clock, x)) clock.set(x, n);
      continue;
    }
    const seq = vcGet(clock, id) + 1;
    const others = new Map([...clock].filter(([x]) => x !== id));
    const prev = lastDeps[i] ?? new Map<string, number>();
    // A full clock is a valid superset of the delta (as after a restart).
    const deps = step.full ? others : new Map([...others].filter(([x, n]) => n > vcGet(prev, x)));
    lastDeps[i] = others;
    events.push({ origin: id, seq, deps, full: new Map(clock) });
    clock.set(id, seq);
  }
  return events;
}

/** The seqs missing under `clock` that buffered events are or need, the slow way. */
function referenceGaps(buffered: readonly Ev[], clock: VectorClock): Gap[] {
  const high = new Map<string, number>();
  for (const e of buffered) {
    if (e.seq <= vcGet(clock, e.origin)) continue;
    for (const [x, n] of [...e.deps, [e.origin, e.seq] as const]) {
      if (n > Math.max(vcGet(clock, x), high.get(x) ?? 0)) high.set(x, n);
    }
  }
  const out: Gap[] = [];
  for (const origin of [...high.keys()].sort()) {
    let open: Gap | undefined;
    for (let s = vcGet(clock, origin) + 1; s <= (high.get(origin) ?? 0); s++) {
      const held = buffered.some((e) => e.origin === origin && e.seq === s);
      if (!held && open) open.to = s;
      else if (!held) out.push((open = { origin, from: s, to: s }));
      else open = undefined;
    }
  }
  return out;
}

const planArb = fc.record({
  origins: fc.integer({ min: 2, max: 7 }),
  plan: fc.array(
    fc.oneof(
      {
        weight: 3,
        arbitrary: fc.record({ t: fc.constant('make' as const), at: fc.nat(6), full: fc.boolean() }),
      },
      {
        weight: 2,
        arbitrary: fc.record({ t: fc.constant('learn' as const), at: fc.nat(6), from: fc.nat(6) }),
      },
    ),
    { maxLength: 60 },
  ),
  seeds: fc.array(fc.nat(), { minLength: 1, maxLength: 40 }),
});

describe('CausalBuffer over random causal histories', () => {
  it('delivers every event exactly once, each after its full causal past, and keeps nothing', () => {
    fc.assert(
      fc.property(planArb, ({ origins, plan, seeds }) => {
        const events = history(origins, plan);
        // Shuffle, with some events duplicated, driven by the seeds.
        const seed = (k: number) => seeds[k % seeds.length] ?? 0;
        const arrivals = [...events, ...events.filter((_, k) => seed(k) % 3 === 0)];
        for (let k = arrivals.length - 1; k > 0; k--) {
          const j = (seed(k) + k * 7919) % (k + 1);
          [arrivals[k], arrivals[j]] = [arrivals[j]!, arrivals[k]!];
        }

        const buf = new CausalBuffer<Ev>(BIG);
        const clock: VectorClock = new Map();
        const delivered = new Set<string>();
        const deliver = (e: Ev) => {
          expect(vcGet(clock, e.origin)).toBe(e.seq - 1);
          for (const [x, n] of e.full) expect(vcGet(clock, x)).toBeGreaterThanOrEqual(n);
          const key = `${e.origin}:${e.seq}`;
          expect(delivered.has(key)).toBe(false);
          delivered.add(key);
          clock.set(e.origin, e.seq);
        };
        const held: Ev[] = [];
        let now = 0;
        for (const e of arrivals) {
          now += 1;
          if (isDuplicate(e, clock)) continue;
          if (!isDeliverable(e, clock)) {
            const r = buf.add(e, 10, now);
            expect(r === 'buffered' || r === 'duplicate').toBe(true);
            if (r === 'buffered') held.push(e);
            expect(buf.gaps(clock)).toEqual(referenceGaps(held, clock));
            continue;
          }
          deliver(e);
          for (let next = buf.popDeliverable(clock); next; next = buf.popDeliverable(clock)) {
            deliver(next);
            held.splice(held.indexOf(next), 1);
          }
          expect(buf.size).toBe(held.length);
          expect(buf.bytes).toBe(held.length * 10);
          expect(buf.gaps(clock)).toEqual(referenceGaps(held, clock));
        }
        expect(delivered.size).toBe(events.length);
        expect(buf.size).toBe(0);
        expect(buf.bytes).toBe(0);
        expect(buf.gaps(clock)).toEqual([]);
        expect(buf.oldestAgeMs(now)).toBe(0);
      }),
      { numRuns: 200 },
    );
  });

  it('after a snapshot install, prune and delivery still release every later event once', () => {
    fc.assert(
      fc.property(planArb, fc.nat(), ({ origins, plan, seeds }, cut) => {
        const events = history(origins, plan);
        if (events.length === 0) return;
        // The snapshot covers a causally closed prefix: the clock of some event's origin after it.
        const base = events[cut % events.length]!;
        const snapshot = new Map(base.full);
        snapshot.set(base.origin, base.seq);
        const buf = new CausalBuffer<Ev>(BIG);
        const clock: VectorClock = new Map();
        // Everything arrives before the snapshot and nothing is deliverable: buffer what fits.
        for (const [k, e] of events.entries()) {
          if (!isDeliverable(e, clock) && (seeds[k % seeds.length] ?? 0) % 2 === 0) buf.add(e, 1, 0);
        }
        for (const [x, n] of snapshot) clock.set(x, n);
        const stale = events.filter((e) => isDuplicate(e, clock));
        const before = buf.size;
        const pruned = buf.prune(clock);
        expect(before - buf.size).toBe(pruned);
        expect(pruned).toBeLessThanOrEqual(stale.length);
        const release = () => {
          for (let next = buf.popDeliverable(clock); next; next = buf.popDeliverable(clock)) {
            expect(isDuplicate(next, clock)).toBe(false);
            clock.set(next.origin, next.seq);
          }
        };
        // Events the snapshot made deliverable go first, as the replica does after an install.
        release();
        for (const e of events) {
          if (isDuplicate(e, clock)) continue;
          if (isDeliverable(e, clock)) clock.set(e.origin, e.seq);
          else buf.add(e, 1, 0);
          release();
        }
        for (const e of events) expect(isDuplicate(e, clock)).toBe(true);
        expect(buf.size).toBe(0);
      }),
      { numRuns: 200 },
    );
  });
});

describe('CausalBuffer eviction', () => {
  it('evictArrivedBy drops what arrived by the cutoff, oldest first', () => {
    const buf = new CausalBuffer<Ev>(BIG);
    buf.add(ev('a', 2), 1, 10);
    buf.add(ev('b', 2), 1, 20);
    buf.add(ev('a', 3), 1, 30);
    expect(buf.evictArrivedBy(20)).toBe(2);
    expect(buf.size).toBe(1);
    expect(buf.oldestArrivalMs()).toBe(30);
    expect(buf.gaps(vc())).toEqual([{ origin: 'a', from: 1, to: 2 }]);
    expect(buf.evictArrivedBy(100)).toBe(1);
    expect(buf.oldestArrivalMs()).toBeUndefined();
  });

  it('makeRoom evicts the oldest until one more fits, and nothing for what can never fit', () => {
    const buf = new CausalBuffer<Ev>({ maxEvents: 3, maxBytes: 100 });
    buf.add(ev('a', 2), 40, 1);
    buf.add(ev('a', 3), 40, 2);
    buf.add(ev('a', 4), 10, 3);
    expect(buf.makeRoom(101)).toBe(0);
    expect(buf.makeRoom(50)).toBe(1); // count bound: one out; bytes 50 + 50 fit
    expect(buf.add(ev('a', 5), 50, 4)).toBe('buffered');
    expect(buf.makeRoom(50)).toBe(2); // bytes bound: 40 and 10 out, then 50 + 50 fits
    expect(buf.bytes).toBe(50);
    expect(buf.size).toBe(1);
  });
});
