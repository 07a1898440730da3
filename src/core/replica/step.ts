/**
 * The replica's step interface: the inputs it takes and the effects it returns, which the agent
 * carries out in order (persist, then broadcast, then acknowledge).
 */
import type { Gap } from '../causal/causal-buffer.js';
import type { ReplicaId } from '../clock/vector-clock.js';
import type { TypeName } from '../crdt/crdt.js';
import type { EntryDown } from '../crdt/or-map.js';
import type { Event } from '../event.js';

/** A local batch: one event. `system` allows writes under `_sys/` (the agent's own services). */
export interface LocalInput {
  readonly kind: 'local';
  readonly ops: readonly unknown[];
  readonly system?: boolean;
  /**
   * A client's write (the API sets it): refuse an op that would add a second type under a key
   * this replica holds with another type (type-conflict.ts). Off for the agent's own writes
   * and for tests of the core that model concurrent creations.
   */
  readonly oneTypePerKey?: boolean;
}
/** An event received from a peer (already decoded, and its signature verified, by the adapter). */
export interface RemoteInput {
  readonly kind: 'remote';
  readonly event: Event;
  /** Encoded size, for the buffer's byte bound. */
  readonly bytes: number;
}
/** Periodic: reports gaps that have waited too long. */
export interface TickInput {
  readonly kind: 'tick';
}
export type ReplicaInput = LocalInput | RemoteInput | TickInput;

export interface TouchedObject {
  readonly type: TypeName;
  readonly key: string;
}

export type Effect =
  /** Append the event to the durable log. Comes first for every applied event. */
  | { readonly kind: 'persist'; readonly event: Event; readonly local: boolean }
  /** Send a local event to peers (after it is persisted). */
  | { readonly kind: 'broadcast'; readonly event: Event }
  /** Objects changed by an applied event (for watches). */
  | { readonly kind: 'changed'; readonly event: Event; readonly objects: readonly TouchedObject[] }
  /** Ask a peer for missing events (anti-entropy). */
  | {
      readonly kind: 'repair';
      readonly reason: 'gap' | 'overflow' | 'expired' | 'far-ahead';
      readonly gaps: readonly Gap[];
    }
  /**
   * Remote events dropped by the causal buffer: evicted past their age or to make room, or
   * refused for being too far ahead. Count them; a 'repair' effect comes with them.
   */
  | { readonly kind: 'dropped'; readonly reason: 'age' | 'overflow' | 'far-ahead'; readonly count: number }
  /** A remote event was refused or skipped; count it and warn. */
  | {
      readonly kind: 'rejected';
      readonly origin: ReplicaId;
      readonly seq: number;
      readonly code: string;
      readonly message: string;
    }
  /** A remote HLC was too far ahead; our clock did not follow. */
  | { readonly kind: 'clock-drift'; readonly origin: ReplicaId; readonly driftMs: number };

export interface StepResult {
  readonly effects: Effect[];
  /** The new local event, for a local input. */
  readonly event?: Event;
  /** Its encoding (event codec), checked against the size limit before anything changed. */
  readonly encoded?: Uint8Array;
}

/** The 'rejected' effect for `e`. */
export function rejected(e: Event, code: string, message: string): Effect {
  return { kind: 'rejected', origin: e.origin, seq: e.seq, code, message };
}

/** The objects `ops` touch, each once, in order of first touch (the 'changed' effect's list). */
export function touched(ops: readonly EntryDown[]): TouchedObject[] {
  const seen = new Set<string>();
  const out: TouchedObject[] = [];
  for (const d of ops) {
    const id = d.t + '\u0000' + d.f;
    if (!seen.has(id)) {
      seen.add(id);
      out.push({ type: d.t, key: d.f });
    }
  }
  return out;
}
