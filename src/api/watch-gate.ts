/**
 * The bound on concurrent watches (DESIGN.md "Security": every stream count is bounded). One
 * gate may be shared by several app instances, so the bound holds per agent, not per listener.
 */
export class WatchGate {
  private open = 0;

  constructor(readonly max: number) {
    if (!Number.isInteger(max) || max < 0)
      throw new RangeError(`maxWatches must be a non-negative integer (got ${max}).`);
  }

  get active(): number {
    return this.open;
  }

  /** Takes a slot; false when all are taken. */
  tryAcquire(): boolean {
    if (this.open >= this.max) return false;
    this.open++;
    return true;
  }

  release(): void {
    if (this.open > 0) this.open--;
  }
}
