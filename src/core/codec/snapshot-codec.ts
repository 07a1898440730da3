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
 * Version 2 (a snapshot that proves its clock; what peers exchange) adds the heads after the HLC:
 *
 *   u8 version (= 2)
 *   varint n, n x (str origin, varint seq), varint hlc.wall, varint hlc.logical   (as in v1)
 *   varint h                           (h <= n)
 *   h x (varint length, bytes)         (each a signed envelope, opaque here; see net/snapshot-proof.ts)
 *   UTF-8 JSON keyspace
 *
 * Version 3 (a snapshot whose clock is pruned of retired epochs, src/core/retired-epochs.ts) adds
 * the retired epochs with their cuts after the heads, as a clock that shares no origin with the
 * first (the snapshot covers each retired epoch up to its cut; no head is needed for them):
 *
 *   u8 version (= 3)
 *   ... as in v2, up to and including the heads
 *   varint r, r x (str epoch, varint cut)
 *   UTF-8 JSON keyspace
 *
 * A head is the origin's signed envelope of the last event the clock covers, so a receiver can
 * check every clock entry against a signature (a proof of the clock, not of the state). The
 * encoder writes v2 exactly when heads are given, v1 otherwise (snapshots kept in the local
 * store, whose heads live in the store's heads table); the decoder reads both.
 *
 * The keyspace is opaque JSON at this layer; the keyspace module owns its shape. A snapshot
 * is not an event, so inconsistencies the event codec calls INVALID_EVENT (empty origin, zero
 * count, duplicate origin) are DECODE_ERROR here, and INVALID_ARGUMENT when encoding.
 */
import type { Hlc } from '../clock/hlc.js';
import { isCount, type ReadonlyVectorClock, type VectorClock } from '../clock/vector-clock.js';
import { ErrorCode, fail } from '../errors.js';
import { canonicalJson, isRecord, type Json, utf8Length } from '../json.js';
import { Reader, Writer } from './binary.js';
import {
  DEFAULT_EVENT_CODEC_LIMITS,
  type EventCodecLimits,
  parseJson,
  prepareClockEntries,
  readClockEntries,
  writeClockEntries,
} from './event-codec.js';

export const SNAPSHOT_CODEC_VERSION = 1;
/** The version that carries signed heads. */
export const PROVEN_SNAPSHOT_CODEC_VERSION = 2;
/** The version whose clock is pruned of retired epochs, listed with their cuts. */
export const PRUNED_SNAPSHOT_CODEC_VERSION = 3;

/**
 * A keyspace held as something other than its JSON value (a state decoded as the snapshot
 * streamed in, core/keyspace.ts `DecodedKeyspace`): its top-level array's elements, made one at
 * a time and in order, so that the whole JSON value is never built. A symbol, so that no JSON
 * value is ever taken for one.
 */
export const KEYSPACE_ROWS: unique symbol = Symbol('smac.keyspaceRows');

export interface KeyspaceRows {
  /** The elements of the keyspace's JSON array, in order; each may be made afresh. */
  [KEYSPACE_ROWS](): Iterable<Json>;
}

export function isKeyspaceRows(v: unknown): v is KeyspaceRows {
  return typeof v === 'object' && v !== null && KEYSPACE_ROWS in v;
}

/** `K`: the keyspace as JSON (decoded whole), or as rows (decoded as it streamed in). */
export interface Snapshot<K = Json> {
  /** The events whose effects the keyspace holds: exactly those this clock covers. */
  readonly vc: VectorClock;
  /** The HLC of the replica that took the snapshot, so the installer's clock never goes back. */
  readonly hlc: Hlc;
  /** The encoded state of all objects (opaque JSON here). */
  readonly keyspace: K;
  /** Signed heads (v2): per covered origin, the envelope of its last covered event. Opaque here. */
  readonly heads?: readonly Uint8Array[];
  /** Retired epochs pruned from `vc`, with their cuts (v3; the heads are then required). */
  readonly retired?: ReadonlyVectorClock;
}

export interface SnapshotCodecLimits extends Pick<EventCodecLimits, 'maxOriginBytes'> {
  /** Largest single head (an envelope) in bytes; default: the largest event plus 1 KiB. */
  readonly maxHeadBytes?: number;
}

const DEFAULT_MAX_HEAD_BYTES = DEFAULT_EVENT_CODEC_LIMITS.maxEventBytes + 1024;
const textEncoder = new TextEncoder();

/**
 * Encodes `s`, accepting exactly what `decodeSnapshot` returns: a clock of replica id to
 * count ≥ 1 (INVALID_ARGUMENT otherwise; TOO_LARGE for a long id), an HLC of non-negative
 * safe integers, and a plain-JSON keyspace (INVALID_VALUE otherwise), written with sorted keys.
 */
export function encodeSnapshot(
  s: Snapshot<Json | KeyspaceRows>,
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
  let heads = checkHeads(v.heads, vc.length);
  const retired =
    v.retired === undefined
      ? undefined
      : prepareClockEntries(v.retired, {
          what: "snapshot's retired epochs",
          code: ErrorCode.InvalidArgument,
          maxOriginBytes: limits.maxOriginBytes,
        });
  if (retired !== undefined) {
    heads ??= [];
    checkDisjoint(v.vc as VectorClock, v.retired as ReadonlyVectorClock, ErrorCode.InvalidArgument);
  }
  // The keyspace's text is encoded piece by piece (one top-level entry at a time) straight into
  // the result, sized exactly by a first pass: the text is never held whole, nor copied. Each
  // piece comes from canonicalJson, whose JSON.stringify escapes lone surrogates, so the text
  // is well-formed and utf8Length is its UTF-8 size.
  let textBytes = 0;
  for (const piece of keyspacePieces(v.keyspace)) textBytes += utf8Length(piece);
  const headBytes = (heads ?? []).reduce((n, h) => n + h.length + 5, 0);
  const w = new Writer(headBytes + 64).u8(
    retired !== undefined
      ? PRUNED_SNAPSHOT_CODEC_VERSION
      : heads === undefined
        ? SNAPSHOT_CODEC_VERSION
        : PROVEN_SNAPSHOT_CODEC_VERSION,
  );
  writeClockEntries(w, vc);
  w.varint(hlc.wall).varint(hlc.logical);
  if (heads !== undefined) {
    w.varint(heads.length);
    for (const h of heads) w.lenBytes(h);
  }
  if (retired !== undefined) writeClockEntries(w, retired);
  const prefix = w.finish();
  const out = new Uint8Array(prefix.length + textBytes);
  out.set(prefix);
  let at = prefix.length;
  for (const piece of keyspacePieces(v.keyspace))
    at += textEncoder.encodeInto(piece, out.subarray(at)).written;
  return out;
}

/**
 * The canonical JSON text of a keyspace (canonicalJson's, sorted keys), in pieces: the entries
 * of a top-level array or object one by one, each checked by canonicalJson. Rows (a keyspace
 * decoded as it streamed in) are written as the array of those rows, each made as it is written.
 */
function* keyspacePieces(keyspace: unknown): Generator<string> {
  const what = 'snapshot keyspace';
  const max = Number.MAX_SAFE_INTEGER;
  const rows = isKeyspaceRows(keyspace)
    ? keyspace[KEYSPACE_ROWS]()
    : Array.isArray(keyspace)
      ? keyspace
      : undefined;
  if (rows !== undefined) {
    yield '[';
    let first = true;
    for (const x of rows) {
      yield (first ? '' : ',') + canonicalJson(x, max, what);
      first = false;
    }
    yield ']';
  } else if (isRecord(keyspace) && Object.getPrototypeOf(keyspace) === Object.prototype) {
    yield '{';
    for (const [i, k] of Object.keys(keyspace).sort().entries())
      yield `${i > 0 ? ',' : ''}${JSON.stringify(k)}:${canonicalJson(keyspace[k], max, what)}`;
    yield '}';
  } else yield canonicalJson(keyspace, max, what);
}

function checkDisjoint(vc: ReadonlyVectorClock, retired: ReadonlyVectorClock, code: ErrorCode): void {
  for (const e of retired.keys())
    if (vc.has(e)) fail(code, `The snapshot lists ${e} both in its clock and among its retired epochs.`);
}

function checkHeads(heads: unknown, max: number): readonly Uint8Array[] | undefined {
  if (heads === undefined) return undefined;
  if (!Array.isArray(heads) || heads.length > max)
    fail(ErrorCode.InvalidArgument, "The snapshot's heads must be an array, at most one per clock entry.");
  const out: Uint8Array[] = [];
  for (const h of heads as unknown[]) {
    if (!(h instanceof Uint8Array) || h.length === 0)
      fail(ErrorCode.InvalidArgument, "Each of the snapshot's heads must be non-empty bytes.");
    out.push(h);
  }
  return out;
}

/** The largest head `limits` allow. */
export function snapshotHeadLimit(limits: SnapshotCodecLimits): number {
  return limits.maxHeadBytes ?? DEFAULT_MAX_HEAD_BYTES;
}

export function unsupportedSnapshotVersion(version: number): never {
  return fail(
    ErrorCode.UnsupportedVersion,
    `The snapshot has encoding version ${version}; this build reads versions 1 to 3.`,
    {
      version,
      supported: [SNAPSHOT_CODEC_VERSION, PROVEN_SNAPSHOT_CODEC_VERSION, PRUNED_SNAPSHOT_CODEC_VERSION],
    },
  );
}

/**
 * Decodes and fully validates a snapshot (v1 or v2) from untrusted bytes. Heads are returned
 * as bytes, unchecked: net/snapshot-proof.ts verifies them. Throws only SmacError:
 * UNSUPPORTED_VERSION, TOO_LARGE (an origin past `limits`) or DECODE_ERROR (anything else).
 */
export function decodeSnapshot(
  bytes: Uint8Array,
  limits: SnapshotCodecLimits = DEFAULT_EVENT_CODEC_LIMITS,
): Snapshot {
  const r = new Reader(bytes);
  const version = r.u8('snapshot version');
  if (version < SNAPSHOT_CODEC_VERSION || version > PRUNED_SNAPSHOT_CODEC_VERSION)
    unsupportedSnapshotVersion(version);
  const vc = readClockEntries(r, {
    what: "snapshot's vector clock",
    code: ErrorCode.DecodeError,
    maxOriginBytes: limits.maxOriginBytes,
  });
  const hlc: Hlc = {
    wall: r.varint("snapshot's HLC wall time"),
    logical: r.varint("snapshot's HLC logical counter"),
  };
  if (version === SNAPSHOT_CODEC_VERSION)
    return { vc, hlc, keyspace: parseJson(r.rest(), 'snapshot keyspace') };
  const count = r.varint("snapshot's head count");
  if (count > vc.size) {
    fail(
      ErrorCode.DecodeError,
      `The snapshot carries ${count} heads for a clock of ${vc.size} entries; at most one per entry.`,
    );
  }
  const maxHead = snapshotHeadLimit(limits);
  const heads: Uint8Array[] = [];
  for (let i = 0; i < count; i++) {
    const h = r.lenBytes(maxHead, "snapshot's head");
    if (h.length === 0) fail(ErrorCode.DecodeError, 'The snapshot carries an empty head.');
    heads.push(new Uint8Array(h)); // a copy: a kept head must not pin the whole snapshot
  }
  if (version === PROVEN_SNAPSHOT_CODEC_VERSION)
    return { vc, hlc, keyspace: parseJson(r.rest(), 'snapshot keyspace'), heads };
  const retired = readClockEntries(r, {
    what: "snapshot's retired epochs",
    code: ErrorCode.DecodeError,
    maxOriginBytes: limits.maxOriginBytes,
  });
  checkDisjoint(vc, retired, ErrorCode.DecodeError);
  return { vc, hlc, keyspace: parseJson(r.rest(), 'snapshot keyspace'), heads, retired };
}
