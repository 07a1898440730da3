/** A replica's configuration and its defaults, each with its reason. */
import type { CausalBufferLimits } from '../causal/causal-buffer.js';
import type { ReplicaId } from '../clock/vector-clock.js';
import type { EventCodecLimits } from '../codec/event-codec.js';
import type { Limits } from '../limits.js';

export interface ReplicaConfig {
  /** This replica's id (the agent's peer id). */
  readonly id: ReplicaId;
  readonly limits?: Partial<Limits>;
  /** A remote HLC further ahead of our physical clock than this does not move our clock. */
  readonly maxDriftMs?: number;
  /** Bounds of the causal buffer. Past them, events are dropped and repair is requested. */
  readonly buffer?: Partial<CausalBufferLimits>;
  /** A gap older than this asks for repair on the next tick. */
  readonly repairAfterMs?: number;
  /**
   * A gap that stays open asks again after repairAfterMs, then twice as long each time, up to
   * this interval: a gap no peer can fill must not ask on every tick.
   */
  readonly repairBackoffMaxMs?: number;
  /**
   * A buffered event older than this is evicted (counted, and repair is asked for): an origin
   * whose gap nobody fills must not pin buffer slots forever. Sync fetches it in order anyway.
   */
  readonly maxBufferAgeMs?: number;
  /**
   * An event further ahead than this of what we delivered (its seq, or one of its deps) is
   * refused and counted, never buffered: only sync can close such a gap, and a hostile origin
   * could otherwise park events that can never become deliverable.
   */
  readonly maxSeqAhead?: number;
  /** Bounds of the event encoding; a local batch whose event is larger is refused whole. */
  readonly eventCodec?: Partial<EventCodecLimits>;
  /**
   * Wire version of the events this replica makes (default 1, which every release reads). The
   * agent raises it, with `setWireVersion`, to the highest version every member supports.
   */
  readonly wireVersion?: number;
}

export const DEFAULT_REPLICA = {
  /** Generous for NTP-synced hosts, tight enough that a host set a day ahead cannot pin LWW. */
  maxDriftMs: 60_000,
  buffer: { maxEvents: 100_000, maxBytes: 64 * 1024 * 1024 } satisfies CausalBufferLimits,
  /** Gossip reorders by milliseconds; a gap this old means a message was lost. */
  repairAfterMs: 1_000,
  repairBackoffMaxMs: 16_000,
  /** Thirty times repairAfterMs: several repair rounds, with peers tried in turn, have failed. */
  maxBufferAgeMs: 30_000,
  /** The default buffer bound: a gap wider than the buffer cannot be bridged by buffering. */
  maxSeqAhead: 100_000,
};
