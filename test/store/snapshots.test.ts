/**
 * Snapshots and compaction (DESIGN.md "Snapshots and compaction"): which snapshots are kept,
 * that compaction needs a covering snapshot and drops exactly the covered positions, and that
 * sequence numbers and positions are never reused afterwards, across reopens too.
 */
import { describe, expect, it } from 'vitest';

import { StoreErrorCode } from '../../src/store/store-errors.js';
import { Store } from '../../src/store/store.js';
import { clockOf, ev, expectStoreError, useTempDirs } from './helpers.js';

const tempDir = useTempDirs();

const LOG = [ev('a', 1), ev('b', 1), ev('a', 2), ev('c', 1), ev('b', 2), ev('a', 3)];

function seeded(dir = tempDir()): Store {
  const store = Store.open({ dataDir: dir });
  store.appendEvents(LOG);
  return store;
}

describe('snapshots', () => {
  it('has none at first, then returns the latest with its clock and bytes', () => {
    const store = seeded();
    expect(store.latestSnapshot()).toBeUndefined();
    expect(store.snapshots()).toEqual([]);
    store.saveSnapshot({ pos: 0, vc: new Map(), bytes: Uint8Array.of() });
    store.saveSnapshot({ pos: 3, vc: clockOf(LOG.slice(0, 3)), bytes: Uint8Array.of(1, 2, 3) });
    expect(store.latestSnapshot()).toEqual({
      pos: 3,
      vc: new Map([
        ['a', 2],
        ['b', 1],
      ]),
      bytes: Uint8Array.of(1, 2, 3),
    });
    store.close();
  });

  it('keeps the latest two, newest first, and replaces one at the same position', () => {
    const dir = tempDir();
    const store = seeded(dir);
    for (const pos of [1, 2, 4])
      store.saveSnapshot({ pos, vc: clockOf(LOG.slice(0, pos)), bytes: Uint8Array.of(pos) });
    expect(store.snapshots().map((s) => s.pos)).toEqual([4, 2]);
    store.saveSnapshot({ pos: 4, vc: clockOf(LOG.slice(0, 4)), bytes: Uint8Array.of(40) });
    expect(store.snapshots().map((s) => [s.pos, s.bytes[0]])).toEqual([
      [4, 40],
      [2, 2],
    ]);
    store.close();
    const reopened = Store.open({ dataDir: dir });
    expect(reopened.snapshots().map((s) => s.pos)).toEqual([4, 2]);
    expect(reopened.latestSnapshot()?.vc).toEqual(
      new Map([
        ['a', 2],
        ['b', 1],
        ['c', 1],
      ]),
    );
    reopened.close();
  });

  it('refuses positions beyond the log or behind the latest snapshot, and bad arguments', () => {
    const store = seeded();
    store.saveSnapshot({ pos: 3, vc: new Map(), bytes: Uint8Array.of() });
    expectStoreError(
      () => {
        store.saveSnapshot({ pos: 7, vc: new Map(), bytes: Uint8Array.of() });
      },
      StoreErrorCode.InvalidArgument,
      /beyond the log's last position 6/,
    );
    expectStoreError(
      () => {
        store.saveSnapshot({ pos: 2, vc: new Map(), bytes: Uint8Array.of() });
      },
      StoreErrorCode.InvalidArgument,
      /older than the latest snapshot/,
    );
    expectStoreError(() => {
      store.saveSnapshot({ pos: 4, vc: { a: 1 } as never, bytes: Uint8Array.of() });
    }, StoreErrorCode.InvalidArgument);
    expectStoreError(() => {
      store.saveSnapshot({ pos: 4, vc: new Map(), bytes: 'x' as never });
    }, StoreErrorCode.InvalidArgument);
    expectStoreError(() => {
      store.saveSnapshot({ pos: -1, vc: new Map(), bytes: Uint8Array.of() });
    }, StoreErrorCode.InvalidArgument);
    expect(store.snapshots().map((s) => s.pos)).toEqual([3]);
    store.close();
  });
});

