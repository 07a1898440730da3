// Causal stability (src/core/stability.ts). Found while building the lifecycle simulation
// (test/core/lifecycle-simulation.test.ts): a report that covers an event of an origin no
// member speaks for any more (the old epoch of a member that lost its store, a member reaped or
// gone) must not count while we lack that event, or compaction folds what the event, still on
// its way to us, is concurrent with.
import { describe, expect, it } from 'vitest';
import { del, inc, receive, write } from '../support/replicas.js';
import { StabilityTracker } from '../../src/core/stability.js';
import { Replica } from '../../src/core/replica.js';
import { vcToRecord } from '../../src/core/clock/vector-clock.js';

describe('StabilityTracker', () => {
  it("a member's report counts only once we hold every event it covers, whoever made them", () => {
    const a = new Replica({ id: 'a' });
    const b = new Replica({ id: 'b' });
    const d = new Replica({ id: 'd' });
    const cOld = new Replica({ id: 'c~e0' });
    const a1 = write(a, inc(1));
    const a2 = write(a, inc(10));
    receive(cOld, a1);
    const c1 = write(cOld, del()); // resets a1's increment only
    receive(b, a1, a2);
    receive(d, a1, a2, c1); // gossip brought c1 to d alone; then c lost its store
    const cNew = Replica.fromSnapshot({ id: 'c~e1' }, b.snapshot()); // new epoch, state from b
    expect(d.read('pn-counter', 'c')?.value).toBe(10);

    const t = new StabilityTracker('a');
    for (const [peer, r] of [
      ['b', b],
      ['c', cNew],
      ['d', d],
    ] as const)
      t.observe(peer, r.clock(), a.clock());
    a.compact(t.stable(a.clock(), ['b', 'c', 'd']));
    receive(a, c1); // from d, by anti-entropy
    expect(a.read('pn-counter', 'c')?.value).toBe(10);
    // Holding c1, d's report counts: a2 is stable now.
    expect(vcToRecord(t.stable(a.clock(), ['b', 'c', 'd']))).toEqual({ a: 2 });
  });

  it('keeps earlier reports, so that stability advances while the latest is still ahead of us', () => {
    const t = new StabilityTracker('a');
    const local = new Map([
      ['a', 5],
      ['x', 3],
    ]);
    t.observe(
      'b',
      new Map([
        ['a', 4],
        ['x', 2],
      ]),
      local,
    );
    t.observe(
      'b',
      new Map([
        ['a', 5],
        ['x', 4],
      ]),
      local,
    ); // x:4 is still on its way to us
    expect(vcToRecord(t.stable(local, ['b']))).toEqual({ a: 4, x: 2 });
    local.set('x', 4);
    expect(vcToRecord(t.stable(local, ['b']))).toEqual({ a: 5, x: 4 });
  });

  it('is empty while a member has no report that counts', () => {
    const t = new StabilityTracker('a');
    const local = new Map([['a', 5]]);
    expect(t.stable(local, ['b']).size).toBe(0);
    t.observe(
      'b',
      new Map([
        ['a', 5],
        ['y', 1],
      ]),
      local,
    );
    expect(t.stable(local, ['b']).size).toBe(0);
    expect(vcToRecord(t.stable(local, []))).toEqual({ a: 5 });
  });
});
