/**
 * Whom a snapshot is taken from (docs/agent.md, "Snapshots from peers"; issue 7). A snapshot's
 * signed heads prove the clock it claims, not the state it carries: a peer that serves one could
 * still hand over forged object state under a genuine clock. So a node takes snapshots only from
 * peers it already has reason to trust with its state:
 *
 * - a new joiner (no events from any other member yet) takes its first snapshot from a peer it
 *   reached through a configured join address; with no join address configured (a LAN found by
 *   mDNS), from whichever cluster peer it meets first, which the cluster key has admitted;
 * - afterwards, only from members: peers whose own signed member record or events this node
 *   holds, and that have not left or been reaped; or a reaped peer that rebased: the snapshot
 *   proves (signed heads) an epoch of its own that no reap names, and none of its reaped
 *   epochs beyond their cuts (reaping retires epochs, not members; docs/agent.md "Reaping");
 * - a peer whose history diverged from ours for good, when both merge diverged peers
 *   (`divergedPeers: 'merge'`, docs/agent.md "Divergence"): the agent counts it as a member
 *   here, since accepting it means taking its state.
 *
 * Pure: the agent passes what it knows.
 */
import type { ReadonlyVectorClock } from '../core/clock/vector-clock.js';
import { peerOfOrigin } from '../core/origin.js';

export interface SnapshotSourceView {
  readonly self: string;
  /** The origins of our delivered clock. */
  readonly origins: Iterable<string>;
  /** Whether join addresses are configured. */
  readonly joins: boolean;
  /** Peers reached through a join address. */
  readonly joinPeers: ReadonlySet<string>;
  /** A member: its record or events are held here, and it has not left or been reaped. */
  readonly isMember: (peer: string) => boolean;
  /** A peer retired here by a reap (not one that left gracefully). */
  readonly reaped?: (peer: string) => boolean;
  /** The clock the snapshot proves by its signed heads (undefined if it proves none). */
  readonly claims?: () => ReadonlyVectorClock | undefined;
  /** The reap of an epoch, where a marker for it is in our state. */
  readonly reapOf?: (epoch: string) => { readonly cut: number | undefined } | undefined;
}

/** Why a snapshot from `from` is refused, or undefined when it may be installed. */
export function snapshotSourceRefusal(from: string, v: SnapshotSourceView): string | undefined {
  let joiner = true;
  for (const o of v.origins) if (peerOfOrigin(o) !== v.self) joiner = false;
  const member = (): boolean => v.isMember(from) || rebased(from, v);
  if (joiner) {
    if (!v.joins || v.joinPeers.has(from) || member()) return undefined;
    return `a new joiner takes its first snapshot from a join peer, and ${from} is not one`;
  }
  if (member()) return undefined;
  return `snapshots are taken only from members, and ${from} is not one (or it left or was reaped)`;
}

/**
 * A peer we hold reaped whose snapshot proves an epoch of its own that no reap names (it took a
 * new epoch: it rebased, or restarted and will), and holds none of its reaped epochs beyond
 * the cut (it does not still carry effects no replica applies).
 */
function rebased(from: string, v: SnapshotSourceView): boolean {
  if (!v.reaped?.(from) || !v.claims || !v.reapOf) return false;
  const vc = v.claims();
  if (!vc) return false;
  let live = false;
  for (const [origin, seq] of vc) {
    if (peerOfOrigin(origin) !== from) continue;
    const reap = v.reapOf(origin);
    if (!reap) live = true;
    else if (reap.cut !== undefined && seq > reap.cut) return false;
  }
  return live;
}

/**
 * As snapshotSourceRefusal, while the snapshot streams in (sync-requester.ts): at its header
 * (`claims` undefined) and once its signed heads proved `claims`, before its keyspace arrives.
 * At the header a reaped peer is not refused yet: its heads may prove that it rebased.
 */
export function streamedSourceRefusal(
  from: string,
  v: SnapshotSourceView,
  claims: ReadonlyVectorClock | undefined,
): string | undefined {
  if (claims === undefined && v.reaped?.(from) === true) return undefined;
  return snapshotSourceRefusal(from, { ...v, claims: () => claims });
}
