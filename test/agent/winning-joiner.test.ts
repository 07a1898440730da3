// A member that joined the winning side of a mutual reap during the split (issue 7; docs/agent.md
// "Both sides of a long split reap each other"). Four agents split 2|2; the side W without the
// smallest peer id takes a fresh agent j, through a member of it, before either side
// force-leaves the other: j is a participant of W's reaps (W's markers name it), so W's side
// counts three and wins against the other side L (two, though it holds the smallest id). L never
// saw j: it counts only the members it reaped (two), ties on size and holds the smallest id, so
// it takes itself for the winner. Both sides write (client batches) and compact. After the heal
// every replica must be equal, with every acknowledged write exactly once, L's included.
import { afterEach, describe, expect, it } from 'vitest';
import { Agent } from '../../src/agent/agent.js';
import {
  FAST_MEMBERSHIP,
  hits,
  incHits,
  quiet,
  startFastCluster,
  stopAll,
  testConfig,
  waitFor,
  waitMembersKnown,
} from './helpers.js';
import { closeSide, dump, waitAllEqual } from './side-tools.js';
import { heal, split } from './split.js';
import { bMeetsCFirst, reapAcross, splitWithJoinerOnA, threeWrote } from './three-sides.js';

let agents: Agent[] = [];
afterEach(async () => {
  await stopAll(agents);
  agents = [];
});

const OPTS = { snapshotEveryEvents: 20, heartbeatIntervalMs: 100 };
const retired = (a: Agent, peer: string) => a.status().compaction.retired[peer];

describe('a member that joined the winning side of a mutual reap during the split', () => {
  it(
    '2|2, j joins the side without the smallest id before the force-leaves: all equal, every write once',
    { timeout: 420_000 },
    async () => {
      agents = await startFastCluster(4, OPTS);
      await waitMembersKnown(agents);
      const sorted = [...agents].sort((x, y) => x.peerId.localeCompare(y.peerId));
      // L holds the smallest id: it wins a 2|2 tie, but not 2 against W and j.
      const losers = [sorted[0]!, sorted[3]!];
      const winners = [sorted[1]!, sorted[2]!];
      let acked = 0;
      for (const x of agents) acked += await incHits(x, 1);
      await waitFor(() => agents.every((x) => hits(x) === acked), 'the first writes everywhere');
      const origins = new Map(agents.map((x) => [x, x.status().origin]));
      await split([winners, losers]);
      closeSide(losers);

      // j joins W through one of its members, before the reaps: W's markers name it.
      const j = await Agent.start(testConfig({ ...OPTS, join: winners[0]!.addresses() }), {
        logger: quiet,
        membership: FAST_MEMBERSHIP,
      });
      agents.push(j);
      const side = [...winners, j];
      await waitMembersKnown(side);
      await waitFor(() => hits(j) >= hits(winners[0]!), 'j took W’s state');
      const jOrigin = j.status().origin;

      for (let i = 0; i < 10; i++) for (const x of agents) acked += await incHits(x, 1 + (i % 3));
      for (const y of losers) expect(winners[0]!.forceLeave(y.peerId)).toBe(true);
      for (const y of winners) expect(losers[0]!.forceLeave(y.peerId)).toBe(true);
      const bothRetired = () =>
        side.every((x) => losers.every((y) => retired(x, y.peerId))) &&
        losers.every((y) => winners.every((x) => retired(y, x.peerId)));
      await waitFor(bothRetired, 'each side to retire the other', 60_000).catch((e: unknown) => {
        dump(agents);
        throw e;
      });
      // W's reaps count j; L's reaps know nothing of it.
      for (const r of winners[0]!.status().compaction.reaps) expect(r.participants).toContain(j.peerId);
      expect(losers[0]!.status().compaction.members).not.toContain(j.peerId);

      // Both sides write on: L's client batches are what its rebase must re-run.
      for (let i = 0; i < 30; i++) for (const x of agents) acked += await incHits(x, 1);
      await waitFor(() => losers.every((y) => hits(y) === hits(losers[0]!)), 'L’s writes on L');
      await waitFor(() => side.every((x) => hits(x) === hits(j)), 'W’s writes on W');

      await heal(agents);
      await waitAllEqual(agents, acked, {
        more: () =>
          `acked ${acked}; L ownOpsKept ${losers.map((y) => y.status().compaction.ownOpsKept).join(' ')}`,
      });
      // W (and j) kept their epochs; L took new ones.
      for (const x of winners) expect(x.status().origin).toBe(origins.get(x));
      expect(j.status().origin).toBe(jOrigin);
      for (const y of losers) expect(y.status().origin).not.toBe(origins.get(y));
    },
  );

  it(
    '1|1|1, j joins the side without the smallest id; the other two meet first: all equal, every write once',
    { timeout: 420_000 },
    async () => {
      // {c} holds the smallest id: it beats {b}, and {a} too as b and c know a's side (one
      // member). Meeting c first, b takes c for the winner (mutual-reap.ts: a, reaped by both,
      // ranks after c) and rebases onto c's state; but {a, j} counts two and wins, so c's state
      // is given up and b must rebase again (from c's epoch, which it holds beyond a's cut).
      const { three, ...first } = await threeWrote(agents);
      const [a, b, c] = three;
      let { acked } = first;
      const origins = new Map(agents.map((x) => [x, x.status().origin]));
      const j = await splitWithJoinerOnA(agents, three);
      const jOrigin = j.status().origin;

      for (let i = 0; i < 10; i++) for (const x of agents) acked += await incHits(x, 1 + (i % 3));
      await reapAcross(agents, three, j);
      for (let i = 0; i < 10; i++) for (const x of agents) acked += await incHits(x, 1);

      // b and c meet first (split lifts closeSide): b takes c for the winner.
      await bMeetsCFirst(agents, three, j);
      for (let i = 0; i < 10; i++) for (const x of agents) acked += await incHits(x, 1);

      await heal(agents);
      await waitAllEqual(agents, acked, { more: () => `acked ${acked}` });
      // {a, j} kept their epochs; c and b (again) took new ones.
      expect(a.status().origin).toBe(origins.get(a));
      expect(j.status().origin).toBe(jOrigin);
      expect(c.status().origin).not.toBe(origins.get(c));
      expect(b.status().origin).not.toBe(origins.get(b));
    },
  );
});
