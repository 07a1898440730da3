/**
 * Anti-entropy and recovery reads: eventsSince against a reference filter over random logs,
 * clocks, page sizes and compaction points (before and after a reopen), plus paging, replay with
 * eventsAfter, and what happens when compaction overtakes an open stream.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import { StoreErrorCode } from '../../src/store/store-errors.js';
import { Store, type StoredEvent } from '../../src/store/store.js';
import { clockOf, ev, expectStoreError, type TestEvent, useTempDirs } from './helpers.js';

const tempDir = useTempDirs();
const ORIGINS = ['a', 'b', 'c', 'd'] as const;

const key = (e: { origin: string; seq: number }): string => `${e.origin}#${e.seq}`;
const text = (e: StoredEvent): string => new TextDecoder().decode(e.bytes);

/** A delivery-order log: per origin ascending seqs, sometimes with gaps (after a snapshot install). */
const arbLog = fc
  .array(fc.record({ origin: fc.constantFrom(...ORIGINS), gap: fc.constantFrom(0, 0, 0, 2) }), {
    maxLength: 60,
  })
  .map((steps) => {
    const last = new Map<string, number>();
    return steps.map(({ origin, gap }) => {
      const seq = (last.get(origin) ?? 0) + 1 + gap;
      last.set(origin, seq);
      return ev(origin, seq);
    });
  });

const arbClock = fc
  .record({ a: fc.nat(40), b: fc.nat(40), c: fc.nat(40), d: fc.nat(40), zz: fc.nat(3) }, { requiredKeys: [] })
  .map((r) => new Map(Object.entries(r)));

const arbCase = fc.record({
  log: arbLog,
  batchSizes: fc.array(fc.integer({ min: 1, max: 7 }), { minLength: 1, maxLength: 5 }),
  redeliver: fc.array(fc.nat(), { maxLength: 5 }),
  clocks: fc.array(arbClock, { minLength: 1, maxLength: 3 }),
  pageSize: fc.integer({ min: 1, max: 6 }),
  /** Fractions of the log: compact up to cut, with the snapshot at or after it. */
  cut: fc.option(
    fc.record({
      upTo: fc.double({ min: 0, max: 1, noNaN: true }),
      snapAt: fc.double({ min: 0, max: 1, noNaN: true }),
    }),
  ),
});

/** Appends `log` in batches of the given sizes, re-sending some earlier events in later batches. */
function appendInBatches(
  store: Store,
  log: readonly TestEvent[],
  sizes: readonly number[],
  redeliver: readonly number[],
) {
  let i = 0;
  let b = 0;
  while (i < log.length) {
    const size = sizes[b % sizes.length] ?? 1;
    const batch = log.slice(i, i + size);
    const again = redeliver[b % Math.max(1, redeliver.length)];
    if (again !== undefined && i > 0) batch.unshift(log[again % i]!);
    i += size;
    b++;
    store.appendEvents(batch);
  }
}

