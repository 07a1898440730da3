// Mutual reaps (issue 7): both sides of a long split reap each other. The rule in
// src/core/mutual-reap.ts voids the losing side's reap, from the two reap records alone.
import { describe, expect, it } from 'vitest';
import {
  compareSides,
  firmlyStands,
  isMutual,
  judge,
  mayLoseMutualReap,
  mayLoseTo,
  sideOf,
  standingOf,
  voidEpochs,
} from '../../src/core/mutual-reap.js';
import { type ReapState, reapStateOf, reapStatesOf, reportOp } from '../../src/core/reaping.js';

/**
 * The elements of a report set: a marker by the first reporter naming `named` (by default the
 * reporters), plain reports by the others. `by` reads "c:7 d:7" (reporter:seq).
 */
function records(by: string, named?: string): unknown[] {
  const reports = by.split(' ').map((r) => r.split(':') as [string, string]);
  const members = named?.split(' ') ?? reports.map(([n]) => n);
  return reports.map(([node, seq], i) => ({ node, seq: Number(seq), ...(i === 0 ? { members } : {}) }));
}

function reap(epoch: string, by: string, named?: string): ReapState {
  const s = reapStateOf(epoch, records(by, named));
  if (!s) throw new Error('no marker');
  return s;
}

const states = (sets: [string, string, string?][]) =>
  reapStatesOf(new Map(sets.map(([epoch, by, named]) => [epoch, records(by, named)])));

// 2|2: {a, b} reaped c and d; {c, d} reaped a and b. The first marker on each side named a
// member of the other side too (not being reaped yet then), excused once it is.
const SPLIT: [string, string, string?][] = [
  ['c~1', 'a:5 b:5', 'a b d'],
  ['d~1', 'a:4 b:4', 'a b'],
  ['a~1', 'c:7 d:7', 'c d b'],
  ['b~1', 'c:6 d:6', 'c d'],
];
const C1 = reap('c~1', 'a:5 b:5');
const D1 = reap('d~1', 'a:4 b:4');
const A1 = reap('a~1', 'c:7 d:7');
const B1 = reap('b~1', 'c:6 d:6');

