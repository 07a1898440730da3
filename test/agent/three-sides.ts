/**
 * The 1|1|1 split with a joiner on one side, shared by agent tests of mutual reaps
 * (test/agent/winning-joiner.test.ts, rebase-lower-cut.test.ts): three agents split one by one,
 * a fresh agent j joins one of them, each side force-leaves the two others, and two sides meet
 * before the heal.
 */
import { expect } from 'vitest';
import { Agent } from '../../src/agent/agent.js';
import {
  FAST_MEMBERSHIP,
  hits,
  incHits,
  quiet,
  startFastCluster,
  testConfig,
  waitFor,
  waitMembersKnown,
} from './helpers.js';
import { REAP_OPTS, retired } from './reap-setup.js';
import { closeSide, dump } from './side-tools.js';
import { split } from './split.js';

/** Prints `dump` of `agents` and throws `e` again (for a wait that ran out). */
export const dumpAndThrow = (agents: readonly Agent[]) => (e: unknown) => {
  dump(agents);
  throw e;
};

/**
 * Starts three agents into `agents` (REAP_OPTS), each writes one increment that all of them
 * hold. Returns them as [a, b, c] where c holds the smallest peer id, then a, then b.
 */
export async function threeWrote(agents: Agent[]): Promise<{ three: [Agent, Agent, Agent]; acked: number }> {
  agents.push(...(await startFastCluster(3, REAP_OPTS)));
  await waitMembersKnown(agents);
  const [c, a, b] = [...agents].sort((x, y) => x.peerId.localeCompare(y.peerId)) as [Agent, Agent, Agent];
  let acked = 0;
  for (const x of agents) acked += await incHits(x, 1);
  await waitFor(() => agents.every((x) => hits(x) === acked), 'the first writes everywhere');
  return { three: [a, b, c], acked };
}

/**
 * Splits a | b | c (b and c refuse every peer outside them, a joiner too) and starts j (pushed
 * to `agents`) joined through a; resolves once a and j know each other and j took a's state.
 */
export async function splitWithJoinerOnA(
  agents: Agent[],
  [a, b, c]: readonly [Agent, Agent, Agent],
): Promise<Agent> {
  await split([[a], [b], [c]]);
  closeSide([b]);
  closeSide([c]);
  const j = await Agent.start(testConfig({ ...REAP_OPTS, join: a.addresses() }), {
    logger: quiet,
    membership: FAST_MEMBERSHIP,
  });
  agents.push(j);
  await waitMembersKnown([a, j]);
  await waitFor(() => hits(j) >= hits(a), 'j took a’s state');
  return j;
}

/**
 * Each of a, b, c force-leaves the two others; resolves once each side ({a, j}, {b}, {c}) retired
 * the others, and checks that a's reaps name j.
 */
export async function reapAcross(
  agents: readonly Agent[],
  [a, b, c]: readonly [Agent, Agent, Agent],
  j: Agent,
): Promise<void> {
  for (const [x, others] of [
    [a, [b, c]],
    [b, [a, c]],
    [c, [a, b]],
  ] as const)
    for (const y of others) expect(x.forceLeave(y.peerId)).toBe(true);
  const sides = [[a, j], [b], [c]];
  const allRetired = () =>
    sides.every((side) =>
      side.every((x) => [a, b, c].every((y) => side.includes(y) || retired(x, y.peerId))),
    );
  await waitFor(allRetired, 'each side to retire the others', 60_000).catch(dumpAndThrow(agents));
  for (const r of a.status().compaction.reaps) expect(r.participants).toContain(j.peerId);
}

/**
 * b and c meet while {a, j} stays apart (closeSide is lifted); resolves once b took a new epoch
 * and c's state (b takes c, which holds the smallest id, for the winner: mutual-reap.ts).
 */
export async function bMeetsCFirst(
  agents: readonly Agent[],
  [a, b, c]: readonly [Agent, Agent, Agent],
  j: Agent,
): Promise<void> {
  const bOrigin = b.status().origin;
  await split([
    [a, j],
    [b, c],
  ]);
  for (const y of [b, c]) await y.isolate(false);
  await waitFor(
    () => b.status().origin !== bOrigin && hits(b) === hits(c),
    'b to rebase onto c’s state',
    120_000,
  ).catch(dumpAndThrow(agents));
}
