/**
 * Wire and storage encoding of snapshots (DESIGN.md "Snapshots and compaction"): the state of
 * every object plus the vector clock and HLC it reflects. A peer behind the compacted log
 * installs a snapshot, then receives the events after its clock.
 *
 * Version 1 layout (varint = unsigned LEB128, str = varint byte length + UTF-8):
 *
 *   u8 version (= 1)
 *   varint n
 *   n x (str origin, varint seq)       (seq >= 1; origins strictly ascending by UTF-8 bytes)
 *   varint hlc.wall
 *   varint hlc.logical
 *   UTF-8 JSON keyspace                (runs to the end of the buffer)
 *
 * The keyspace is opaque JSON at this layer; the keyspace module owns its shape. A snapshot
 * is not an event, so inconsistencies the event codec calls INVALID_EVENT (empty origin, zero
 * count, duplicate origin) are DECODE_ERROR here, and INVALID_ARGUMENT when encoding.
 */
import type { Hlc } from '../clock/hlc.js';
import { isCount, type VectorClock } from '../clock/vector-clock.js';
import { ErrorCode, fail } from '../errors.js';
import { canonicalJson, isRecord, type Json } from '../json.js';
import { Reader, utf8Encode, Writer } from './binary.js';
import {
  DEFAULT_EVENT_CODEC_LIMITS,
  type EventCodecLimits,
  parseJson,
  prepareClockEntries,
  readClockEntries,
  readVersion,
  writeClockEntries,
} from './event-codec.js';

export const SNAPSHOT_CODEC_VERSION = 1;

export interface Snapshot {
  /** The events whose effects the keyspace holds: exactly those this clock covers. */
  readonly vc: VectorClock;
  /** The HLC of the replica that took the snapshot, so the installer's clock never goes back. */
  readonly hlc: Hlc;
  /** The encoded state of all objects (opaque JSON here). */
  readonly keyspace: Json;
}

export type SnapshotCodecLimits = Pick<EventCodecLimits, 'maxOriginBytes'>;

/**
 * Encodes `s`, accepting exactly what `decodeSnapshot` returns: a clock of replica id to
 * count ≥ 1 (INVALID_ARGUMENT otherwise; TOO_LARGE for a long id), an HLC of non-negative
 * safe integers, and a plain-JSON keyspace (INVALID_VALUE otherwise), written with sorted keys.
 */
export function encodeSnapshot(
  s: Snapshot,
  limits: SnapshotCodecLimits = DEFAULT_EVENT_CODEC_LIMITS,
): Uint8Array {
  const v: unknown = s;
  if (!isRecord(v)) fail(ErrorCode.InvalidArgument, 'A snapshot must be an object.');
  const vc = prepareClockEntries(v.vc, {
    what: "snapshot's vector clock",
    code: ErrorCode.InvalidArgument,
    maxOriginBytes: limits.maxOriginBytes,
  });
  const hlc = v.hlc;
  if (!isRecord(hlc) || !isCount(hlc.wall) || !isCount(hlc.logical)) {
    fail(
      ErrorCode.InvalidArgument,
      "The snapshot's HLC must be { wall, logical } of non-negative safe integers.",
    );
  }
  const keyspace = utf8Encode(canonicalJson(v.keyspace, Number.MAX_SAFE_INTEGER, 'snapshot keyspace'));
  const w = new Writer(keyspace.length + 64).u8(SNAPSHOT_CODEC_VERSION);
  writeClockEntries(w, vc);
  return w.varint(hlc.wall).varint(hlc.logical).bytes(keyspace).finish();
}

/**
 * Decodes and fully validates a snapshot from untrusted bytes. Throws only SmacError:
 * UNSUPPORTED_VERSION, TOO_LARGE (an origin past `limits`) or DECODE_ERROR (anything else).
 */
export function decodeSnapshot(
  bytes: Uint8Array,
  limits: SnapshotCodecLimits = DEFAULT_EVENT_CODEC_LIMITS,
): Snapshot {
  const r = new Reader(bytes);
  readVersion(r, SNAPSHOT_CODEC_VERSION, 'snapshot');
  const vc = readClockEntries(r, {
    what: "snapshot's vector clock",
    code: ErrorCode.DecodeError,
    maxOriginBytes: limits.maxOriginBytes,
  });
  const hlc: Hlc = {
    wall: r.varint("snapshot's HLC wall time"),
    logical: r.varint("snapshot's HLC logical counter"),
  };
  const keyspace = parseJson(r.rest(), 'snapshot keyspace');
  return { vc, hlc, keyspace };
}
