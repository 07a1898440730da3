/**
 * Wire-version negotiation for the agent (src/core/wire-version.ts holds the decision): the
 * ranges members advertise in heartbeats, the peers refused for an incompatible protocol, and
 * the version the agent's events go out in. Timers and gossip callbacks only record ranges
 * here; the owner reads `emitVersion` when it drains and sets it on the replica.
 */
import type { Logger } from 'pino';
import { emitVersion, incompatibility, LOCAL_PROTOCOL, type ProtocolRange } from '../core/wire-version.js';
import type { RefusedPeer } from './peer-refusals.js';

export class WireVersions {
  private readonly ranges = new Map<string, ProtocolRange | undefined>();
  /** Refused peers, with when first refused and why. */
  private readonly refused = new Map<string, { since: number; why: string }>();
  /** Heartbeats refused for an incompatible protocol (a metric). */
  refusedHeartbeats = 0;

  constructor(
    private readonly log: Pick<Logger, 'error'>,
    readonly local: ProtocolRange = LOCAL_PROTOCOL,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * Records `peer`'s advertised range (undefined: it advertises none, a release from before
   * negotiation). False when the peer is incompatible: the caller ignores the heartbeat.
   */
  heard(peer: string, range: ProtocolRange | undefined): boolean {
    const why = range ? incompatibility(this.local, range) : undefined;
    if (why !== undefined) {
      this.refusedHeartbeats++;
      if (!this.refused.has(peer)) {
        this.refused.set(peer, { since: this.now(), why });
        this.log.error(
          { code: 'PEER_REFUSED_PROTOCOL', peer, protocol: range, local: this.local },
          `refusing peer ${peer}: ${why}; upgrade or downgrade it to a compatible release`,
        );
      }
      return false;
    }
    this.refused.delete(peer);
    this.ranges.set(peer, range);
    return true;
  }

  /** True for a peer heard from that advertises no range: a release from before negotiation. */
  isLegacy(peer: string): boolean {
    return this.ranges.has(peer) && this.ranges.get(peer) === undefined;
  }

  /**
   * Whether `peer` reads wire version `version`: false for one heard advertising less (or
   * nothing: a release from before negotiation); true for one not heard from yet, which the
   * caller has already checked against every member's range (a joiner of an older release
   * refuses what it cannot read, and gets the older form once its heartbeat is heard).
   */
  mayRead(peer: string, version: number): boolean {
    if (!this.ranges.has(peer)) return true;
    return (this.ranges.get(peer)?.maxEvent ?? 1) >= version;
  }

  /** True for a peer refused for its protocol (the connection gater may drop it). */
  isRefused(peer: string): boolean {
    return this.refused.has(peer);
  }

  /** Peers refused for their protocol now. */
  refusedPeers(): RefusedPeer[] {
    return [...this.refused].map(([peerId, r]) => ({
      peerId,
      reason: 'protocol',
      since: r.since,
      detail: r.why,
    }));
  }

  /** Forgets a member that left or was reaped. */
  forget(peer: string): void {
    this.ranges.delete(peer);
    this.refused.delete(peer);
  }

  /** The version to emit given the members known now (self excluded); unheard ones count as v1. */
  emitVersion(members: Iterable<string>): number {
    const ranges: (ProtocolRange | undefined)[] = [];
    for (const m of members) if (!this.refused.has(m)) ranges.push(this.ranges.get(m));
    return emitVersion(this.local, ranges);
  }
}