describe('compaction', () => {
  it('requires a snapshot at or after the compaction point', () => {
    const store = seeded();
    expectStoreError(() => store.compact(2), StoreErrorCode.NoSnapshot, /no snapshot is saved/);
    store.saveSnapshot({ pos: 2, vc: clockOf(LOG.slice(0, 2)), bytes: Uint8Array.of() });
    expectStoreError(() => store.compact(3), StoreErrorCode.NoSnapshot, /latest snapshot is at position 2/);
    expect(store.logStats().events).toBe(6);
    expect(store.compactedClock()).toEqual(new Map());
    store.close();
  });

  it('refuses to drop events the snapshot clock does not cover', () => {
    const store = seeded();
    store.saveSnapshot({
      pos: 4,
      vc: new Map([
        ['a', 2],
        ['b', 1],
      ]),
      bytes: Uint8Array.of(),
    });
    expectStoreError(() => store.compact(4), StoreErrorCode.NoSnapshot, /covers c only up to seq 0/);
    expect(store.logStats().events).toBe(6);
    expect(store.compactedClock()).toEqual(new Map());
    store.close();
  });

  it('drops exactly the positions up to the point and records what it dropped', () => {
    const dir = tempDir();
    const store = seeded(dir);
    store.saveSnapshot({ pos: 5, vc: clockOf(LOG.slice(0, 5)), bytes: Uint8Array.of(7) });
    expect(store.compact(4)).toBe(4);
    expect([...store.eventsAfter(0)].map((e) => e.pos)).toEqual([5, 6]);
    expect(store.logStats()).toEqual({ events: 2, bytes: 6, lastPos: 6 });
    expect(store.compactedClock()).toEqual(
      new Map([
        ['a', 2],
        ['b', 1],
        ['c', 1],
      ]),
    );
    expect([store.maxSeq('a'), store.maxSeq('b'), store.maxSeq('c')]).toEqual([3, 2, 1]);
    expect(LOG.every((e) => store.hasEvent(e.origin, e.seq))).toBe(true);
    // A compacted event arriving again is a duplicate, not a new entry.
    expect(store.appendEvents([ev('a', 1), ev('c', 1)])).toBe(0);
    // Compacting behind the point again drops nothing and keeps the clock.
    expect(store.compact(3)).toBe(0);
    expect(store.compactedClock()).toEqual(
      new Map([
        ['a', 2],
        ['b', 1],
        ['c', 1],
      ]),
    );
    store.close();

    const reopened = Store.open({ dataDir: dir });
    expect(reopened.compactedClock()).toEqual(
      new Map([
        ['a', 2],
        ['b', 1],
        ['c', 1],
      ]),
    );
    expect(reopened.logStats()).toEqual({ events: 2, bytes: 6, lastPos: 6 });
    expect(reopened.maxSeq('c')).toBe(1);
    reopened.close();
  });

  it('never reuses a seq or a position after everything was compacted and the store reopened', () => {
    const dir = tempDir();
    const store = seeded(dir);
    store.saveSnapshot({ pos: 6, vc: clockOf(LOG), bytes: Uint8Array.of() });
    expect(store.compact(6)).toBe(6);
    store.close();

    const reopened = Store.open({ dataDir: dir });
    expect(reopened.logStats()).toEqual({ events: 0, bytes: 0, lastPos: 6 });
    expect([reopened.maxSeq('a'), reopened.maxSeq('b'), reopened.maxSeq('c')]).toEqual([3, 2, 1]);
    expect(reopened.hasEvent('a', 3)).toBe(true);
    expect(reopened.appendEvents([ev('a', 3), ev('a', 4)])).toBe(1);
    expect([...reopened.eventsAfter(0)].map((e) => [e.pos, e.origin, e.seq])).toEqual([[7, 'a', 4]]);
    expect([...reopened.eventsSince(new Map())].map((e) => e.seq)).toEqual([4]);
    reopened.close();
  });

  it('rejects a bad compaction point', () => {
    const store = seeded();
    expectStoreError(() => store.compact(-1), StoreErrorCode.InvalidArgument, /upTo/);
    expectStoreError(() => store.compact(Number.NaN), StoreErrorCode.InvalidArgument, /upTo/);
    store.close();
  });
});

describe('installing a peer snapshot', () => {
  it('replaces the log; the log then starts after the snapshot clock, across reopen', () => {
    const dir = tempDir();
    const store = seeded(dir);
    const vc = new Map([
      ['a', 5],
      ['b', 2],
      ['c', 1],
      ['d', 4],
    ]);
    store.installSnapshot({ vc, bytes: Uint8Array.of(9) });
    expect(store.logStats().events).toBe(0);
    expect(store.compactedClock()).toEqual(vc);
    expect(store.latestSnapshot()?.bytes).toEqual(Uint8Array.of(9));
    expect(store.maxSeq('d')).toBe(4);
    expect(store.appendEvents([ev('d', 3), ev('d', 5)])).toBe(1); // d:3 is covered by the snapshot
    store.close();
    const again = Store.open({ dataDir: dir });
    expect(again.compactedClock()).toEqual(vc);
    expect([...again.eventsSince(new Map())].map((e) => `${e.origin}${e.seq}`)).toEqual(['d5']);
    again.close();
  });

  it('refuses a snapshot that does not cover the log, and changes nothing', () => {
    const store = seeded();
    expectStoreError(
      () => {
        store.installSnapshot({ vc: new Map([['a', 3]]), bytes: Uint8Array.of(1) });
      },
      StoreErrorCode.NoSnapshot,
      /Push those events/,
    );
    expect(store.logStats().events).toBe(LOG.length);
    expect(store.latestSnapshot()).toBeUndefined();
    store.close();
  });

  it('keeps the given events of an origin it does not cover after the snapshot, across reopen', () => {
    const dir = tempDir();
    const store = seeded(dir);
    const vc = new Map([
      ['a', 1],
      ['b', 2],
      ['c', 1],
    ]);
    const keep = [...store.eventsSince(vc)];
    expect(keep.map((e) => `${e.origin}${e.seq}`)).toEqual(['a2', 'a3']);
    expectStoreError(
      () => {
        store.installSnapshot({ vc, bytes: Uint8Array.of(7), keep: keep.slice(0, 1) });
      },
      StoreErrorCode.NoSnapshot,
      /Push those events/,
    );
    store.installSnapshot({ vc, bytes: Uint8Array.of(7), keep });
    expect(store.logStats().events).toBe(2);
    expect(store.compactedClock()).toEqual(vc);
    expect(store.maxSeq('a')).toBe(3);
    store.close();
    const again = Store.open({ dataDir: dir });
    const snap = again.latestSnapshot();
    expect(snap?.bytes).toEqual(Uint8Array.of(7));
    expect([...again.eventsAfter(snap?.pos ?? 0)].map((e) => `${e.origin}${e.seq}`)).toEqual(['a2', 'a3']);
    expect(again.appendEvents([ev('a', 4)])).toBe(1);
    again.close();
  });
});
