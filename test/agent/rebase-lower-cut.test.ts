// A second rebase from the same epoch at a lower cut (issue 7; docs/agent.md "Reaping", "A
// second, lower cut of an epoch we rebased from"). Three agents, c holding the smallest id, then
// a, then b. First a alone is cut off while b writes 10 batches that reach c but not a; then all
// three split 1|1|1 and a takes a fresh agent j (through a): each side force-leaves the others.
// a's reap of b's epoch bE0 is cut where a stopped hearing b (L); c's, alone, where c did (H,
// L + 10). b meets c first and takes c for the winner (mutual-reap.ts: a, reaped by both, ranks
// after c), so b rebases from bE0 at H onto c's state and re-runs its writes beyond H. But {a, j}
// counts two and wins: at the heal b learns bE0's lower cut L and rebases from bE0 again. Its
// writes between L and H were acknowledged, and every replica refuses them now (they are beyond
// the winners' cut): the second rebase must re-run them.
import { afterEach, describe, expect, it } from 'vitest';
import type { Agent } from '../../src/agent/agent.js';
import { hits, incHits, startFastCluster, stopAll, waitFor, waitMembersKnown } from './helpers.js';
import { cutOf, REAP_OPTS } from './reap-setup.js';
import { waitAllEqual } from './side-tools.js';
import { heal, split } from './split.js';
import { bMeetsCFirst, reapAcross, splitWithJoinerOnA } from './three-sides.js';

let agents: Agent[] = [];
afterEach(async () => {
  await stopAll(agents);
  agents = [];
});

describe('a second rebase from the same epoch at a lower cut', () => {
  it(
    'b rebases from its epoch at c’s cut, then at a’s lower cut: all equal, every acknowledged write once',
    { timeout: 420_000 },
    async () => {
      agents = await startFastCluster(3, REAP_OPTS);
      await waitMembersKnown(agents);
      const abc = [...agents].sort((x, y) => x.peerId.localeCompare(y.peerId)) as [Agent, Agent, Agent];
      const [c, a, b] = abc;
      const three: [Agent, Agent, Agent] = [a, b, c];
      let acked = 0;
      for (const x of agents) acked += await incHits(x, 1);
      await waitFor(() => agents.every((x) => hits(x) === acked), 'the first writes everywhere');
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
      // The shape: c's cut of bE0 holds b's 10 writes that a never got.
      expect(high).toBe((low ?? 0) + 10);
      for (let i = 0; i < 5; i++) for (const x of agents) acked += await incHits(x, 1);

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
});
