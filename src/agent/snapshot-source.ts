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
 *   holds, and that have not left or been reaped.
 *
 * Pure: the agent passes what it knows.
 */
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
}

/** Why a snapshot from `from` is refused, or undefined when it may be installed. */
export function snapshotSourceRefusal(from: string, v: SnapshotSourceView): string | undefined {
  let joiner = true;
  for (const o of v.origins) if (peerOfOrigin(o) !== v.self) joiner = false;
  if (joiner) {
    if (!v.joins || v.joinPeers.has(from) || v.isMember(from)) return undefined;
    return `a new joiner takes its first snapshot from a join peer, and ${from} is not one`;
  }
  if (v.isMember(from)) return undefined;
  return `snapshots are taken only from members, and ${from} is not one (or it left or was reaped)`;
}
