/**
 * Snapshots a receiver can check (DESIGN.md "Snapshots and compaction"; issue 7 "Snapshots you
 * can check"). A snapshot from a peer claims a vector clock; installing it makes every event
 * below that clock a duplicate here, forever. So the clock must be proven: for each origin it
 * covers, the snapshot carries that origin's signed head, the envelope (envelope.ts) of the
 * last event of that origin the clock covers. The receiver verifies each head's signature and
 * that its (origin, seq) is exactly the claimed clock entry, and refuses the snapshot otherwise.
 *
 * This proves the clock, not the state: a member can still serve a keyspace that does not
 * match the events (it holds the signed heads it received), but no one can claim events that
 * their origins never made. See docs/agent.md "Snapshots from peers".
 */
import { type ReadonlyVectorClock, vcGet } from '../core/clock/vector-clock.js';
import {
  decodeSnapshot,
  encodeSnapshot,
  type KeyspaceRows,
  PROVEN_SNAPSHOT_CODEC_VERSION,
  type Snapshot,
  type SnapshotCodecLimits,
} from '../core/codec/snapshot-codec.js';
import type { Json } from '../core/json.js';
import { DEFAULT_EVENT_CODEC_LIMITS } from '../core/codec/event-codec.js';
import { errorCode } from './errors.js';
import { maxEnvelopeBytes, openEnvelope } from './envelope.js';

export const SnapshotRefusal = {
  /** The bytes are not a snapshot this build can decode (shape, size, version). */
  Malformed: 'BAD_SNAPSHOT',
  /** A clock entry has no valid signed head, or a head does not match its entry. */
  Unproven: 'UNPROVEN_SNAPSHOT',
  /** It comes from a peer this node does not take snapshots from (agent/snapshot-source.ts). */
  Untrusted: 'UNTRUSTED_SNAPSHOT_SOURCE',
  /**
   * Its state holds a reaped epoch beyond the cut we agreed, or (while we rebase) does not
   * retire our reaped epoch at its cut (agent/snapshot-exchange.ts).
   */
  PastCut: 'PAST_CUT_SNAPSHOT',
} as const;
export type SnapshotRefusal = (typeof SnapshotRefusal)[keyof typeof SnapshotRefusal];

/** A snapshot from a peer was refused; nothing was changed. `code` is stable. */
export class SnapshotRefused extends Error {
  override readonly name = 'SnapshotRefused';

