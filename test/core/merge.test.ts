/**
 * Joining two replicas whose histories diverged (src/core/crdt/join.ts, src/core/replica/merge.ts).
 * Two single replicas with distinct origins write random ops on overlapping keys, each
 * compacting (everything is stable for a single replica) at random points; the join of their
 * snapshots must equal a third replica that delivered both histories' events.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type VectorClock, vcToRecord } from '../../src/core/clock/vector-clock.js';
import type { Event } from '../../src/core/event.js';
import { encodeKeyspace, decodeKeyspace } from '../../src/core/keyspace.js';
import { DEFAULT_LIMITS } from '../../src/core/limits.js';
import { Replica, type ReplicaSnapshot } from '../../src/core/replica.js';
import { joinSnapshots } from '../../src/core/replica/merge.js';
import { Prng } from '../support/prng.js';
import { randomKeyOp } from './sim/random-ops.js';

const NOW = 1_700_000_000_000;

/** rw-set ops (and maps, which may nest one), for the runs that keep them out. */
function hasRwSet(op: unknown): boolean {
  return JSON.stringify(op).includes('rw-set');
}

interface Run {
  readonly replica: Replica;
  readonly events: Event[];
}

/**
 * `n` random writes by `r`, compacting with probability `pCompact` after each, at `stable`
 * (default: its clock, all stable for a single replica).
 */
function writeRandom(
  r: Replica,
  rng: Prng,
  n: number,
  pCompact: number,
  noRw: boolean,
  into: Event[],
  stable?: VectorClock,
): void {
  for (let i = 0; i < n; i++) {
    let op = randomKeyOp(rng);
    while (noRw && hasRwSet(op)) op = randomKeyOp(rng);
    const { event } = r.step({ kind: 'local', ops: [op] }, NOW + into.length);
    if (event) into.push(event);
    if (rng.chance(pCompact)) r.compact(stable ?? r.clock());
  }
}

function run(
  id: string,
  seed: number,
  n: number,
  pCompact: number,
  noRw: boolean,
  prefix: readonly Event[] = [],
): Run {
  const replica = new Replica({ id });
  for (const e of prefix) replica.step({ kind: 'remote', event: e, bytes: 100 }, NOW);
  const events: Event[] = [];
  writeRandom(replica, new Prng(seed), n, pCompact, noRw, events);
  return { replica, events };
}

/** A replica that delivered `histories` interleaved at random (each in its own order). */
function deliverAll(id: string, rng: Prng, histories: readonly (readonly Event[])[]): Replica {
  const r = new Replica({ id });
  const queues = histories.map((h) => [...h]);
  for (;;) {
    const open = queues.filter((q) => q.length > 0);
    if (open.length === 0) return r;
    const e = rng.pick(open).shift()!;
    r.step({ kind: 'remote', event: e, bytes: 100 }, NOW);
  }
}

/** Values of every object, plus the encoded state once both fold everything they hold. */
function digest(r: Replica): unknown {
  const copy = Replica.fromSnapshot({ id: `${r.id}-copy` }, r.snapshot());
  copy.compact(copy.clock());
  return { values: r.list(), clock: vcToRecord(r.clock()), state: copy.snapshot().keyspace };
}

function joined(a: ReplicaSnapshot, b: ReplicaSnapshot, id = 'j'): Replica {
  return Replica.fromSnapshot({ id }, joinSnapshots(a, b, DEFAULT_LIMITS));
}

const params = fc.record({
  seed: fc.integer({ min: 1, max: 2 ** 31 - 1 }),
  n: fc.integer({ min: 0, max: 40 }),
  m: fc.integer({ min: 0, max: 40 }),
  pCompact: fc.constantFrom(0, 0.1, 0.5, 1),
  shared: fc.integer({ min: 0, max: 15 }),
});

/** Events of a third origin that both sides delivered before they went apart. */
function sharedPrefix(seed: number, n: number, noRw: boolean): Event[] {
  return run('p', seed + 7, n, 0, noRw).events;
}

