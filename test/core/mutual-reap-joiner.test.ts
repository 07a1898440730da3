// A member that joins during a split whose sides reap each other (issue 7; test/core/sim/
// mutual-reap-scenario.ts with `joiner`): a fresh node joins, through a member of it, the side
// that ranks last (`small`) or first (`large`) by the members it split with, at a random beat of
// the split: before that side's markers (they name it, and it may tip the count) or after (it
// holds that side's epochs, and rebases from them should the side lose). Every acknowledged
// increment must be present exactly once, and every replica equal.
//
// Replay one seed with SMAC_SIM_SEED=<seed> npx vitest run test/core/mutual-reap-joiner.test.ts
import { describe, expect, it } from 'vitest';
import { lifecycleSeeds } from './sim/lifecycle-scenario.js';
import { runMutualReap } from './sim/mutual-reap-scenario.js';

const hint = (seed: number, what: string) =>
  `${what} seed ${seed} (replay: SMAC_SIM_SEED=${seed} npx vitest run test/core/mutual-reap-joiner.test.ts)`;

describe('a member that joins during a split whose sides reap each other (issue 7)', () => {
  it.each(lifecycleSeeds(20, 9400))('seed %i: two sides, the joiner on the smaller', (seed) => {
    const run = runMutualReap(seed, { joiner: 'small' });
    expect(run.problems.slice(0, 8), `${hint(seed, 'small')}\n${run.summary}`).toEqual([]);
  });

  it.each(lifecycleSeeds(20, 9500))('seed %i: two sides, the joiner on the larger', (seed) => {
    const run = runMutualReap(seed, { joiner: 'large' });
    expect(run.problems.slice(0, 8), `${hint(seed, 'large')}\n${run.summary}`).toEqual([]);
  });

  it.each(lifecycleSeeds(10, 9600))('seed %i: three sides, the joiner on the smallest', (seed) => {
    const run = runMutualReap(seed, { joiner: 'small', sides: 3 });
    expect(run.problems.slice(0, 8), `${hint(seed, '3 sides, small')}\n${run.summary}`).toEqual([]);
  });
});

describe('mutation: own_ops kept only while the reaped members would win against our side', () => {
  // A rule of before (`ownOps: 'sides'`, src/core/mutual-reap.ts `mayLoseMutualReap`): a side
  // counts the members it reaped as the other side, but a member that joined the other side
  // before its markers counts there too. The smaller side, tipped to win by its joiner, is the
  // bigger one as the other side counts; that side prunes its client batches, loses, and its
  // rebase re-runs only what it kept: acknowledged increments are lost.
  it.each([9400, 9404, 9407, 9414])('seed %i: the losing side loses writes', (seed) => {
    const run = runMutualReap(seed, { joiner: 'small', ownOps: 'sides' });
    expect(run.problems.join('\n'), `${hint(seed, 'own_ops by sides')}: passed\n${run.summary}`).toMatch(
      /acked reads \d+, but clients were acknowledged/,
    );
  });
});