describe('mutual reaps', () => {
  it('the side of a reap is the participants that reported, not the excused ones', () => {
    const a1 = states(SPLIT.slice(2)).get('a~1');
    expect(a1?.cut).toBe(7);
    expect(a1?.excused).toEqual(['b']);
    expect(a1 && sideOf(a1)).toEqual(['c', 'd']);
  });

  it('two reaps are mutual when each side reaped a member of the other and no member is on both', () => {
    expect(isMutual(C1, A1)).toBe(true);
    expect(isMutual(A1, C1)).toBe(true);
    expect(isMutual(D1, B1)).toBe(true);
    // One side reaping two members is no mutual reap.
    expect(isMutual(C1, D1)).toBe(false);
    // A member that reported on both saw both: not mutual (two force-leaves in one cluster).
    expect(isMutual(reap('c~1', 'a:5 b:5 d:5'), reap('a~1', 'c:7 b:7 d:7'))).toBe(false);
    // A reap without a cut is no side yet.
    const open = reap('a~1', 'c:7', 'c d');
    expect(open.cut).toBeUndefined();
    expect(isMutual(C1, open)).toBe(false);
  });

  it('the larger side wins; on a tie the side holding the smallest member id', () => {
    expect(compareSides(['x', 'y', 'z'], ['a', 'b'])).toBeLessThan(0);
    expect(compareSides(['a', 'b'], ['x', 'y', 'z'])).toBeGreaterThan(0);
    expect(compareSides(['b', 'c'], ['d', 'a'])).toBeGreaterThan(0);
    expect(compareSides(['d', 'a'], ['b', 'c'])).toBeLessThan(0);
    // {a, b} wins the 2|2 tie: the reaps of a and b are void, those of c and d stand.
    expect(standingOf(A1, [C1, D1])).toBe('void');
    expect(standingOf(B1, [C1, D1])).toBe('void');
    expect(standingOf(C1, [A1, B1])).toBe('stands');
    expect([...voidEpochs([C1, D1, A1, B1])].sort()).toEqual(['a~1', 'b~1']);
  });

  it('1|2: the pair reaps the lone member; the lone member’s reaps of the pair are void', () => {
    const lone: [string, string, string?][] = [
      ['b~1', 'a:3', 'a c'], // c is excused once c~1 is retired
      ['c~1', 'a:3'],
    ];
    expect(reap('b~1', 'a:3', 'a c').cut).toBeUndefined(); // alone, it waits for c
    expect(states(lone).get('b~1')?.cut).toBe(3);
    const merged = states([['a~1', 'b:9 c:9'], ...lone]);
    expect(merged.get('b~1')).toBeUndefined();
    expect(merged.get('c~1')).toBeUndefined();
    expect(merged.get('a~1')?.cut).toBe(9);
  });

  it('is the same whatever order the records were learned in, and for a member that joins later', () => {
    const summary = (m: Map<string, ReapState>) =>
      JSON.stringify([...m.values()].map((s) => [s.epoch, s.cut]).sort());
    const expected = summary(states(SPLIT));
    expect(expected).toBe(
      JSON.stringify([
        ['c~1', 5],
        ['d~1', 4],
      ]),
    );
    for (const order of [
      [3, 2, 1, 0],
      [2, 0, 3, 1],
      [1, 3, 0, 2],
    ]) {
      const sets = order.map((i) => SPLIT[i]!);
      const shuffled = new Map(sets.map(([e, by, named]) => [e, records(by, named).reverse()]));
      expect(summary(reapStatesOf(shuffled))).toBe(expected);
    }
    // One side's records alone: its reaps stand (before the heal, each side sees only its own).
    expect(summary(states(SPLIT.slice(2)))).toBe(
      JSON.stringify([
        ['a~1', 7],
        ['b~1', 6],
      ]),
    );
  });

  it('a member that reported on both sides dissolves the conflict: no reap is void', () => {
    const both = states([
      ['c~1', 'a:5 b:5'],
      ['a~1', 'c:7 b:7'],
    ]);
    expect(both.get('c~1')?.cut).toBe(5);
    expect(both.get('a~1')?.cut).toBe(7);
  });

  // 2|2|1: {a, b}, {c, d} and {e} each reaped every member of the other sides.
  const A = (m: string) => reap(`${m}~1`, 'a:5 b:5');
  const C = (m: string) => reap(`${m}~1`, 'c:6 d:6');
  const E = (m: string) => reap(`${m}~1`, 'e:7');
  const THREE = [...['c', 'd', 'e'].map(A), ...['a', 'b', 'e'].map(C), ...['a', 'b', 'c', 'd'].map(E)];
  const verdicts = (xs: ReapState[]) =>
    [...judge(xs)].map(([x, v]) => `${x.epoch}[${sideOf(x).join('')}]=${v}`).sort();

  it('three sides: one winner; every reap of the two losing sides is void, also of each other', () => {
    expect(verdicts(THREE).filter((v) => !v.endsWith('void'))).toEqual([
      'c~1[ab]=stands',
      'd~1[ab]=stands',
      'e~1[ab]=stands',
    ]);
    // e must not rebase onto {c, d}'s state: {c, d} lost to {a, b} (pairwise, {c, d} beat {e}).
    expect(standingOf(C('e'), THREE)).toBe('void');
    // Whatever order the records come in.
    expect(verdicts([...THREE].reverse())).toEqual(verdicts(THREE));
  });

  it('three sides, one not seen yet: a side that could lose to members it reaped is undecided', () => {
    // e sees {c, d}'s state before {a, b}'s: a and b, reaped by both, may be a side that wins.
    const seen = [...['a', 'b', 'e'].map(C), ...['a', 'b', 'c', 'd'].map(E)];
    expect(standingOf(C('e'), seen)).toBe('undecided');
    // Nothing of it is void in a state: an undecided reap keeps its cut there.
    expect(voidEpochs(seen).size).toBe(0);
    // With {a, b}'s records, decided.
    expect(standingOf(A('e'), [...seen, ...['c', 'd', 'e'].map(A)])).toBe('stands');
    // A reaped member that could not rank first leaves it decided: {c, d, x} beats {e} and x.
    const big = (m: string) => reap(`${m}~1`, 'c:6 d:6 x:6');
    expect(standingOf(big('e'), [big('a'), E('c'), E('d'), E('x'), E('a')])).toBe('stands');
  });

  it('members it reaped that all run an epoch nobody reaped cannot be a side: decided', () => {
    // Seed 9344 of three sides and a mover (as here): a and b agreed no cut, took the losing
    // side's state, then rebased again for the winner's reaps of them (which no conflict
    // touches): no member is left that holds records of theirs. The conflict was undecided for
    // good (a and b would rank first), and the losing side kept its state apart.
    const seen = [...['a', 'b', 'e'].map(C), ...['a', 'b', 'c', 'd'].map(E)];
    expect(standingOf(C('e'), seen, ['a~2', 'b~2', 'c~1'])).toBe('stands');
    expect(standingOf(E('c'), seen, ['a~2', 'b~2'])).toBe('void');
    // One of them still in its reaped epoch (or not seen since) may hold their records.
    expect(standingOf(C('e'), seen, ['a~2', 'b~1'])).toBe('undecided');
    expect(standingOf(C('e'), seen, ['a~2'])).toBe('undecided');
  });

  it('a losing side’s reap of an epoch the winner reaped at another cut is void', () => {
    // n reported with {c, d} on a's reap, then moved: {c, d, n} won against {a}; {e}, which
    // lost to them, reaped a at its own cut.
    const won = reap('a~1', 'c:9 d:9 n:9');
    const lost = reap('a~1', 'e:4');
    const xs = [won, lost, reap('c~1', 'a:2'), reap('e~1', 'c:3 d:3 n:3'), reap('c~1', 'e:1')];
    expect(standingOf(won, xs)).toBe('stands');
    expect(standingOf(lost, xs)).toBe('void');
  });

  it('a reap no conflict touches stands, mixed with mutual ones', () => {
    // x died before the split and was reaped by all; the 2|2 split's records are there too.
    const old = reap('x~1', 'a:3 b:3 c:3 d:3');
    expect(standingOf(old, [C1, D1, A1, B1])).toBe('stands');
    expect(voidEpochs([old, C1, D1, A1, B1])).toEqual(new Set(['a~1', 'b~1']));
  });

  it('a side may lose to the members it reaped only if they would rank first', () => {
    expect(mayLoseTo(['a', 'b'], [])).toBe(false);
    expect(mayLoseTo(['a', 'b'], ['c', 'd'])).toBe(false); // a is the smallest id
    expect(mayLoseTo(['c', 'd'], ['a', 'b'])).toBe(true);
    expect(mayLoseTo(['a'], ['b', 'c'])).toBe(true);
    expect(mayLoseTo(['b', 'c'], ['a'])).toBe(false);
  });

  it('a member keeps its client batches while the members it reaped could win', () => {
    const waited = () => ['c', 'd'];
    // 2|2: {c, d} reaped a and b, who hold the smallest id: c keeps them; a and b do not.
    expect(mayLoseMutualReap(['a', 'b'], [A1, B1], waited)).toBe(true);
    expect(mayLoseMutualReap(['c', 'd'], [C1, D1], waited)).toBe(false);
    expect(mayLoseMutualReap([], [A1, B1], waited)).toBe(false);
    // No reap with a cut retires them: its own side is itself and the members it waits for.
    expect(mayLoseMutualReap(['a', 'b'], [], waited)).toBe(true);
    expect(mayLoseMutualReap(['e'], [], waited)).toBe(false);
    // A side that split again (seed 9205 of the two sides with a mover, test/core/
    // mutual-reap-sides.test.ts): n0 reported with n2 on the reap of n1, then moved back to n1,
    // and n0 and n2 reaped each other; n0 wins that (smallest id). At n2 the side of the reaps
    // was {n0, n2}, as many as the reaped {n0, n1} and with n0 too: n2 dropped its batches, and
    // the sim ended with n2's writes beyond the cut lost (acked 211 of 234). n0 is reaped here:
    // n2's side is n2 alone.
    const n1 = reap('n1~e0', 'n2:11 n0:11');
    const n0 = reap('n0~e0', 'n2:23');
    expect(mayLoseMutualReap(['n0', 'n1'], [n1, n0], () => ['n2'])).toBe(true);
  });

  it('a rebase from another member’s epoch needs a reap whose side’s other reaps stand too', () => {
    // Seed 9303 of three sides and a mover: {n0, n2} reaped n1, n3 and n4; then n2 moved away
    // and n0 and n2 reaped each other (n0 wins). n3 took n2's state (it holds n2~e0 beyond
    // n0's cut): n0's reap of n2 is firm, and n3 rebases again onto n0's state.
    const side = ['n1~e0', 'n3~e0', 'n4~e0'].map((e) => reap(e, 'n0:9 n2:9'));
    const n2 = reap('n2~e0', 'n0:30');
    const n0 = reap('n0~e0', 'n2:21');
    expect(firmlyStands(n2, [n0, ...side])).toBe(true);
    expect(standingOf(n0, [n2, ...side])).toBe('void');
    // Seed 9331: n1 and n2, each alone, reaped the others; their conflict is undecided (n0 and
    // n3 may be a side that wins). n1's reap of n3 is contested by nobody, and stands, but n1's
    // other reaps do not: n2 must not rebase for it from n3's epoch (it did, and waited for
    // good for a state holding it, once n1 itself lost).
    const byN1 = [reap('n0~e0', 'n1:6'), reap('n2~e0', 'n1:6')];
    const byN2 = [reap('n0~e0', 'n2:6'), reap('n1~e0', 'n2:6'), reap('n3~e0', 'n2:8')];
    const n3 = reap('n3~e0', 'n1:4');
    expect(standingOf(n3, [...byN1, ...byN2])).toBe('stands');
    expect(firmlyStands(n3, [...byN1, ...byN2])).toBe(false);
  });

  it('the marker op carries what the rule reads', () => {
    const op = reportOp('c~1', { node: 'a', seq: 5, members: ['b', 'a'] }) as { op: { value: unknown } };
    expect(op.op.value).toEqual({ node: 'a', seq: 5, members: ['a', 'b'] });
  });
});