describe('join of two diverged replicas', () => {
  it('equals a replica that delivered both histories (every type but rw-set, compacting at random)', () => {
    fc.assert(
      fc.property(params, ({ seed, n, m, pCompact, shared }) => {
        const p = sharedPrefix(seed, shared, true);
        const a = run('a', seed, n, pCompact, true, p);
        const b = run('b', seed + 1, m, pCompact, true, p);
        const c = deliverAll('c', new Prng(seed + 2), [p, a.events, b.events]);
        expect(digest(joined(a.replica.snapshot(), b.replica.snapshot()))).toEqual(digest(c));
      }),
      { numRuns: 150 },
    );
  });

  it('equals it for every type, rw-set included, when neither compacted', () => {
    fc.assert(
      fc.property(params, ({ seed, n, m, shared }) => {
        const p = sharedPrefix(seed, shared, false);
        const a = run('a', seed, n, 0, false, p);
        const b = run('b', seed + 1, m, 0, false, p);
        const c = deliverAll('c', new Prng(seed + 2), [p, a.events, b.events]);
        expect(digest(joined(a.replica.snapshot(), b.replica.snapshot()))).toEqual(digest(c));
      }),
      { numRuns: 150 },
    );
  });

  it('is commutative and idempotent, every type, compacting at random', () => {
    fc.assert(
      fc.property(params, ({ seed, n, m, pCompact, shared }) => {
        const p = sharedPrefix(seed, shared, false);
        const a = run('a', seed, n, pCompact, false, p).replica.snapshot();
        const b = run('b', seed + 1, m, pCompact, false, p).replica.snapshot();
        const ab = joinSnapshots(a, b, DEFAULT_LIMITS);
        expect(ab).toEqual(joinSnapshots(b, a, DEFAULT_LIMITS));
        expect(joinSnapshots(ab, ab, DEFAULT_LIMITS)).toEqual(ab);
        expect(joinSnapshots(a, a, DEFAULT_LIMITS).keyspace).toEqual(a.keyspace);
        // Joining a side again changes nothing (absorption).
        expect(joinSnapshots(ab, b, DEFAULT_LIMITS)).toEqual(ab);
      }),
      { numRuns: 150 },
    );
  });

  it('then accepts later events of either side: both merge, write on, and meet a third replica', () => {
    fc.assert(
      fc.property(params, ({ seed, n, m, pCompact, shared }) => {
        const rng = new Prng(seed + 3);
        const p = sharedPrefix(seed, shared, true);
        const a = run('a', seed, n, pCompact, true, p);
        const b = run('b', seed + 1, m, pCompact, true, p);
        const snapA = a.replica.snapshot();
        const snapB = b.replica.snapshot();
        a.replica.merge(snapB);
        b.replica.merge(snapA);
        expect(digest(a.replica)).toEqual(digest(b.replica));
        // Each writes on after its merge, and each receives the other's later events. Now a
        // pair, each may fold only what both delivered and every later op observed: the merge.
        const laterA: Event[] = [];
        const laterB: Event[] = [];
        const stable = a.replica.clock();
        writeRandom(a.replica, rng, 15, pCompact, true, laterA, stable);
        writeRandom(b.replica, rng, 15, pCompact, true, laterB, stable);
        for (const e of laterB) a.replica.step({ kind: 'remote', event: e, bytes: 100 }, NOW);
        for (const e of laterA) b.replica.step({ kind: 'remote', event: e, bytes: 100 }, NOW);
        const c = deliverAll('c', rng, [p, [...a.events, ...laterA], [...b.events, ...laterB]]);
        expect(digest(a.replica)).toEqual(digest(c));
        expect(digest(b.replica)).toEqual(digest(c));
      }),
      { numRuns: 100 },
    );
  });
});

