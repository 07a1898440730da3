// A second rebase from the same epoch at a lower cut (issue 7; docs/agent.md "Reaping", "A
// second, lower cut of an epoch we rebased from"). Three agents, c holding the smallest id, then
// a, then b. First a alone is cut off while b writes 10 batches that reach c but not a; then all
// three split 1|1|1 and a takes a fresh agent j (through a): each side force-leaves the others.
// a's reap of b's epoch bE0 is cut where a stopped hearing b (L); c's, alone, where c did (H,
// L + 10). b meets c first and takes c for the winner (mutual-reap.ts: a, reaped by both, ranks
// after c), so b rebases from bE0 at H onto c's state and re-runs its writes beyond H. But {a, j}
// counts two and wins: at the heal b learns bE0's lower cut L and rebases from bE0 again. Its
// writes between L and H were acknowledged, and every replica refuses them now (they are beyond
// the winners' cut): the second rebase must re-run them. In the second case b learns L while its
// first rebase still waits for c's state (cut off from c right as it learns H), and c gives that
// state up meanwhile: b must wait for a state that retires bE0 at L instead (one at H no longer
// comes), re-running its writes between the cuts too; what it wrote while it waited, on its
// emptied store, depends on nothing refused and stands as it is.
import { afterEach, describe, expect, it } from 'vitest';
import type { Agent } from '../../src/agent/agent.js';
import type { Rebaser } from '../../src/agent/rebase.js';
import { hits, incHits, stopAll, waitFor } from './helpers.js';
import { cutOf } from './reap-setup.js';
import { waitAllEqual } from './side-tools.js';
import { heal, split } from './split.js';
import { bMeetsCFirst, dumpAndThrow, reapAcross, splitWithJoinerOnA, threeWrote } from './three-sides.js';

let agents: Agent[] = [];
afterEach(async () => {
  await stopAll(agents);
  agents = [];
});

/**
 * Three agents (c, a, b by peer id), a cut off while b writes 10 batches that c gets, then
 * 1|1|1 with j joined to a, force-leaves across, and 5 writes each before and after them.
 */
async function twoCutsOfB(): Promise<{
  three: [Agent, Agent, Agent];
  j: Agent;
  bEpoch: string;
  acked: number;
  between: number;
  low: number | undefined;
  high: number | undefined;
}> {
  const { three, ...first } = await threeWrote(agents);
  const [a, b, c] = three;
  let { acked } = first;
  const bEpoch = b.status().origin;

  // a alone is cut off; b's writes reach c only (c's cut of bE0 will be above a's).
  await split([[a], [b, c]]);
  let between = 0;
  for (let i = 0; i < 10; i++) between += await incHits(b, 1 + (i % 3));
  acked += between;
  await waitFor(() => hits(c) === hits(b), 'b’s writes on c');

  // 1|1|1, and j joins a: {a, j} will count two.
  const j = await splitWithJoinerOnA(agents, three);
  for (let i = 0; i < 5; i++) for (const x of agents) acked += await incHits(x, 1);
  await reapAcross(agents, three, j);
  const low = cutOf(a, bEpoch);
  const high = cutOf(c, bEpoch);
  // The shape: c's cut of bE0 holds b's 10 writes that a never got (and may hold a system
  // write of b's, such as its load record, that reached c before the second split: 13 against
  // 12 once on a loaded machine).
  expect(high).toBeGreaterThanOrEqual((low ?? 0) + 10);
  for (let i = 0; i < 5; i++) for (const x of agents) acked += await incHits(x, 1);
  return { three, j, bEpoch, acked, between, low, high };
}

describe('a second rebase from the same epoch at a lower cut', () => {
  it(
    'b rebases from its epoch at c’s cut, then at a’s lower cut: all equal, every acknowledged write once',
    { timeout: 420_000 },
    async () => {
      const { three, j, bEpoch, between, low, high, ...rest } = await twoCutsOfB();
      let { acked } = rest;
      const [, b] = three;
      // b and c meet first: b takes c for the winner and rebases from bE0 at c's cut.
      await bMeetsCFirst(agents, three, j);
      const bFirst = b.status().origin;
      for (let i = 0; i < 5; i++) for (const x of agents) acked += await incHits(x, 1);

      // The heal: {a, j} wins, and bE0 is retired at a's cut, below the first one.
      await heal(agents);
      await waitAllEqual(agents, acked, {
        more: () =>
          `acked ${acked}, of which b's between the cuts ${between}; cuts of bE0 ${low} (a) ${high} (c)`,
      });
      expect(b.status().origin).not.toBe(bFirst);
      for (const x of agents) expect(cutOf(x, bEpoch)).toBe(low);
    },
  );

  it(
    'b learns a’s lower cut while its first rebase waits for c’s state, which c gave up: b waits for a’s instead',
    { timeout: 420_000 },
    async () => {
      const { three, j, bEpoch, between, low, high, ...rest } = await twoCutsOfB();
      let { acked } = rest;
      const [a, b, c] = three;
      // Right as b learns c's cut (from c's snapshot), it loses c: its rebase empties its store
      // and waits for a state that retires bE0 at c's cut.
      const rebaser = (b as unknown as { rebaser: Rebaser }).rebaser;
      const notice = rebaser.ownEpochCut.bind(rebaser);
      let cutOff: Promise<void> | undefined;
      rebaser.ownEpochCut = (epoch, cut, side) => {
        cutOff ??= split([[a, j], [b], [c]]);
        void cutOff.then(() => {
          notice(epoch, cut, side);
        });
      };
      await split([
        [a, j],
        [b, c],
      ]);
      for (const y of [b, c]) await y.isolate(false);
      await waitFor(() => b.status().origin !== bEpoch, 'b to start its rebase', 120_000).catch(
        dumpAndThrow(agents),
      );
      expect(hits(b)).toBe(0); // emptied, waiting
      rebaser.ownEpochCut = notice;
      // Acknowledged while it waits, under its new epoch.
      for (let i = 0; i < 3; i++) acked += await incHits(b, 1);

      // c meets a and j, loses, and rebases onto a's state: the state b waits for is gone.
      const cOrigin = c.status().origin;
      await split([[a, j, c], [b]]);
      await c.isolate(false);
      await waitFor(
        () => c.status().origin !== cOrigin && hits(c) === hits(a),
        'c to rebase onto a’s state',
        120_000,
      ).catch(dumpAndThrow(agents));
      for (let i = 0; i < 5; i++) for (const x of agents) acked += await incHits(x, 1);

      await heal(agents);
      await waitAllEqual(agents, acked, {
        more: () =>
          `acked ${acked}, of which b's between the cuts ${between}; cuts of bE0 ${low} (a) ${high} (c)`,
      });
      for (const x of agents) expect(cutOf(x, bEpoch)).toBe(low);
    },
  );
});
