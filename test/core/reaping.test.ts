// Agreed reaping (issue 7, "Reaping is one cut the cluster agrees on, and a reaped member that
// comes back loses nothing it acknowledged"), at the level of the pure replica: the reap
// markers and reports are CRDT state, and every replica refuses the reaped epoch's events
// beyond the same cut. The first test shows the fork the old, local rule produced.
import { describe, expect, it } from 'vitest';
import { type ReadonlyVectorClock, vcMin, vcToRecord } from '../../src/core/clock/vector-clock.js';
import { decodeEvent, encodeEvent } from '../../src/core/codec/event-codec.js';
import type { Event } from '../../src/core/event.js';
import { reapStateOf, reportOp } from '../../src/core/reaping.js';
import { Replica } from '../../src/core/replica.js';
import { Node } from './reap-node.js';

const A = 'a~1';
const B = 'b~1';
const P = 'p~1';

const node = (id: string): Node => new Node(new Replica({ id, wireVersion: 3 }));
const peer = (origin: string): string => origin.split('~')[0]!;
const rwAdd = (v: string) => ({ type: 'rw-set', key: 's', op: { kind: 'add', value: v } });
const rwRemove = (v: string) => ({ type: 'rw-set', key: 's', op: { kind: 'remove', value: v } });
const inc = (by = 1) => ({ type: 'pn-counter', key: 'c', op: { kind: 'increment', by } });

function marker(from: Node, epoch: string, members: string[]): Event {
  const seq = from.replica.clock().get(epoch) ?? 0;
  return from.write([reportOp(epoch, { node: peer(from.id), seq, members })], true);
}
function report(from: Node, epoch: string): Event {
  const seq = from.replica.clock().get(epoch) ?? 0;
  return from.write([reportOp(epoch, { node: peer(from.id), seq })], true);
}

function state(n: Node): string {
  return JSON.stringify({ vc: vcToRecord(n.replica.clock()), objects: n.replica.list() });
}

/**
 * The scenario of the issue: p's last event (an `add x`, concurrent with a's `remove x`)
 * reached only b before p died.
 */
function deadMemberReachedOnlyB(): { a: Node; b: Node; p: Node } {
  const a = node(A);
  const b = node(B);
  const p = node(P);
  p.write([inc()]);
  a.pull(p);
  b.pull(p);
  a.write([rwRemove('x')]);
  p.write([rwAdd('x')]); // concurrent with a's remove
  b.pull(p);
  b.pull(a);
  return { a, b, p };
}

describe('reaping: the old local rule forks the cluster', () => {
  it('a reaps p on its own and compacts; p:2, still at b, then makes a and b disagree', () => {
    const { a, b } = deadMemberReachedOnlyB();
    // a reaped p locally: stability waits for b only. b's report covers a's remove, and p as
    // far as a has it (p:1), so the remove's tombstone is stable at a.
    const stable = vcMin([a.replica.clock(), b.replica.clock()]);
    a.replica.compact(stable);
    b.replica.compact(stable);
    a.pull(b); // p:2 reaches a later, through b
    expect(a.replica.clock()).toEqual(b.replica.clock());
    // Same events delivered, different state: the fork the issue describes.
    expect(a.replica.read('rw-set', 's')?.value).toEqual(['x']);
    expect(b.replica.read('rw-set', 's')?.value).toEqual([]);
  });
});

/** Stability over the remaining members, as the reaper allows it: only once a holds the cut. */
function stableAfterReap(nodes: Node[], epoch: string): ReadonlyVectorClock {
  for (const n of nodes) {
    const s = n.replica.reapOf(epoch);
    if (s?.cut === undefined || (n.replica.clock().get(epoch) ?? 0) < s.cut) return new Map();
  }
  return vcMin(nodes.map((n) => n.replica.clock()));
}