describe('join: what compaction folded away (documented, docs/semantics.md "Merging two histories")', () => {
  const rw = (key: string, kind: string, value?: number) => ({
    type: 'rw-set',
    key,
    op: value === undefined ? { kind } : { kind, value },
  });

  it('the exactness property fails for rw-set once a side compacts (fast-check finds a case)', () => {
    const out = fc.check(
      fc.property(params, ({ seed, n, m }) => {
        const a = run('a', seed, n, 1, false);
        const b = run('b', seed + 1, m, 1, false);
        const c = deliverAll('c', new Prng(seed + 2), [a.events, b.events]);
        expect(joined(a.replica.snapshot(), b.replica.snapshot()).list()).toEqual(c.list());
      }),
      { numRuns: 300, seed: 42 },
    );
    expect(out.failed).toBe(true);
  });

  it("an rw-set remove that one side folded away no longer wins over the other side's concurrent add", () => {
    const a = new Replica({ id: 'a' });
    const b = new Replica({ id: 'b' });
    const events: Event[] = [];
    for (const op of [rw('s', 'add', 1), rw('s', 'add', 2), rw('s', 'remove', 1)]) {
      const { event } = a.step({ kind: 'local', ops: [op] }, NOW);
      if (event) events.push(event);
    }
    const { event: eb } = b.step({ kind: 'local', ops: [rw('s', 'add', 1)] }, NOW);
    if (!eb) throw new Error('no event');
    // Before a compacts, the join is exact: a's remove is concurrent with b's add and wins.
    const c = deliverAll('c', new Prng(1), [events, [eb]]);
    expect(c.read('rw-set', 's')?.value).toEqual([2]);
    expect(joined(a.snapshot(), b.snapshot()).read('rw-set', 's')?.value).toEqual([2]);
    // Once a folded the stable remove, the join shows b's add.
    a.compact(a.clock());
    expect(joined(a.snapshot(), b.snapshot()).read('rw-set', 's')?.value).toEqual([1, 2]);
  });
});

describe('merge into a replica', () => {
  it('validates the snapshot first and changes nothing when it is bad', () => {
    const a = new Replica({ id: 'a' });
    a.step({ kind: 'local', ops: [{ type: 'pn-counter', key: 'c', op: { kind: 'increment' } }] }, NOW);
    const before = a.snapshot();
    const bad: ReplicaSnapshot = { vc: new Map([['b', 1]]), hlc: before.hlc, keyspace: [['pn-counter']] };
    expect(() => {
      a.merge(bad);
    }).toThrow(/entry/);
    expect(a.snapshot()).toEqual(before);
    const forged: ReplicaSnapshot = { ...before, vc: new Map([['b', 1]]), retired: new Map([['z', 3]]) };
    expect(() => {
      a.merge(forged);
    }).toThrow(/retired/);
    expect(a.snapshot()).toEqual(before);
    // State the clock does not cover (the heads prove the clock only): refused too.
    const b = new Replica({ id: 'b' });
    b.step({ kind: 'local', ops: [{ type: 'aw-set', key: 's', op: { kind: 'add', value: 1 } }] }, NOW);
    const beyond: ReplicaSnapshot = { ...b.snapshot(), vc: new Map() };
    expect(() => {
      a.merge(beyond);
    }).toThrow(/does not cover/);
    expect(a.snapshot()).toEqual(before);
  });

  it('of two single counters that each folded: both read the sum', () => {
    const a = new Replica({ id: 'a' });
    const b = new Replica({ id: 'b' });
    for (let i = 0; i < 60; i++) {
      for (const r of [a, b]) {
        r.step({ kind: 'local', ops: [{ type: 'pn-counter', key: 'n', op: { kind: 'increment' } }] }, NOW);
        if (i === 30) r.compact(r.clock());
      }
    }
    const sa = a.snapshot();
    a.merge(b.snapshot());
    b.merge(sa);
    expect(a.read('pn-counter', 'n')?.value).toBe(120);
    expect(b.snapshot().keyspace).toEqual(a.snapshot().keyspace);
    expect(
      decodeKeyspace(encodeKeyspace(decodeKeyspace(a.snapshot().keyspace, DEFAULT_LIMITS)), DEFAULT_LIMITS)
        .size,
    ).toBe(1);
  });
});
