// The nemesis's faults of two reaps at once (scripts/chaos/nemesis-reaps.js; docs/chaos.md
// "Mutual and opposite-order reaps"): their place in the plan, the winner the harness expects,
// which rebase lines belong to a reap, and what fails a run.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FAULT_KINDS, Nemesis, type ReapRecord } from '../../scripts/chaos/nemesis.js';
import { compareSides, reapFaultFailures } from '../../scripts/chaos/nemesis-reaps.js';
import { isRebaseLine } from '../../scripts/chaos/nemesis-rebase.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function agent(lines: object[] = []): { dir: string; storeLosses: number[] } {
  const dir = mkdtempSync(join(tmpdir(), 'smac-chaos-reap-faults-'));
  dirs.push(dir);
  writeFileSync(
    join(dir, 'agent.log'),
    `${['--- start 1', ...lines.map((l) => JSON.stringify(l))].join('\n')}\n`,
  );
  return { dir, storeLosses: [] };
}

/** A seeded generator with the nemesis's interface (mulberry32, as scripts/chaos/prng.js). */
function rng(seed: number) {
  let state = seed >>> 0;
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (lo: number, hi: number) => lo + Math.floor(next() * (hi - lo + 1));
  return { int, chance: (p: number) => next() < p, pick: <T>(xs: T[]) => xs[int(0, xs.length - 1)] };
}

function nemesis(agents: ReturnType<typeof agent>[], seed = 1, reapFaults = true): Nemesis {
  return new Nemesis({
    rng: rng(seed),
    agents,
    apis: [],
    clients: [],
    net: undefined,
    history: { ops: [] },
    storeLoss: true,
    reapFaults,
    log: () => undefined,
  });
}

describe('the two-reap faults in the plan', () => {
  it('are added last, opposite-reaps only with 4 agents or more; without them a plan is as before', () => {
    const three = [agent(), agent(), agent()];
    expect(nemesis(three).kinds).toEqual([...FAULT_KINDS, 'mutual-reap']);
    expect(nemesis([...three, agent()]).kinds).toEqual([...FAULT_KINDS, 'mutual-reap', 'opposite-reaps']);
    expect(nemesis([...three, agent()], 1, false).kinds).toEqual(FAULT_KINDS);
  });

  it('put the first opposite-reaps before every other reap (its members were never reaped)', () => {
    const four = [agent(), agent(), agent(), agent()];
    for (let seed = 1; seed <= 30; seed++) {
      const plan = nemesis(four, seed).plan(9);
      const o = plan.indexOf('opposite-reaps');
      for (const k of ['force-leave', 'mutual-reap'])
        expect(plan.indexOf(k), `seed ${seed}`).toBeGreaterThan(o);
      expect(new Set(plan).size).toBe(9);
    }
  });
});

describe('the winner of a mutual reap, as the harness predicts it', () => {
  it('is the side with more members, on a tie the one holding the smallest peer id', () => {
    expect(compareSides(['b', 'c'], ['a'])).toBeLessThan(0);
    expect(compareSides(['b', 'd'], ['c', 'a'])).toBeGreaterThan(0);
    expect(compareSides(['a', 'd'], ['c', 'b'])).toBeLessThan(0);
  });
});

describe('rebase lines', () => {
  const own = { reaped: 'P~e1', cut: 5, held: 9, origin: 'P~e2', rerun: 4 };
  // A rebase from another member's epoch (held beyond its cut) names ours as abandoned.
  const foreign = {
    reaped: 'Q~f',
    cut: 3,
    held: 7,
    origin: 'P~e2',
    abandoned: 'P~e1',
    handedOver: 5,
    rerun: 6,
  };
  it('belong to the reap of the epoch they name, or of ours a foreign rebase gave up', () => {
    expect(isRebaseLine(own, new Set(['P~e1']))).toBe(true);
    expect(isRebaseLine(foreign, new Set(['P~e1']))).toBe(true);
    expect(isRebaseLine(foreign, new Set(['Q~f']))).toBe(true);
    expect(isRebaseLine({ rerun: 4 }, new Set(['P~e1']))).toBe(false); // the end of a re-run
    // An own rebase from an older epoch names the current one abandoned: not a rebase for it.
    expect(isRebaseLine({ ...own, abandoned: 'P~e0' }, new Set(['P~e0']))).toBe(false);
  });
});

describe('what fails a run', () => {
  const mutual = (fields: Record<string, unknown>, kind = 'mutual-reap') =>
    ({ kind, targets: [1], end: 0, reap: { epoch: '', cut: 0 }, ...fields }) as unknown as ReapRecord;

  it('a mutual-reap or opposite-reaps fault that never reaped as meant', () => {
    const n = nemesis([agent(), agent(), agent(), agent()]);
    n.faults.push(mutual({ mutual: false, members: [] }));
    n.faults.push(mutual({ crossed: false }, 'opposite-reaps'));
    expect(reapFaultFailures(n)).toEqual([
      'no mutual-reap fault had each side of its split reap the other',
      'no opposite-reaps fault had two reaps name each other’s member',
    ]);
  });

  it('a winner that rebased for the losers’ (void) reap of it, not for a later reap of the same epoch', () => {
    const line = { reaped: 'W~w', cut: 40, held: 50, origin: 'W~x', rerun: 10 };
    const ok = nemesis([agent(), agent([{ ...line, cut: 90 }]), agent()]);
    const bad = nemesis([agent(), agent([line]), agent()]);
    for (const n of [ok, bad]) {
      n.faults.push(
        mutual({
          mutual: true,
          winners: [1, 2],
          losers: [0],
          voided: [{ epoch: 'W~w', cut: 40 }],
          winnersLogFrom: { 1: 0, 2: 0 },
        }),
      );
    }
    expect(reapFaultFailures(ok)).toEqual([]);
    expect(reapFaultFailures(bad)).toHaveLength(1);
    expect(reapFaultFailures(bad)[0]).toMatch(/^a1 won the mutual reap \(sides a1\+a2 \| a0\) but rebased/);
  });
});
