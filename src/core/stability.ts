/**
 * Causal stability (Baquero, Almeida & Shoker, "Pure Operation-Based Replicated Data Types",
 * 2017, §4): an event is stable at this replica once every future event it delivers is
 * causally after it. Then nothing can still arrive that did not observe it, so its effect may
 * be folded into compact state and its log entry dropped in favour of a snapshot.
 *
 * Members report their delivered clocks in heartbeats (DESIGN.md "Snapshots and compaction").
 * A report from member j only counts once we have delivered every event it covers. j's own
 * events concurrent with anything j had delivered were made before the report, so we then hold
 * all of them. And so we hold every event j could still relay to us of an origin that no
 * member speaks for any more: the old epoch of a member that lost its store, a member reaped or
 * gone. Counting j's own events only let a report vouch for such an event we lacked, and
 * compaction folded what that event, still on its way, was concurrent with.
 *
 * Reports that do not count yet are kept (a few per member), so that stability advances while
 * the latest report is still ahead of us under a steady write load. The stable frontier is the
 * pointwise minimum of our own clock and each member's newest report that counts.
 */
import {
  type ReadonlyVectorClock,
  type ReplicaId,
  type VectorClock,
  vcClone,
  vcLeq,
  vcMin,
} from './clock/vector-clock.js';

/** Reports kept per member until they count. The oldest is kept when full, so it still advances. */
const MAX_PENDING_REPORTS = 8;

interface PeerReports {
  /** Reports newer than `usable`, oldest first. */
  pending: VectorClock[];
  usable: VectorClock | undefined;
}

export class StabilityTracker {
  private readonly peers = new Map<ReplicaId, PeerReports>();

  constructor(private readonly self: ReplicaId) {}

  /** Records a member's delivered clock from its heartbeat. */
  observe(peer: ReplicaId, vc: ReadonlyVectorClock, localVc: ReadonlyVectorClock): void {
    if (peer === this.self) return;
    const p = this.peers.get(peer) ?? { pending: [], usable: undefined };
    p.pending.push(vcClone(vc));
    if (p.pending.length > MAX_PENDING_REPORTS) p.pending.splice(1, 1);
    this.promote(p, localVc);
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
      this.promote(p, localVc);
      if (!p.usable) return new Map();
      clocks.push(p.usable);
    }
    return vcMin(clocks);
  }

  /** The report of `peer` that counts now, if any (what status shows a member to pin). */
  usableReport(peer: ReplicaId, localVc: ReadonlyVectorClock): ReadonlyVectorClock | undefined {
    const p = this.peers.get(peer);
    if (!p) return undefined;
    this.promote(p, localVc);
    return p.usable;
  }

  /** Makes the newest report we hold every event of count, dropping the older ones. */
  private promote(p: PeerReports, localVc: ReadonlyVectorClock): void {
    for (let i = p.pending.length - 1; i >= 0; i--) {
      const report = p.pending[i];
      if (report && vcLeq(report, localVc)) {
        p.usable = report;
        p.pending = p.pending.slice(i + 1);
        return;
      }
    }
  }
}
