/**
 * Settings, setup and status readers shared by the agent tests of reaping and force-leave
 * (docs/agent.md "Reaping").
 */
import type { Agent } from '../../src/agent/agent.js';
import { hits, incHits, startFastCluster, waitFor, waitMembersKnown } from './helpers.js';

/** A snapshot (and a chance to compact) every 20 events, heartbeats every 100 ms. */
export const REAP_OPTS = { snapshotEveryEvents: 20, heartbeatIntervalMs: 100 };

/** `peer`'s retirement at `a`, if it is retired there. */
export const retired = (a: Agent, peer: string) => a.status().compaction.retired[peer];

/** `a`'s reap of `epoch`, if it holds one. */
export const reapOf = (a: Agent, epoch: string) => a.status().compaction.reaps.find((r) => r.epoch === epoch);

/** The cut of `a`'s reap of `epoch`, once agreed. */
export const cutOf = (a: Agent, epoch: string) => reapOf(a, epoch)?.cut;

/**
 * Starts a, b and c (FAST_MEMBERSHIP, REAP_OPTS) into `agents` (the test file's, stopped after
 * each test), waits until each knows the others as members, and has c write 5 increments of
 * `hits` (`acked`) that all of them hold. `epoch`: c's origin then.
 */
export async function threeMembersCWrote(
  agents: Agent[],
): Promise<{ a: Agent; b: Agent; c: Agent; acked: number; epoch: string }> {
  agents.push(...(await startFastCluster(3, REAP_OPTS)));
  await waitMembersKnown(agents);
  const [a, b, c] = agents as [Agent, Agent, Agent];
  let acked = 0;
  for (let i = 0; i < 5; i++) acked += await incHits(c, 1);
  await waitFor(() => agents.every((x) => hits(x) === acked), 'c’s writes everywhere');
  return { a, b, c, acked, epoch: c.status().origin };
}