  constructor(
    readonly code: SnapshotRefusal,
    message: string,
    readonly details?: Readonly<Record<string, unknown>>,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** A verified head: the envelope of event (origin, seq). */
export interface SnapshotHead {
  readonly origin: string;
  readonly seq: number;
  readonly bytes: Uint8Array;
}

/** A snapshot from a peer: its keyspace as JSON, or as the rows it was decoded to as it streamed. */
export type PeerSnapshot = Snapshot<Json | KeyspaceRows>;

export interface ProvenSnapshot extends PeerSnapshot {
  readonly heads: readonly Uint8Array[];
  /** The heads, verified, with the (origin, seq) each proves: one per clock entry. */
  readonly proof: readonly SnapshotHead[];
}

/** The limits a peer's snapshot is decoded with, whole or as it streams in. */
export const PEER_SNAPSHOT_LIMITS: SnapshotCodecLimits = Object.freeze({
  maxOriginBytes: DEFAULT_EVENT_CODEC_LIMITS.maxOriginBytes,
  maxHeadBytes: maxEnvelopeBytes(),
});

/**
 * A peer's snapshot as a pull received it (sync-requester.ts): decoded as its chunks arrived
 * (core/codec/snapshot-decoder.ts), so its encoding was never held whole, or the error that
 * stopped the decoding (the rest was not read): a SmacError for bytes that do not decode, or
 * SnapshotRefused UNPROVEN_SNAPSHOT for signed heads that do not prove the clock (checked as
 * soon as they arrived, before the keyspace). `receivedBytes` counts what arrived. `proof`: its
 * heads as they were verified when they arrived (they are not verified again when it is opened).
 */
export type ReceivedSnapshot =
  | {
      readonly snapshot: PeerSnapshot;
      readonly proof?: readonly SnapshotHead[];
      readonly receivedBytes: number;
    }
  | { readonly error: Error; readonly receivedBytes: number };

/** What is opened: a received snapshot, or a whole encoding (a test, a stored snapshot). */
export type PeerSnapshotInput = Uint8Array | ReceivedSnapshot;

/**
 * Decodes a snapshot from a peer and checks the proof of its clock. Throws only
 * SnapshotRefused: BAD_SNAPSHOT for bytes that do not decode, UNPROVEN_SNAPSHOT for a clock
 * without valid heads (a v1 snapshot, which has none, proves only an empty clock).
 */
export function openPeerSnapshot(
  input: PeerSnapshotInput,
  limits: SnapshotCodecLimits = PEER_SNAPSHOT_LIMITS,
): ProvenSnapshot {
  let snap: PeerSnapshot;
  try {
    if (input instanceof Uint8Array) snap = decodeSnapshot(input, limits);
    else if ('snapshot' in input) snap = input.snapshot;
    else throw input.error;
  } catch (e) {
    if (e instanceof SnapshotRefused) throw e; // refused as it streamed in (its heads)
    throw new SnapshotRefused(
      SnapshotRefusal.Malformed,
      `The peer's snapshot does not decode: ${e instanceof Error ? e.message : String(e)}`,
      { cause: errorCode(e) },
      { cause: e },
    );
  }
  const heads = snap.heads ?? [];
  const verified = input instanceof Uint8Array || !('proof' in input) ? undefined : input.proof;
  return { ...snap, heads, proof: verified ?? verifySnapshotHeads(snap.vc, heads) };
}

/**
 * The bytes a store keeps of a peer's snapshot: the encoding itself, or a received snapshot
 * encoded again (the same bytes when the peer encoded canonically, as encodeSnapshot does; of a
 * keyspace decoded row by row, the encoding of the state it was decoded to, row by row).
 * Throws like encodeSnapshot for a state it cannot encode.
 */
export function peerSnapshotBytes(input: PeerSnapshotInput): Uint8Array {
  if (input instanceof Uint8Array) return input;
  if (!('snapshot' in input)) throw input.error;
  return encodeSnapshot(input.snapshot, PEER_SNAPSHOT_LIMITS);
}

/**
 * Checks that `heads` prove `vc`: exactly one head per clock entry, each an envelope whose
 * signature verifies against its origin and whose seq is the entry's. Throws SnapshotRefused
 * UNPROVEN_SNAPSHOT naming the first entry at fault.
 */
export function verifySnapshotHeads(vc: ReadonlyVectorClock, heads: readonly Uint8Array[]): SnapshotHead[] {
  const proven = new Set<string>();
  const out: SnapshotHead[] = [];
  for (const [i, head] of heads.entries()) {
    let origin: string;
    let seq: number;
    try {
      ({ origin, seq } = openEnvelope(head).event);
    } catch (e) {
      unproven(`head ${i} is not a validly signed event (${e instanceof Error ? e.message : String(e)})`, {
        head: i,
        cause: errorCode(e),
      });
    }
    const claimed = vcGet(vc, origin);
    if (claimed === 0) unproven(`head ${i} is for ${origin}, which the clock does not cover`, { origin });
    if (proven.has(origin)) unproven(`it carries two heads for ${origin}`, { origin });
    if (seq !== claimed) {
      unproven(`the clock claims ${origin} up to seq ${claimed}, but its signed head is seq ${seq}`, {
        origin,
        claimed,
        seq,
      });
    }
    proven.add(origin);
    out.push({ origin, seq, bytes: head });
  }
  for (const [origin, seq] of vc) {
    if (!proven.has(origin))
      unproven(`the clock claims ${origin} up to seq ${seq} without its signed head`, {
        origin,
        claimed: seq,
      });
  }
  return out;
}

function unproven(why: string, details: Record<string, unknown>): never {
  throw new SnapshotRefused(
    SnapshotRefusal.Unproven,
    `Refused a snapshot whose clock is not proven: ${why}.`,
    details,
  );
}

/** Heads for `vc` from a lookup of the latest stored envelope per origin (those that match). */
export function headsFor(
  vc: ReadonlyVectorClock,
  lookup: (origin: string) => { readonly seq: number; readonly bytes: Uint8Array } | undefined,
): { heads: Uint8Array[]; missing: string[] } {
  const heads: Uint8Array[] = [];
  const missing: string[] = [];
  for (const [origin, seq] of vc) {
    const h = lookup(origin);
    if (h?.seq === seq) heads.push(h.bytes);
    else missing.push(origin);
  }
  return { heads, missing };
}

export { PROVEN_SNAPSHOT_CODEC_VERSION };
