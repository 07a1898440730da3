// Reaps that wait only on each other (issue 7): two operators force-leave two down members x and
// y in opposite orders, so the marker for x's epoch names y and the marker for y's names x.
// Neither can report; src/core/reaping.ts `waitingOnEachOther` excuses them, from the reports
// alone, so both reaps complete.
import { describe, expect, it } from 'vitest';
import { type ReapState, reapStatesOf, waitingOnEachOther } from '../../src/core/reaping.js';

/** A report set: `by` reads "a:5 b:5" (reporter:seq); the first reporter's marker names `named`. */
function records(by: string, named: string): unknown[] {
  const reports = by.split(' ').map((r) => r.split(':') as [string, string]);
  return reports.map(([node, seq], i) => ({
    node,
    seq: Number(seq),
    ...(i === 0 ? { members: named.split(' ') } : {}),
  }));
}

const states = (sets: [string, string, string][]) =>
  reapStatesOf(new Map(sets.map(([epoch, by, named]) => [epoch, records(by, named)])));
const cuts = (m: Map<string, ReapState>) =>
  [...m.values()].map((s) => [s.epoch, s.cut, s.excused, s.missing]).sort();

// a force-left x then y, b force-left y then x, at once: each marker names the other's member.
const OPPOSITE: [string, string, string][] = [
  ['x~1', 'a:5 b:5 c:4', 'a b c y'],
  ['y~1', 'b:7 a:7 c:7', 'a b c x'],
];

describe('reaps that wait only on each other', () => {
  it('two markers naming each other’s member: both reaps complete, each excusing the other', () => {
    const m = states(OPPOSITE);
    expect(cuts(m)).toEqual([
      ['x~1', 5, ['y'], []],
      ['y~1', 7, ['x'], []],
    ]);
  });

  it('is the same whatever order the reports were learned in', () => {
    const reversed = new Map(OPPOSITE.map(([e, by, named]) => [e, records(by, named).reverse()]));
    expect(cuts(reapStatesOf(new Map([...reversed].reverse())))).toEqual(cuts(states(OPPOSITE)));
  });

  it('waits while a member that is not being reaped has yet to report', () => {
    // c has not reported on x's epoch: x's reap waits for c, so y is not excused from it, and
    // y's reap goes on waiting for x.
    const m = states([['x~1', 'a:5 b:5', 'a b c y'], OPPOSITE[1]!]);
    expect(cuts(m)).toEqual([
      ['x~1', undefined, [], ['c', 'y']],
      ['y~1', undefined, [], ['x']],
    ]);
    expect(waitingOnEachOther(m.values())).toEqual(new Set());
  });

  it('counts a report the member did make', () => {
    // y reported on x's epoch before it went down: x's reap completes on its own, then y's
    // excuses x the usual way (x is retired).
    const m = states([['x~1', 'a:5 b:5 c:4 y:6', 'a b c y'], OPPOSITE[1]!]);
    expect(cuts(m)).toEqual([
      ['x~1', 6, [], []],
      ['y~1', 7, ['x'], []],
    ]);
  });

  it('three reaps in a ring complete together', () => {
    const m = states([
      ['x~1', 'a:1 b:1', 'a b y'],
      ['y~1', 'a:2 b:2', 'a b z'],
      ['z~1', 'a:3 b:3', 'a b x'],
    ]);
    expect(cuts(m).map(([e, cut]) => [e, cut])).toEqual([
      ['x~1', 1],
      ['y~1', 2],
      ['z~1', 3],
    ]);
  });

  it('does not excuse a member with an open reap of another epoch that waits on someone else', () => {
    // x has a second epoch whose reap still waits for c: x is not only waiting on y's reap.
    const m = states([...OPPOSITE, ['x~2', 'a:1', 'a c']]);
    expect(cuts(m)).toEqual([
      ['x~1', undefined, [], ['y']],
      ['x~2', undefined, [], ['c']],
      ['y~1', undefined, [], ['x']],
    ]);
  });
});

describe('a member back from an opposite-order reap', () => {
  // The nemesis (long run seed 22, 5 agents): a0 and a2 force-left a3 and a4 in opposite orders,
  // so their reaps completed by excusing each other (above). a3 and a4 came back under new
  // epochs. Then the winners of a mutual reap (a0, a2, a3, a4) reaped a1: the marker named a3
  // and a4 and listed their old epochs as retired (they report under their new ones). But the
  // cycle of the old reaps excused a3 and a4 from every reap, a1's too, so a1's reap completed
  // on a0's and a2's reports alone: its side was {a0, a2}, the losers' reaps of a3 and a4 were no
  // longer mutual with it, and a3 and a4 (winners) rebased for them and lost writes.
  it('is not excused by that cycle from a later reap whose marker lists its old epoch', () => {
    const later: unknown[] = [
      { node: 'a', seq: 9, members: ['a', 'b', 'x', 'y'], retired: ['x~1', 'y~1'] },
      { node: 'b', seq: 9 },
    ];
    const m = reapStatesOf(
      new Map([
        ...OPPOSITE.map(([e, by, named]): [string, unknown[]] => [e, records(by, named)]),
        ['z~1', later],
      ]),
    );
    expect(cuts(m)).toEqual([
      ['x~1', 5, ['y'], []],
      ['y~1', 7, ['x'], []],
      ['z~1', undefined, [], ['x', 'y']],
    ]);
  });
});
