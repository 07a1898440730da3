/**
 * Round trips to each member, measured by our own pings, and the adaptive probe timeouts they
 * give (config.rttTimeoutMult; docs/membership.md "Adaptive probe timeouts").
 */
import type { MembershipConfig } from './config.js';
import type { MemberId } from './messages.js';
import { RttEstimator, type RttView } from './rtt.js';

/** Pings remembered for timing their acks; older ones are forgotten (their acks give no sample). */
const PINGS_TIMED = 1_024;

export class RoundTrips {
  private readonly rtts = new Map<MemberId, RttEstimator>();
  /** Our pings by seq: to whom and when, so that an ack from that member is a round-trip sample. */
  private readonly pings = new Map<number, { readonly to: MemberId; readonly atMs: number }>();

  notePing(seq: number, to: MemberId, nowMs: number): void {
    this.pings.set(seq, { to, atMs: nowMs });
    if (this.pings.size > PINGS_TIMED) {
      const oldest = this.pings.keys().next().value;
      if (oldest !== undefined) this.pings.delete(oldest);
    }
  }

  /**
   * An ack from the member we pinged is a round-trip sample, however late (late ones matter
   * most). `known` says whether the member is still in our table: a forgotten one gets none.
   */
  sample(from: MemberId, seq: number, nowMs: number, known: boolean): void {
    const p = this.pings.get(seq);
    if (p?.to !== from) return;
    this.pings.delete(seq);
    if (!known) return;
    let est = this.rtts.get(from);
    if (!est) {
      est = new RttEstimator();
      this.rtts.set(from, est);
    }
    est.add(nowMs - p.atMs);
  }

  /**
   * The direct probe timeout for `id` before Lifeguard's scaling: probeTimeoutMs until its
   * round trip is measured, then adaptive.
   */
  probeTimeoutFor(id: MemberId, c: MembershipConfig): number {
    const est = this.rtts.get(id);
    if (!est || c.rttTimeoutMult === 0) return c.probeTimeoutMs;
    return est.timeoutMs(c.probeTimeoutMs, c.rttTimeoutMult, c.maxProbeTimeoutMs);
  }

  view(id: MemberId): RttView | undefined {
    return this.rtts.get(id)?.view();
  }

  forget(id: MemberId): void {
    this.rtts.delete(id);
  }
}
