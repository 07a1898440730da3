/**
 * Local health awareness (Lifeguard, Dadgar et al. 2018, §IV-A "LHA-Probe"; memberlist
 * awareness.go): a saturating score of how badly this member itself is doing at the soft
 * real-time work of probing. Missed acks and nacks and having to refute raise it; successful
 * probes lower it. Probe periods and timeouts are scaled by (score + 1), so a slow or cut-off
 * member waits longer before it accuses anyone, instead of spreading false suspicions.
 */
export class Awareness {
  private value = 0;

  /** `max` is awarenessMaxMultiplier: the score stays within 0 … max − 1. */
  constructor(readonly max: number) {}

  get score(): number {
    return this.value;
  }

  apply(delta: number): void {
    this.value = Math.min(this.max - 1, Math.max(0, this.value + delta));
  }

  scale(ms: number): number {
    return ms * (this.value + 1);
  }
}
