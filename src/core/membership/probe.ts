/**
 * One probe of the failure detector's protocol period (failure-detector.ts): the direct ping,
 * then the indirect one through helpers, until its end; and its place in a run of attempts at
 * the same member (config.probeAttempts).
 */
import type { MemberId } from './messages.js';

export interface Probe {
  readonly target: MemberId;
  readonly seq: number;
  readonly pingDeadlineMs: number;
  endMs: number;
  /** 1 for the first probe of the target, up to config.probeAttempts. */
  readonly attempt: number;
  /** The seqs of the earlier attempts in this run: a late ack to any of them counts. */
  readonly earlier: readonly number[];
  /** Its failure is final, whatever the attempt: the connection to the target was lost. */
  final: boolean;
  indirectSent: boolean;
  /** The ping-req helpers asked: each one owes us an ack or a nack. */
  via: readonly MemberId[];
  readonly nacks: Set<MemberId>;
}
