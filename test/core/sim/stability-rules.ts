/**
 * Which members causal stability waits for, as an injectable rule, so that a mutation test can
 * run the simulation with the rule the agent had before issue 7 and see it fail.
 */
import type { VectorClock } from '../../../src/core/clock/vector-clock.js';
import type { StabilityView } from '../../../src/agent/stability-view.js';

export interface StabilityInput {
  readonly view: StabilityView;
  /** Our delivered clock. */
  readonly localVc: VectorClock;
  /** Every peer id that shows a member (clock origins, member list, heartbeat senders). */
  readonly candidates: Iterable<string>;
  /** ms of our last heartbeat from each peer. */
  readonly lastHeard: ReadonlyMap<string, number>;
  readonly now: number;
  readonly heartbeatMs: number;
}

export type StabilityRule = (input: StabilityInput) => VectorClock;

/**
 * The rule as landed (src/agent/compaction.ts): every member of the view that has not left
 * gracefully and has not been reaped, however long it has been silent, plus the peers that
 * pulled from us and the members other members' heartbeats name (`stabilityMembers`).
 */
export const membershipViewRule: StabilityRule = (s) =>
  s.view.stable(s.localVc, s.view.stabilityMembers(s.candidates, s.now));

/**
 * The rule before the far-side joiner fix (the mutation): the view alone, without the peers
 * known from pulls or from other members' heartbeats.
 */
export const ownViewRule: StabilityRule = (s) => s.view.stable(s.localVc, s.view.members(s.candidates));

/**
 * The rule before issue 7 (the mutation): only the members heard from in the last three
 * heartbeat intervals. A partitioned member is treated as if it did not exist.
 */
export const heardRecentlyRule: StabilityRule = (s) => {
  const recent = [...s.lastHeard]
    .filter(([peer, at]) => s.now - at <= 3 * s.heartbeatMs && !s.view.isRetired(peer))
    .map(([peer]) => peer);
  return s.view.stable(s.localVc, recent);
};
