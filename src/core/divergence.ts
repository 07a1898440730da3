/**
 * When two replicas have diverged for good (docs/agent.md, "Divergence"): the rule an agent
 * applies to a peer's heartbeat before it counts that peer as a member. Such a peer is a member
 * of another cluster, and is refused (etcd refuses one with "cluster ID mismatch").
 *
 * Two replicas L (local) and R (the peer) have diverged for good when all of this holds:
 *
 * 1. R is unknown to L: no member record, no event, no heartbeat accepted before, no retirement
 *    (left, reaped, force-left) and no member of L names it. A known peer is part of L's
 *    cluster: L's stability waited for it before folding anything, or L retired it, and a
 *    retired member that returns rebases (docs/agent.md, "Reaping"); it is never refused here.
 * 2. L folded, into its snapshot (below its log), events R's clock lacks, and R folded events
 *    L's clock lacks. A folded event leaves a replica only inside its snapshot, and a snapshot
 *    is installed only by a replica it covers: so L can never receive R's folded events from R
 *    (R's snapshot lacks L's), nor R receive L's from L.
 * 3. No member other than L and R is known to both (their member views are disjoint). L folds
 *    an event only once every member of its view (named by its members too) delivered it
 *    (stability-view.ts): whoever holds L's folded events as events, in a log, was a member of
 *    L's view. A member M that both know is the one replica that may still bring the gap (as
 *    events from its log, or in a snapshot R can install once M holds R's events too), so the
 *    pair is not refused; should even M be unable to, their pulls still report the divergence
 *    (`divergedPulls`). Retired (reaped, left) members are in neither view.
 *
 * With no such M, no replica either of them knows can bring the other the gap, and no replica
 * either of them learns of later can either unless it is a member of both (and then the next
 * heartbeat that shows it lifts the refusal). Unless both merge diverged peers (each then joins
 * the other's snapshot into its state: replica/merge.ts), the pair stays apart until an
 * operator acts (docs/agent.md). The rule errs towards accepting: a peer
 * that does not send its folded clock or its member list (an earlier release), or sends a
 * member list cut at the bound (`membersComplete` false), is never refused.
 *
 * Pure: the agent passes what it knows.
 */
import { type ReadonlyVectorClock, vcGet } from './clock/vector-clock.js';

/** What the peer says of itself, in its heartbeat. */
export interface ReplicaFacts {
  /** The clock of the events folded into its snapshot (its store's compacted clock). */
  readonly folded: ReadonlyVectorClock | undefined;
  /** Its delivered clock. */
  readonly vc: ReadonlyVectorClock;
  /** The members of its view; undefined when not sent. */
  readonly members: readonly string[] | undefined;
  /** False when `members` may be cut short (a bounded list at its bound). */
  readonly membersComplete: boolean;
}

/** What the local agent knows; the costlier parts are read only when the clocks call for it. */
export interface LocalFacts {
  readonly folded: ReadonlyVectorClock;
  readonly vc: ReadonlyVectorClock;
  /** Every member of its view (the members its stability waits for). */
  readonly members: () => readonly string[];
  /** Whether `peer` is known here (condition 1 fails). */
  readonly knows: (peer: string) => boolean;
}

/** Events of `folded` that `vc` lacks. */
export function foldedLacking(folded: ReadonlyVectorClock, vc: ReadonlyVectorClock): number {
  let n = 0;
  for (const [origin, seq] of folded) n += Math.max(0, seq - vcGet(vc, origin));
  return n;
}

/** Members of both lists, other than `self` and `peer`. */
export function sharedMembers(
  self: string,
  peer: string,
  mine: readonly string[],
  theirs: readonly string[],
): string[] {
  const set = new Set(mine);
  return theirs.filter((id) => id !== self && id !== peer && set.has(id));
}

/**
 * Why `self` and `peer` have diverged for good (see the module comment), or undefined when they
 * have not, or when it cannot be shown.
 */
export function divergedForGood(
  self: string,
  peer: string,
  local: LocalFacts,
  remote: ReplicaFacts,
): string | undefined {
  if (!remote.folded || !remote.members || !remote.membersComplete) return undefined;
  const theirs = foldedLacking(remote.folded, local.vc);
  if (theirs === 0) return undefined;
  const ours = foldedLacking(local.folded, remote.vc);
  if (ours === 0 || local.knows(peer)) return undefined;
  if (sharedMembers(self, peer, local.members(), remote.members).length > 0) return undefined;
  return (
    `each folded into its snapshot events the other lacks (this agent ${ours}, the peer ${theirs}), ` +
    'and no member knows both: a member of another cluster'
  );
}
