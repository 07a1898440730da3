// The nemesis's split faults (scripts/chaos/nemesis-splits.js; docs/chaos.md "Three-way
// splits and a joiner during a split"): which runs have them, their place in the plan, and
// what fails a run.
import { describe, expect, it } from 'vitest';
import { FAULT_KINDS, Nemesis, type ReapRecord } from '../../scripts/chaos/nemesis.js';
import { rankSides } from '../../scripts/chaos/nemesis-reaps.js';
import { SPLIT_KINDS, splitFaultFailures } from '../../scripts/chaos/nemesis-splits.js';
import { Prng } from '../../scripts/chaos/prng.js';
import { reportedSide } from '../../scripts/chaos/reap-cuts.js';

const agent = () => ({ dir: '/nonexistent', storeLosses: [] });
const addAgent = () => Promise.resolve();

function nemesis(count: number, seed = 1, splitFaults = true): Nemesis {
  return new Nemesis({
    rng: new Prng(seed),
    agents: Array.from({ length: count }, agent),
    apis: [],
    clients: [],
    net: undefined,
    history: { ops: [] },
    storeLoss: true,
    reapFaults: true,
    splitFaults,
    addAgent,
    log: () => undefined,
  });
}

describe('the split faults in the plan', () => {
  it('come with 4 agents or more, last; the CI-sized run (3 agents) keeps its plan', () => {
    expect(nemesis(3).kinds).toEqual([...FAULT_KINDS, 'mutual-reap']);
    expect(nemesis(3).plan(40)).toEqual(nemesis(3, 1, false).plan(40));
    expect(nemesis(5).kinds).toEqual([...FAULT_KINDS, 'mutual-reap', 'opposite-reaps', ...SPLIT_KINDS]);
  });

  it('have the joiner once per run, and the first opposite-reaps before a three-way reap', () => {
    for (let seed = 1; seed <= 30; seed++) {
      const plan = nemesis(5, seed).plan(60);
      expect(
        plan.filter((k) => k === 'join-during-split'),
        `seed ${seed}`,
      ).toHaveLength(1);
      for (const k of SPLIT_KINDS) expect(plan.slice(0, 12), `seed ${seed}`).toContain(k);
      expect(plan.indexOf('three-way-reap'), `seed ${seed}`).toBeGreaterThan(plan.indexOf('opposite-reaps'));
    }
  });
});

describe('what fails a run', () => {
  const fault = (fields: Record<string, unknown>) =>
    ({ targets: [0], end: 0, reap: { epoch: '', cut: 0 }, ...fields }) as unknown as ReapRecord;

  it('a three-way reap whose sides did not all reap, and a joiner that wrote nothing in its split', () => {
    const n = nemesis(5);
    n.faults.push(fault({ kind: 'three-way-reap', mutual: false }));
    n.faults.push(fault({ kind: 'join-during-split', joined: false }));
    expect(splitFaultFailures(n)).toEqual([
      'no three-way-reap fault had each side reap the two others',
      'no join-during-split fault had the joiner acknowledge a write during the split',
    ]);
    n.faults.push(fault({ kind: 'three-way-reap', mutual: true }));
    n.faults.push(fault({ kind: 'join-during-split', joined: true }));
    expect(splitFaultFailures(n)).toEqual([]);
  });
});

describe('a side as the agents judge it', () => {
  it('is who reported on its new reaps of the other side: not the excused, not a member left out', () => {
    const agents = ['A', 'B', 'C', 'D'].map((peerId) => ({ peerId }));
    const rs = [
      // b left out of the marker (reaped before), d excused: the side is {a} alone.
      { epoch: 'C~2', participants: ['A', 'D'], excused: ['D'], cut: 5 },
      { epoch: 'C~1', participants: ['A', 'B'], cut: 3 }, // done before the fault
      { epoch: 'A~1', participants: ['C'], cut: 4 }, // not a reap of the other side
    ];
    expect(reportedSide(agents, rs, [2], new Set(['C~1']))).toEqual([0]);
    expect(reportedSide(agents, rs, [2], new Set())).toEqual([0, 1]);
  });
});

describe('the winner the harness expects', () => {
  it('is ranked over the sides as reported: a side whose members were left out looks smaller', () => {
    const agents = ['A', 'B', 'C', 'D', 'E'].map((peerId) => ({ peerId }));
    const nem = { agents } as unknown as Parameters<typeof rankSides>[0];
    const groups = [[3, 4], [0, 1], [2]];
    // d and e reported on their side's reaps; of a and b only b did (a was reaped before).
    const rs = [];
    rs[3] = ['A', 'B', 'C'].map((p) => ({ epoch: `${p}~1`, participants: ['D', 'E'], cut: 1 }));
    rs[0] = ['C', 'D', 'E'].map((p) => ({
      epoch: `${p}~1`,
      participants: ['B', 'A'],
      excused: ['A'],
      cut: 1,
    }));
    rs[2] = ['A', 'B', 'D', 'E'].map((p) => ({ epoch: `${p}~1`, participants: ['C'], cut: 1 }));
    const r = rankSides(nem, groups, rs, new Set());
    expect(r.reported).toEqual([[3, 4], [1], [2]]);
    expect(r.byGroups).toEqual([1, 0, 2]); // {a, b} holds the smallest id of the two pairs
    expect(r.ranked).toEqual([0, 1, 2]); // as reported, {d, e} has more members
    expect(rankSides(nem, groups, undefined, new Set()).ranked).toEqual([1, 0, 2]);
  });
});
