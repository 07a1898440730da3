/**
 * One suspicion timer (Lifeguard, Dadgar et al. 2018, §IV-B "LHA-Suspicion"; memberlist
 * suspicion.go): it starts at max and is driven towards min as distinct members confirm the
 * suspicion, because independent accusations are unlikely to come from one member's own
 * trouble. Time is an input: the detector compares `deadlineMs` with its clock on every tick.
 */
import { suspicionTimeoutMs } from './config.js';
import type { MemberId } from './messages.js';

export class Suspicion {
  /** Who has accused, the first accuser included, so nobody is counted twice. */
  private readonly accusers = new Set<MemberId>();
  private confirmed = 0;
  private deadline: number;
  /** The seq of the last-chance ping, once sent. */
  private lastChance: number | undefined;

  constructor(
    from: MemberId,
    /** Confirmations that bring the timeout down to min. */
    readonly k: number,
    readonly minMs: number,
    readonly maxMs: number,
    readonly startMs: number,
  ) {
    this.accusers.add(from);
    this.deadline = startMs + suspicionTimeoutMs(minMs, maxMs, k, 0);
  }

  get deadlineMs(): number {
    return this.deadline;
  }

  get lastChanceSeq(): number | undefined {
    return this.lastChance;
  }

  /**
   * When the next step is due. First the last-chance ping, `graceMs` (its probe timeout)
   * before the deadline, so that its answer is due when the suspicion ends (never before the
   * suspicion began); then, once it is out, the verdict at the deadline.
   */
  dueMs(graceMs: number): number {
    return this.lastChance === undefined ? Math.max(this.startMs, this.deadline - graceMs) : this.deadline;
  }

  /**
   * Records the last-chance ping, and gives its ack `graceMs` to bring a refutation: the
   * verdict comes at the deadline, or `graceMs` from now if that is later.
   */
  lastChanceSent(seq: number, nowMs: number, graceMs: number): void {
    this.lastChance = seq;
    this.deadline = Math.max(this.deadline, nowMs + graceMs);
  }

  /** Independent confirmations so far (the first accuser is not one). */
  get confirmations(): number {
    return this.confirmed;
  }

  /**
   * Counts `from` as a confirmation. Returns true if it was new information worth gossiping
   * on: not a repeat, and not past the point where more confirmations change nothing.
   */
  confirm(from: MemberId): boolean {
    if (this.confirmed >= this.k || this.accusers.has(from)) return false;
    this.accusers.add(from);
    this.confirmed++;
    // After the last chance, confirmations no longer move the deadline: it is already the end.
    if (this.lastChance === undefined) {
      this.deadline = this.startMs + suspicionTimeoutMs(this.minMs, this.maxMs, this.k, this.confirmed);
    }
    return true;
  }
}