describe('eventsSince', () => {
  it('matches a reference filter over random logs, clocks, pages and compactions', () => {
    fc.assert(
      fc.property(arbCase, ({ log, batchSizes, redeliver, clocks, pageSize, cut }) => {
        const dir = tempDir();
        let store = Store.open({ dataDir: dir });
        try {
          appendInBatches(store, log, batchSizes, redeliver);
          const full = [...store.eventsAfter(0, pageSize)];
          expect(full.map(key)).toEqual(log.map(key));
          expect(full.map(text)).toEqual(log.map(key));
          full.forEach((e, i) => {
            expect(e.pos).toBe(i + 1);
          });

          let kept = full;
          let dropped: StoredEvent[] = [];
          if (cut) {
            const upTo = Math.floor(cut.upTo * full.length);
            const snapAt = upTo + Math.floor(cut.snapAt * (full.length - upTo));
            store.saveSnapshot({ pos: snapAt, vc: clockOf(full.slice(0, snapAt)), bytes: Uint8Array.of(1) });
            expect(store.compact(upTo)).toBe(upTo);
            dropped = full.slice(0, upTo);
            kept = full.slice(upTo);
          }

          const check = (): void => {
            for (const vc of clocks) {
              const expected = kept.filter((e) => e.seq > (vc.get(e.origin) ?? 0));
              const got = [...store.eventsSince(vc, pageSize)];
              expect(got).toEqual(expected);
            }
            expect([...store.eventsSince(new Map(), pageSize)]).toEqual(kept);
            expect(store.compactedClock()).toEqual(clockOf(dropped));
            for (const o of [...ORIGINS, 'zz']) expect(store.maxSeq(o)).toBe(clockOf(log).get(o) ?? 0);
            for (const e of log) expect(store.hasEvent(e.origin, e.seq)).toBe(true);
            expect(store.logStats()).toEqual({
              events: kept.length,
              bytes: kept.reduce((n, e) => n + e.bytes.byteLength, 0),
              lastPos: full.length,
            });
          };
          check();
          store.close();
          store = Store.open({ dataDir: dir });
          check();
        } finally {
          store.close();
        }
      }),
      { numRuns: 80 },
    );
  });

  it('pages across many boundaries and interleaved origins, in position order', () => {
    const store = Store.open({ dataDir: tempDir() });
    const log: TestEvent[] = [];
    const seqs = new Map<string, number>();
    for (let i = 0; i < 1000; i++) {
      // Skewed interleaving: origin 'a' writes in bursts, so per-origin pages end at different positions.
      const origin = i % 50 < 30 ? 'a' : ORIGINS[i % 4]!;
      const seq = (seqs.get(origin) ?? 0) + 1;
      seqs.set(origin, seq);
      log.push(ev(origin, seq));
    }
    for (let i = 0; i < log.length; i += 100) store.appendEvents(log.slice(i, i + 100));
    for (const pageSize of [1, 7, 64, 1000]) {
      expect([...store.eventsSince(new Map(), pageSize)].map(key)).toEqual(log.map(key));
      const vc = new Map([
        ['a', 500],
        ['b', 10],
      ]);
      const expected = log.filter((e) => e.seq > (vc.get(e.origin) ?? 0)).map(key);
      const got = [...store.eventsSince(vc, pageSize)];
      expect(got.map(key)).toEqual(expected);
      expect(got.every((e, i) => i === 0 || e.pos > got[i - 1]!.pos)).toBe(true);
    }
    expect([...store.eventsSince(seqs)]).toEqual([]);
    store.close();
  });

  it('validates its arguments when called, before any iteration', () => {
    const store = Store.open({ dataDir: tempDir() });
    expectStoreError(() => store.eventsSince({ a: 1 } as never), StoreErrorCode.InvalidArgument, /Map/);
    expectStoreError(
      () => store.eventsSince(new Map([['a', -1]])),
      StoreErrorCode.InvalidArgument,
      /entry for a/,
    );
    expectStoreError(() => store.eventsSince(new Map([['', 1]])), StoreErrorCode.InvalidArgument);
    expectStoreError(() => store.eventsSince(new Map(), 0), StoreErrorCode.InvalidArgument, /pageSize/);
    expectStoreError(() => store.eventsSince(new Map(), 1e9), StoreErrorCode.InvalidArgument, /pageSize/);
    expectStoreError(() => store.eventsAfter(-1), StoreErrorCode.InvalidArgument, /after/);
    expectStoreError(() => store.eventsAfter(0, 1.5), StoreErrorCode.InvalidArgument, /pageSize/);
    store.close();
  });

  it('includes events appended while a stream is open, still in position order', () => {
    const store = Store.open({ dataDir: tempDir() });
    store.appendEvents([ev('a', 1), ev('b', 1), ev('a', 2), ev('b', 2)]);
    const stream = store.eventsSince(new Map(), 1);
    const got = [stream.next().value as StoredEvent];
    store.appendEvents([ev('a', 3), ev('b', 3)]);
    for (const e of stream) got.push(e);
    expect(got.map(key).slice(0, 4)).toEqual(['a#1', 'b#1', 'a#2', 'b#2']);
    expect(got.every((e, i) => i === 0 || e.pos > got[i - 1]!.pos)).toBe(true);
    store.close();
  });
});

describe('eventsAfter', () => {
  it('returns the events after a position, in order, across pages', () => {
    const store = Store.open({ dataDir: tempDir() });
    const log = Array.from({ length: 50 }, (_, i) => ev(ORIGINS[i % 3]!, Math.floor(i / 3) + 1));
    store.appendEvents(log);
    for (const [after, pageSize] of [
      [0, 1],
      [0, 50],
      [17, 4],
      [49, 3],
      [50, 10],
      [99, 2],
    ] as const) {
      expect([...store.eventsAfter(after, pageSize)].map(key)).toEqual(log.slice(after).map(key));
    }
    store.close();
  });
});

describe('streams overtaken by compaction', () => {
  function setup(): Store {
    const store = Store.open({ dataDir: tempDir() });
    const log = [ev('a', 1), ev('b', 1), ev('a', 2), ev('b', 2), ev('a', 3), ev('b', 3)];
    store.appendEvents(log);
    store.saveSnapshot({ pos: 6, vc: clockOf(log), bytes: Uint8Array.of(0) });
    return store;
  }

  it('ends eventsSince with STORE_LOG_CHANGED rather than skipping events', () => {
    for (const pageSize of [1, 2, 3]) {
      const store = setup();
      const stream = store.eventsSince(new Map(), pageSize);
      expect(stream.next().value).toMatchObject({ origin: 'a', seq: 1 });
      store.compact(4);
      expectStoreError(() => [...stream], StoreErrorCode.LogChanged, /compacted/);
      store.close();
    }
  });

  it('ends eventsAfter with STORE_LOG_CHANGED, but not for a compaction behind it', () => {
    const store = setup();
    const stream = store.eventsAfter(0, 2);
    expect(stream.next().value).toMatchObject({ pos: 1 });
    expect(stream.next().value).toMatchObject({ pos: 2 });
    store.compact(4);
    expectStoreError(() => stream.next(), StoreErrorCode.LogChanged);

    const behind = store.eventsAfter(4, 1);
    expect(behind.next().value).toMatchObject({ pos: 5 });
    store.compact(5);
    expect([...behind].map((e) => e.pos)).toEqual([6]);
    store.close();
  });
});
