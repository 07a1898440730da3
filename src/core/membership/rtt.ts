/**
 * Round-trip estimates per peer, for probe timeouts that adapt to the network (DESIGN.md
 * "Membership and health"; docs/membership.md). The estimator is TCP's (Jacobson and Karels
 * 1988; RFC 6298 §2): a smoothed round trip `srtt` and a smoothed mean deviation `rttvar`,
 * updated by every sample, with gains 1/8 and 1/4. Pure: samples come from the failure
 * detector, which times its own pings to their acks in the clock it is driven with.
 */

export interface RttView {
  /** Smoothed round trip, ms. */
  readonly srttMs: number;
  /** Smoothed mean deviation of the round trip, ms. */
  readonly rttvarMs: number;
  /** The latest sample, ms. */
  readonly lastMs: number;
  /** Samples taken so far. */
  readonly samples: number;
}

/** Gains of RFC 6298: srtt moves by 1/8 of each error, rttvar by 1/4. */
const ALPHA = 1 / 8;
const BETA = 1 / 4;

export class RttEstimator {
  private srtt = 0;
  private rttvar = 0;
  private last = 0;
  private count = 0;

  /** Feeds one round-trip sample in ms; a negative or non-finite one is ignored. */
  add(ms: number): void {
    if (!Number.isFinite(ms) || ms < 0) return;
    if (this.count === 0) {
      this.srtt = ms;
      this.rttvar = ms / 2;
    } else {
      this.rttvar = (1 - BETA) * this.rttvar + BETA * Math.abs(this.srtt - ms);
      this.srtt = (1 - ALPHA) * this.srtt + ALPHA * ms;
    }
    this.last = ms;
    this.count++;
  }

  get samples(): number {
    return this.count;
  }

  view(): RttView | undefined {
    if (this.count === 0) return undefined;
    return { srttMs: this.srtt, rttvarMs: this.rttvar, lastMs: this.last, samples: this.count };
  }

  /**
   * How long to wait for an ack: mult × srtt + 4 × rttvar (TCP's RTO, with room for the
   * receiver's own delays), never below `floorMs` nor above `capMs`; `floorMs` until there is
   * a sample.
   */
  timeoutMs(floorMs: number, mult: number, capMs: number): number {
    if (this.count === 0) return floorMs;
    return adaptiveTimeoutMs(this.srtt, this.rttvar, floorMs, mult, capMs);
  }
}

/** The adaptive probe timeout for a peer with smoothed round trip `srtt` and deviation `rttvar`. */
export function adaptiveTimeoutMs(
  srttMs: number,
  rttvarMs: number,
  floorMs: number,
  mult: number,
  capMs: number,
): number {
  const t = Math.ceil(mult * srttMs + 4 * rttvarMs);
  return Math.max(floorMs, Math.min(Math.max(floorMs, capMs), t));
}
