/**
 * Causal stability (Baquero, Almeida & Shoker, "Pure Operation-Based Replicated Data Types",
 * 2017, §4): an event is stable at this replica once every future event it delivers is
 * causally after it. Then nothing can still arrive that did not observe it, so its effect may
 * be folded into compact state and its log entry dropped in favour of a snapshot.
 *
 * Members report their delivered clocks in heartbeats (DESIGN.md "Snapshots and compaction").
 * A report from member j only counts once we have delivered j's own events up to the point of
 * the report: j's events concurrent with anything j had delivered were made before the report,
 * so we then hold all of them. The stable frontier is the pointwise minimum of our own clock
 * and each member's latest report that counts.
 */
import {
  type ReadonlyVectorClock,
  type ReplicaId,
  type VectorClock,
  vcClone,
  vcGet,
  vcMin,
} from './clock/vector-clock.js';
import { peerOfOrigin } from './origin.js';

interface PeerReports {
  latest: VectorClock;
  usable: VectorClock | undefined;
}

export class StabilityTracker {
  private readonly peers = new Map<ReplicaId, PeerReports>();

  constructor(private readonly self: ReplicaId) {}

  /** Records a member's delivered clock from its heartbeat. */
  observe(peer: ReplicaId, vc: ReadonlyVectorClock, localVc: ReadonlyVectorClock): void {
    if (peer === this.self) return;
    const p = this.peers.get(peer) ?? { latest: new Map(), usable: undefined };
    p.latest = vcClone(vc);
    this.promote(peer, p, localVc);
    this.peers.set(peer, p);
  }

  /** Forgets a member that left or was declared dead. */
  forget(peer: ReplicaId): void {
    this.peers.delete(peer);
  }

  /**
   * The stable frontier given the live members (self included or not). Empty while some
   * member has not reported a clock that counts yet.
   */
  stable(localVc: ReadonlyVectorClock, members: Iterable<ReplicaId>): VectorClock {
    const clocks: ReadonlyVectorClock[] = [localVc];
    for (const m of members) {
      if (m === this.self) continue;
      const p = this.peers.get(m);
      if (!p) return new Map();
      this.promote(m, p, localVc);
      if (!p.usable) return new Map();
      clocks.push(p.usable);
    }
    return vcMin(clocks);
  }

  /** The report of `peer` that counts now, if any (what status shows a member to pin). */
  usableReport(peer: ReplicaId, localVc: ReadonlyVectorClock): ReadonlyVectorClock | undefined {
    const p = this.peers.get(peer);
    if (!p) return undefined;
    this.promote(peer, p, localVc);
    return p.usable;
  }

  private promote(peer: ReplicaId, p: PeerReports, localVc: ReadonlyVectorClock): void {
    if (holdsOwnEvents(peer, p.latest, localVc)) p.usable = p.latest;
  }
}

/**
 * Whether `localVc` covers every event `peer` made up to its `report`: the events of every
 * epoch of it (src/core/origin.ts) that the report counts.
 */
export function holdsOwnEvents(
  peer: ReplicaId,
  report: ReadonlyVectorClock,
  localVc: ReadonlyVectorClock,
): boolean {
  for (const [origin, seq] of report)
    if (peerOfOrigin(origin) === peer && seq > vcGet(localVc, origin)) return false;
  return true;
}