describe('reaping: one agreed cut', () => {
  it('a marks p, b reports what it holds, a fetches up to the cut; compaction then keeps them equal', () => {
    const { a, b } = deadMemberReachedOnlyB();
    marker(a, P, [peer(A), peer(B)]);
    b.pull(a);
    expect(b.replica.reapOf(P)).toMatchObject({ missing: ['b'], limit: 1 });
    expect(b.replica.reapOf(P)?.cut).toBeUndefined(); // b has not reported: b is a participant
    report(b, P);
    expect(b.replica.reapOf(P)).toMatchObject({ missing: [], cut: 2, limit: 2 });
    // b's report causally follows p:2, so a delivers p:2 (fetched by anti-entropy) before it
    // learns the cut: whoever knows the cut holds the epoch up to it.
    a.pullOnce({ log: b.log.filter((e) => e.origin === B) });
    expect(a.replica.reapOf(P)?.cut).toBeUndefined();
    expect(stableAfterReap([a, b], P).size).toBe(0);
    a.pull(b);
    expect(a.replica.reapOf(P)?.cut).toBe(2);
    const stable = stableAfterReap([a, b], P);
    expect(stable.get(P)).toBe(2);
    a.replica.compact(stable);
    b.replica.compact(stable);
    expect(state(a)).toBe(state(b));
    expect(a.replica.read('rw-set', 's')?.value).toEqual([]);
  });

  it('two members reaping the same member concurrently reach the same cut, and refuse the rest', () => {
    const { a, b, p } = deadMemberReachedOnlyB();
    marker(a, P, [peer(A), peer(B)]);
    marker(b, P, [peer(A), peer(B)]); // concurrent: b has not seen a's marker
    const late = p.write([inc(100)]); // p:3, beyond both reports
    a.pull(b);
    b.pull(a);
    for (const n of [a, b]) {
      expect(n.replica.reapOf(P)).toMatchObject({ participants: ['a', 'b'], missing: [], cut: 2 });
      const before = n.refused();
      n.receive(late);
      expect(n.refused()).toBe(before + 1);
      expect(n.replica.clock().get(P)).toBe(2);
    }
    expect(a.replica.read('rw-set', 's')?.value).toEqual(b.replica.read('rw-set', 's')?.value);
    expect(state(a)).toBe(state(b));
  });

  it('before every participant reported, nothing beyond the highest report is delivered', () => {
    const a = node(A);
    const b = node(B);
    const c = node('c~1');
    const p = node(P);
    p.write([inc()]);
    p.write([inc()]);
    a.pull(p);
    b.pull(p);
    const e3 = p.write([inc()]);
    marker(a, P, ['a', 'b', 'c']); // a holds p:2
    b.pull(a);
    b.receive(e3); // b has not reported: it too keeps to the highest report seen
    expect(b.refused()).toBe(1);
    expect(b.replica.clock().get(P)).toBe(2);
    c.pull(p); // c heard p:3 before it saw any marker: it reports 3, which raises the limit
    c.pull(a);
    report(c, P);
    // b refuses p:3 at first; c's report (which causally follows p:3) waits in the buffer and
    // raises b's limit, so the next anti-entropy round fetches p:3 and then the report.
    b.pullOnce(c);
    expect(b.replica.clock().get(P)).toBe(2);
    b.pullOnce(c);
    expect(b.replica.reapOf(P)).toMatchObject({ missing: ['b'], limit: 3 });
    expect(b.replica.clock().get(P)).toBe(3);
    report(b, P);
    a.pull(b);
    a.pull(c);
    c.pull(b);
    for (const n of [a, b, c]) expect(n.replica.reapOf(P)?.cut).toBe(3);
    expect(state(a)).toBe(state(b));
    expect(state(b)).toBe(state(c));
  });

  it('a reap racing the member’s return: the cut holds, and p re-runs its writes beyond it under a new epoch', () => {
    const { a, b, p } = deadMemberReachedOnlyB();
    marker(a, P, ['a', 'b']);
    // p comes back and writes while the reports are collected; these are acknowledged to its
    // clients, but every replica refuses them once the reap is cut below them.
    const acked = [inc(10), inc(20)];
    for (const op of acked) p.write([op]);
    b.pull(a);
    report(b, P);
    a.pull(b);
    b.pull(p);
    a.pull(p);
    expect(a.refused()).toBeGreaterThan(0);
    p.pull(a);
    p.pull(b);
    expect(p.replica.pastCut()).toEqual([{ epoch: P, cut: 2, held: 4 }]);
    // Rebase: a peer's snapshot, a new epoch, and the client ops beyond the cut re-run as new
    // local writes against the current state.
    const p2 = new Node(Replica.fromSnapshot({ id: 'p~2', wireVersion: 3 }, a.replica.snapshot()));
    for (const op of acked) p2.write([op]);
    a.pull(p2);
    b.pull(p2);
    b.pull(a);
    a.pull(b);
    expect(p2.replica.pastCut()).toEqual([]);
    expect(state(a)).toBe(state(b));
    expect(state(a)).toBe(state(p2));
    // p:1 (1) and the re-run writes (10 + 20): nothing acknowledged is lost.
    expect(a.replica.read('pn-counter', 'c')?.value).toBe(31);
    expect(a.replica.clock().get(P)).toBe(2);
  });

  it('a participant that dies mid-reap is excused once it is reaped itself', () => {
    const a = node(A);
    const b = node(B);
    const d = node('d~1');
    const p = node(P);
    p.write([inc()]);
    for (const n of [a, b, d]) n.pull(p);
    d.write([inc()]);
    a.pull(d);
    b.pull(d);
    marker(a, P, ['a', 'b', 'd']); // d dies before it sees this
    b.pull(a);
    report(b, P);
    a.pull(b);
    expect(a.replica.reapOf(P)).toMatchObject({ missing: ['d'], cut: undefined });
    marker(a, 'd~1', ['a', 'b']); // d is reaped in turn
    b.pull(a);
    report(b, 'd~1');
    a.pull(b);
    for (const n of [a, b]) {
      expect(n.replica.reapOf('d~1')?.cut).toBe(1);
      expect(n.replica.reapOf(P)).toMatchObject({ missing: [], excused: ['d'], cut: 1 });
    }
    expect(state(a)).toBe(state(b));
  });

  it('a member joining mid-reap is bound by the markers it sees, and the reap does not wait for it', () => {
    const { a, b, p } = deadMemberReachedOnlyB();
    marker(a, P, ['a', 'b']);
    b.pull(a);
    // j joins now: it takes a's state (a snapshot), then hears p's latest event from p itself.
    const j = new Node(Replica.fromSnapshot({ id: 'j~1', wireVersion: 3 }, a.replica.snapshot()));
    const late = p.write([inc(7)]);
    j.receive(late);
    expect(j.refused()).toBe(1); // beyond the highest report it knows of (a's: 1)
    report(b, P);
    for (const n of [a, j]) n.pull(b);
    for (const n of [a, b, j])
      expect(n.replica.reapOf(P)).toMatchObject({ participants: ['a', 'b'], cut: 2 });
    expect(j.replica.pastCut()).toEqual([]);
    expect(j.replica.read('rw-set', 's')).toEqual(a.replica.read('rw-set', 's'));
    expect(j.replica.read('pn-counter', 'c')).toEqual(b.replica.read('pn-counter', 'c'));
  });

  it('a re-run write is causally after the state it is re-run against (the documented shift)', () => {
    // p's `remove y` beyond the cut was concurrent with b's `add y`: add wins. Re-run after the
    // rebase, the remove has seen the add, so y is gone.
    const a = node(A);
    const b = node(B);
    const p = node(P);
    const awAdd = (v: string) => ({ type: 'aw-set', key: 'w', op: { kind: 'add', value: v } });
    const awRemove = (v: string) => ({ type: 'aw-set', key: 'w', op: { kind: 'remove', value: v } });
    p.write([awAdd('y')]);
    a.pull(p);
    b.pull(p);
    b.write([awAdd('y')]); // concurrent with p's remove below
    p.write([awRemove('y')]); // beyond the cut: nobody else gets it
    a.pull(b);
    marker(a, P, ['a', 'b']);
    b.pull(a);
    report(b, P);
    a.pull(b);
    p.pull(a);
    expect(p.replica.pastCut()).toEqual([{ epoch: P, cut: 1, held: 2 }]);
    expect(a.replica.read('aw-set', 'w')?.value).toEqual(['y']); // the original outcome: add wins
    const p2 = new Node(Replica.fromSnapshot({ id: 'p~2', wireVersion: 3 }, a.replica.snapshot()));
    p2.write([awRemove('y')]);
    a.pull(p2);
    b.pull(p2);
    for (const n of [a, b, p2]) expect(n.replica.read('aw-set', 'w')?.value).toEqual([]);
  });

  it('the reap state is a function of the reports alone, whatever their order', () => {
    const els = [
      { node: 'a', seq: 3, members: ['a', 'b'] },
      { node: 'b', seq: 5 },
      { node: 'c', seq: 9 }, // not a participant: ignored for the cut
      { node: 'p', seq: 99, members: ['p', 'z'] }, // the reaped member's own report never counts
      { node: 'x' }, // malformed
    ];
    const s1 = reapStateOf(P, els);
    const s2 = reapStateOf(P, [...els].reverse());
    expect(s1).toEqual(s2);
    expect(s1).toMatchObject({ participants: ['a', 'b'], missing: [], cut: 5, limit: 5 });
    expect(reapStateOf(P, [{ node: 'b', seq: 5 }])).toBeUndefined(); // no marker: no reap
  });

  it('wire version 3: only a member writes its own report; version 2 keeps the old rule', () => {
    // Local writes obey ownership whatever the version.
    expect(() => node('m~1').write([reportOp(P, { node: 'a', seq: 0, members: ['a'] })], true)).toThrow(
      /own system records/,
    );
    const v3 = node(B);
    v3.receive(forgeAs('m~1', 3));
    expect(v3.replica.reapOf(P)).toBeUndefined();
    expect(v3.replica.stats().notOwner).toBe(1);
    const v2 = node(B);
    v2.receive(forgeAs('m~1', 2));
    expect(v2.replica.reapOf(P)?.cut).toBe(0);
  });
});

/** A report in `a`'s name, made by `writer` (bypassing the local rule), at `version`. */
function forgeAs(writer: string, version: number): Event {
  const a = node('a~9');
  const e = a.write([reportOp(P, { node: 'a', seq: 0, members: ['a'] })], true);
  return decodeEvent(encodeEvent({ ...e, origin: writer, seq: 1, deps: new Map() }, undefined, version));
}
