// Two reaps one after the other were taken for a mutual reap (issue 7; docs/chaos.md "Mutual and
// opposite-order reaps", found by the nemesis's mutual-reap fault: seed 1, 4 agents, 30 s).
// First {c, d} reaped a~1 and b~1 (the opposite-reaps fault); a and b rebased and came back as
// a~2 and b~2. Later a split put a and b on one side, c and d on the other, and each side
// force-left the other. a's marker for c~1 named only a (b was "being reaped" in its view: an
// old reap of b~1 is in its state, and src/agent/reaper.ts `initiate` left out every member
// with any reap in the state; src/core/reaping.ts excused b anyway, its b~1 being retired; both
// changed since: test/core/reaping-rebased-participant.test.ts), so its side is {a}. `isMutual` paired it with the old reap of a~1 (side {c, d}): each side holds
// the other's member and they share none. {c, d} ranks first, so a's reaps of c~1 and d~1 were
// void in a's own state: they never got a cut, the fault waited 60 s for nothing, and after the
// heal the run lost acknowledged writes (pn-counters short by 21 to 86; `a1 was reaped at 662
// but logged no rebase`). Before the fix the first test failed with `expected undefined to be
// 50` (c~1's reap voided). The old reap retired an epoch a no longer writes under: a reported on
// c~1 as a~2, which no reap names. The rule now reads the epoch each report was written under
// (the tags of the report set's elements: the dots of the events that added them).
import { describe, expect, it } from 'vitest';
import type { Dot } from '../../src/core/clock/vector-clock.js';
import { isMutual } from '../../src/core/mutual-reap.js';
import { type ReapState, reapStatesOf, reportOp } from '../../src/core/reaping.js';
import { Replica } from '../../src/core/replica.js';
import { Node } from './reap-node.js';

/**
 * A report set: a marker by the first reporter naming `named` (by default the reporters), then
 * plain reports. `by` reads "c:7@c~1 d:7@d~1": reporter, the seq it reported, and the epoch it
 * wrote the report under (the origin of the dot that tags the element).
 */
function records(by: string, named?: string): { value: unknown; tags: Dot[] }[] {
  const reports = by.split(' ').map((r) => /^(\w+):(\d+)@(\S+)$/.exec(r)?.slice(1) ?? []);
  const members = named?.split(' ') ?? reports.map(([n]) => n);
  return reports.map(([node, seq, under], i) => ({
    value: { node, seq: Number(seq), ...(i === 0 ? { members } : {}) },
    tags: [{ origin: under ?? '', seq: 100 + i }],
  }));
}

/** The reap states of `sets` ([epoch, by, named?]), judged with the reports' tags. */
function states(sets: [string, string, string?][]): Map<string, ReapState> {
  const elements = new Map(sets.map(([epoch, by, named]) => [epoch, records(by, named)]));
  return reapStatesOf(
    new Map([...elements].map(([epoch, els]) => [epoch, els.map((e) => e.value)])),
    (epoch) => elements.get(epoch) ?? [],
  );
}

// The opposite-reaps fault: c and d reaped a~1 and b~1.
const EARLIER: [string, string, string?][] = [
  ['a~1', 'c:1@c~1 d:1@d~1'],
  ['b~1', 'c:7@c~1 d:7@d~1'],
];

describe('a reap after an older reap of its reporter', () => {
  it('stands: the reporter came back under a new epoch, so the two are not mutual', () => {
    // Later, a (as a~2) alone on the reaps of c~1 and d~1.
    const s = states([...EARLIER, ['c~1', 'a:50@a~2', 'a'], ['d~1', 'a:40@a~2', 'a']]);
    expect(s.get('a~1')?.cut).toBe(1);
    expect(s.get('c~1')?.cut).toBe(50);
    expect(s.get('d~1')?.cut).toBe(40);
    const [a1, c1] = [s.get('a~1'), s.get('c~1')];
    expect(a1 && c1 && isMutual(c1, a1)).toBe(false);
  });

  it('a real mutual reap is still judged mutual: a reported under the epoch {c, d} reaped', () => {
    // The same records, but a wrote its reports as a~1 (during the split that reaped a~1).
    const s = states([...EARLIER, ['c~1', 'a:50@a~1', 'a'], ['d~1', 'a:40@a~1', 'a']]);
    expect(s.get('a~1')?.cut).toBe(1);
    // {c, d} ranks first: a's reaps are void, as if their records were not there.
    expect(s.get('c~1')).toBeUndefined();
    expect(s.get('d~1')).toBeUndefined();
  });

  it('a new reap of the new epoch makes them mutual again: a~2 reaped while it reaped c and d', () => {
    // {c, d} reaped a~2 too, during the second split: that pair is mutual, the old one is not.
    const s = states([
      ...EARLIER,
      ['a~2', 'c:9@c~1 d:9@d~1'],
      ['c~1', 'a:50@a~2', 'a'],
      ['d~1', 'a:40@a~2', 'a'],
    ]);
    expect(s.get('a~2')?.cut).toBe(9);
    expect(s.get('c~1')).toBeUndefined();
    expect(s.get('d~1')).toBeUndefined();
  });

  it('records without tags are judged by ids alone, as before', () => {
    const sets = new Map([
      [
        'a~1',
        [
          { node: 'c', seq: 1, members: ['c', 'd'] },
          { node: 'd', seq: 1 },
        ],
      ],
      ['c~1', [{ node: 'a', seq: 50, members: ['a'] }]],
    ]);
    const s = reapStatesOf(sets);
    expect(s.get('a~1')?.cut).toBe(1);
    expect(s.get('c~1')).toBeUndefined();
  });

  it('in a replica: a~2, having taken the state that retired a~1, gets its own reaps of c and d cut', () => {
    // A replica reads the tags from its report sets (src/core/replica/state.ts).
    const node = (id: string): Node => new Node(new Replica({ id, wireVersion: 3 }));
    const [c, d] = [node('c~1'), node('d~1')];
    c.write([{ type: 'pn-counter', key: 'k', op: { kind: 'increment', by: 1 } }]);
    d.pull(c);
    c.write([reportOp('a~1', { node: 'c', seq: 0, members: ['c', 'd'] })], true);
    d.pull(c);
    d.write([reportOp('a~1', { node: 'd', seq: 0 })], true);
    c.pull(d);
    // a comes back as a~2 with the state that retired a~1, then reaps c~1 and d~1 alone.
    const a = node('a~2');
    a.pull(c);
    expect(a.replica.reapOf('a~1')?.cut).toBe(0);
    const held = (e: string) => a.replica.clock().get(e) ?? 0;
    a.write([reportOp('c~1', { node: 'a', seq: held('c~1'), members: ['a'] })], true);
    a.write([reportOp('d~1', { node: 'a', seq: held('d~1'), members: ['a'] })], true);
    expect(a.replica.reapOf('c~1')?.cut).toBe(held('c~1'));
    expect(a.replica.reapOf('d~1')?.cut).toBe(held('d~1'));
  });
});
