// Retired epochs pruned from the clocks a replica shows (issue 7, "Origin epochs": "retired
// epochs are pruned from clocks once reaped"; src/core/retired-epochs.ts). Before, a reaped
// epoch stayed in every clock (heartbeats, sync requests, snapshots, status) for good.
import { describe, expect, it } from 'vitest';
import { vcToRecord } from '../../src/core/clock/vector-clock.js';
import { decodeSnapshot, encodeSnapshot } from '../../src/core/codec/snapshot-codec.js';
import { Replica, type ReplicaSnapshot } from '../../src/core/replica.js';
import { Node, reapedTrio } from './reap-node.js';

const A = 'a~1';
const B = 'b~1';
const P = 'p~1';

const inc = (by = 1) => ({ type: 'pn-counter', key: 'c', op: { kind: 'increment', by } });

const reaped = (): { a: Node; b: Node; p: Node } => reapedTrio();

describe('retired epochs are pruned from the clocks a replica shows', () => {
  it('once the cut is agreed and held, the shown clock lacks the epoch; the delivered clock keeps it at the cut', () => {
    const { a, b } = reaped();
    for (const n of [a, b]) {
      expect(n.replica.reapOf(P)?.cut).toBe(2);
      expect(vcToRecord(n.replica.shownClock())).toEqual({ [A]: 2, [B]: 1 });
      expect(n.replica.clock().get(P)).toBe(2);
      expect(vcToRecord(n.replica.retiredCuts())).toEqual({ [P]: 2 });
    }
  });

  it('events of the retired epoch stay covered up to the cut and refused beyond it', () => {
    const { a, p } = reaped();
    const late = p.write([inc(100)]);
    a.receive(p.log[0]!);
    expect(a.replica.stats().duplicates).toBeGreaterThan(0);
    a.receive(late);
    expect(a.refused()).toBe(1);
    expect(a.replica.read('pn-counter', 'c')?.value).toBe(13);
  });

  it('a peer clock lacking the epoch reads as the cut only when it covers the witness report', () => {
    const { a, b } = reaped();
    // b pruned p: it holds b's own report, which follows p:2.
    expect(a.replica.expandClock(b.replica.shownClock()).get(P)).toBe(2);
    // A member that never had p and has not seen the reports: zero, so sync still serves p.
    expect(a.replica.expandClock(new Map([['z~1', 4]])).get(P)).toBeUndefined();
    // A clock that holds a's marker but not b's report (the witness is the report of the cut
    // with the smallest tag: both reported 2, a's tag a~1:2 < b's b~1:2).
    const w = a.replica.expandClock(new Map([[A, 2]]));
    expect(w.get(P)).toBe(2);
    expect(a.replica.expandClock(new Map([[A, 1]])).get(P)).toBeUndefined();
  });

  it('the API form keeps an entry at the cut that the clock cannot prove, so that expanding restores it exactly', () => {
    const { a } = reaped();
    // a's own clock covers the witness: the epoch goes, and comes back at the cut.
    expect(a.replica.pruneClock(a.replica.clock()).has(P)).toBe(false);
    expect(a.replica.expandClock(a.replica.pruneClock(a.replica.clock())).get(P)).toBe(2);
    // A clock at the cut without the witness keeps it: dropped, it would read as zero.
    const unproven = new Map([
      [P, 2],
      [B, 1],
    ]);
    expect(vcToRecord(a.replica.pruneClock(unproven))).toEqual({ [P]: 2, [B]: 1 });
  });

  it('a snapshot carries the retired cuts: a new joiner installs them and refuses the epoch beyond its cut', () => {
    const { a, p } = reaped();
    const full = a.replica.snapshot();
    const snap: ReplicaSnapshot = {
      ...full,
      vc: a.replica.shownClock(),
      retired: a.replica.retiredCuts(),
    };
    const bytes = encodeSnapshot({ ...snap, heads: [] });
    const decoded = decodeSnapshot(bytes);
    expect(decoded.vc.has(P)).toBe(false);
    expect(vcToRecord(decoded.retired ?? new Map())).toEqual({ [P]: 2 });
    const c = new Node(Replica.fromSnapshot({ id: 'c~1', wireVersion: 3 }, decoded));
    expect(c.replica.clock().get(P)).toBe(2);
    expect(c.replica.shownClock().has(P)).toBe(false);
    expect(c.replica.read('pn-counter', 'c')?.value).toBe(13);
    c.receive(p.log[1]!);
    expect(c.replica.read('pn-counter', 'c')?.value).toBe(13);
    c.receive(p.write([inc(100)]));
    expect(c.refused()).toBe(1);
  });

  it('a snapshot that claims an epoch retired which its own reports do not retire is refused', () => {
    const { a } = reaped();
    const snap: ReplicaSnapshot = { ...a.replica.snapshot(), retired: new Map([['q~1', 5]]) };
    expect(() => Replica.fromSnapshot({ id: 'c~1' }, snap)).toThrow(/retired at 5/);
    const wrongCut: ReplicaSnapshot = { ...a.replica.snapshot(), retired: new Map([[P, 7]]) };
    expect(() => Replica.fromSnapshot({ id: 'c~1' }, wrongCut)).toThrow(/retired at 7/);
  });

  it('an epoch held beyond its cut (past the cut: the replica must rebase) stays in the shown clock', () => {
    const { a, b, p } = reaped();
    // p, back, held its own epoch beyond the cut before it learned the reap.
    p.write([inc(5)]);
    p.pull(a);
    p.pull(b);
    expect(p.replica.pastCut()).toEqual([{ epoch: P, cut: 2, held: 3 }]);
    expect(p.replica.shownClock().get(P)).toBe(3);
  });
});
