// A split into three sides or more, each reaping the others (issue 7; test/core/sim/
// mutual-reap-scenario.ts with `sides: 3`): apart for 2.5 × reapAfterMs, all writing and
// compacting; two sides meet first, for a while, then all. Every acknowledged increment must be
// present exactly once, and every replica equal. A member that moves between two sides while
// the reports are collected (`mover`) is run too.
//
// Replay one seed with SMAC_SIM_SEED=<seed> npx vitest run test/core/mutual-reap-sides.test.ts
import { describe, expect, it } from 'vitest';
import { lifecycleSeeds } from './sim/lifecycle-scenario.js';
import { runMutualReap } from './sim/mutual-reap-scenario.js';

const hint = (seed: number, what: string) =>
  `${what} seed ${seed} (replay: SMAC_SIM_SEED=${seed} npx vitest run test/core/mutual-reap-sides.test.ts)`;

describe('a split into three sides that reap each other (issue 7)', () => {
  it.each(lifecycleSeeds(20, 9100))(
    'seed %i: one side keeps its state, no acknowledged write is lost',
    (seed) => {
      const run = runMutualReap(seed, { sides: 3 });
      expect(run.problems.slice(0, 8), `${hint(seed, '3 sides')}\n${run.summary}`).toEqual([]);
      expect(run.kept).toBeGreaterThan(0);
    },
  );
});

describe('a member that moves between sides while reports are collected (issue 7)', () => {
  it.each(lifecycleSeeds(20, 9200))('seed %i: two sides and a mover', (seed) => {
    const run = runMutualReap(seed, { mover: true });
    expect(run.problems.slice(0, 8), `${hint(seed, 'mover')}\n${run.summary}`).toEqual([]);
  });

  it.each(lifecycleSeeds(10, 9300))('seed %i: three sides and a mover', (seed) => {
    const run = runMutualReap(seed, { sides: 3, mover: true });
    expect(run.problems.slice(0, 8), `${hint(seed, '3 sides, mover')}\n${run.summary}`).toEqual([]);
  });
});
