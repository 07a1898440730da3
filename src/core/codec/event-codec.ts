/**
 * Wire and storage encoding of events (DESIGN.md "Replication protocol"). These bytes are
 * what the origin signs, what the log stores and what peers forward verbatim. The header is
 * canonical (minimal varints, sorted deps), and the encoder writes ops with sorted object
 * keys, so one event has one encoding. The decoder does not insist that the ops' JSON text be
 * canonical: the signature, not the codec, pins the bytes a peer forwards.
 *
 * Wire versions (DESIGN.md "Security"; docs/semantics.md "Wire versions"). The version byte
 * says which rules a receiver validates the event's ops by (src/core/remote-validation.ts);
 * the layout below is the same for every version so far:
 *
 * - 1: the original rules (structural key rules; any member may write any `_sys/` record).
 * - 2: as 1, plus ownership of system records (src/core/ownership.ts).
 * - 3, 4, 5: see src/core/remote-validation.ts (5 selects chained envelopes, src/net/envelope.ts).
 *
 * An agent emits the highest version every known member supports (src/core/wire-version.ts).
 *
 * Layout (varint = unsigned LEB128, str = varint byte length + UTF-8):
 *
 *   u8 version (1 or 2)
 *   str origin
 *   varint seq                         (>= 1)
 *   varint ndeps
 *   ndeps x (str origin, varint seq)   (seq >= 1; origins strictly ascending by UTF-8 bytes)
 *   varint hlc.wall
 *   varint hlc.logical
 *   varint nOps
 *   UTF-8 JSON array of the ops        (runs to the end of the buffer; nOps elements)
 *
 * Deps are the delta-encoded causal dependencies of src/core/event.ts; they never name the
 * origin itself, whose dependency is implicitly `seq - 1`. The ops are opaque JSON here; the
 * keyspace validates them. A decoder rejects, rather than guesses at, anything it does not
 * fully understand: an unknown version is UNSUPPORTED_VERSION, never a best-effort parse.
 */
import type { Hlc } from '../clock/hlc.js';
import { isCount, type ReplicaId, type VectorClock } from '../clock/vector-clock.js';
import { ErrorCode, fail } from '../errors.js';
import type { Event } from '../event.js';
import { canonicalJson, isRecord, type Json } from '../json.js';
import { compareBytes, isWellFormedText, Reader, utf8Decode, utf8Encode, Writer } from './binary.js';

/** The version written for an event that names none: the oldest, which every release reads. */
export const EVENT_CODEC_VERSION = 1;
/** Oldest and newest event wire versions this build reads and writes. */
export const MIN_EVENT_WIRE_VERSION = 1;
export const MAX_EVENT_WIRE_VERSION = 5;

/**
 * An event as decoded: with the wire version its origin wrote it in. `version` is absent for
 * version 1 (EVENT_CODEC_VERSION), so a version-1 event reads exactly as it always did.
 */
export interface WireEvent extends Event {
  readonly version?: number;
}

/**
 * The wire version of `e`: the one it was decoded with, or EVENT_CODEC_VERSION for an event
 * made in memory without one.
 */
export function wireVersionOf(e: Event): number {
  const v = (e as Partial<WireEvent>).version;
  return typeof v === 'number' ? v : EVENT_CODEC_VERSION;
}

/** True for a wire version this build can read and write. */
export function isSupportedEventVersion(v: unknown): v is number {
  return (
    typeof v === 'number' && Number.isInteger(v) && v >= MIN_EVENT_WIRE_VERSION && v <= MAX_EVENT_WIRE_VERSION
  );
}

export interface EventCodecLimits {
  /**
   * Largest encoded event in bytes. Gossip messages are bounded at 4 MiB; the 64 KiB below
   * that leave room for the signature and the framing around the event.
   */
  readonly maxEventBytes: number;
  /** Most ops in one event (one atomic batch). Matches Limits.maxOpsPerEvent. */
  readonly maxOpsPerEvent: number;
  /** Longest replica id in UTF-8 bytes. A libp2p Ed25519 peer id is 52 characters in base58. */
  readonly maxOriginBytes: number;
}

export const DEFAULT_EVENT_CODEC_LIMITS: Readonly<EventCodecLimits> = Object.freeze({
  maxEventBytes: 4 * 1024 * 1024 - 64 * 1024,
  maxOpsPerEvent: 10_000,
  maxOriginBytes: 128,
});

/**
 * Encodes `e`. Refuses everything `decodeEvent` would refuse (INVALID_EVENT, TOO_LARGE), so
 * an event peers would reject is never sent, plus ops that are not plain JSON or nest deeper
 * than 64 levels (INVALID_VALUE, from json.ts). Object keys inside ops are written sorted, and
 * -0 is written as 0 because JSON has no negative zero. The version written is `version`, else
 * the event's own (wireVersionOf); one this build does not know is UNSUPPORTED_VERSION.
 */
export function encodeEvent(
  e: Event,
  limits: EventCodecLimits = DEFAULT_EVENT_CODEC_LIMITS,
  version: number = wireVersionOf(e),
): Uint8Array {
  const w = new Writer();
  writeHeader(w, e, limits, version);
  const ops = utf8Encode(canonicalJson(e.ops, limits.maxEventBytes, "event's ops"), "event's ops");
  const size = w.length + ops.length;
  if (size > limits.maxEventBytes) {
    fail(
      ErrorCode.TooLarge,
      `The event is ${size} bytes encoded; the limit is ${limits.maxEventBytes} bytes.`,
      {
        bytes: size,
        limit: limits.maxEventBytes,
      },
    );
  }
  return w.bytes(ops).finish();
}

/**
 * Size in bytes of everything in `e`'s encoding except the ops' JSON text: the per-event
 * replication metadata (version, dot, deps, HLC, op count) that benchmarks measure.
 */
export function eventMetadataBytes(e: Event, limits: EventCodecLimits = DEFAULT_EVENT_CODEC_LIMITS): number {
  const w = new Writer();
  writeHeader(w, e, limits, wireVersionOf(e));
  return w.length;
}

/**
 * Decodes and fully validates an event from untrusted bytes. Throws only SmacError:
 * UNSUPPORTED_VERSION, TOO_LARGE (input, origin or op count past `limits`), INVALID_EVENT
 * (well-formed but inconsistent: empty origin, seq 0, a zero or duplicate dependency, a
 * dependency on the origin itself) or DECODE_ERROR (anything else). The result carries the
 * wire version it was written in (absent for version 1; read it with wireVersionOf).
 */
export function decodeEvent(
  bytes: Uint8Array,
  limits: EventCodecLimits = DEFAULT_EVENT_CODEC_LIMITS,
): WireEvent {
  const r = new Reader(bytes);
  if (bytes.length > limits.maxEventBytes) {
    fail(
      ErrorCode.TooLarge,
      `The event is ${bytes.length} bytes; the limit is ${limits.maxEventBytes} bytes.`,
      {
        bytes: bytes.length,
        limit: limits.maxEventBytes,
      },
    );
  }
  const version = readEventVersion(r);
  const origin = r.str(limits.maxOriginBytes, "event's origin");
  if (origin === '') fail(ErrorCode.InvalidEvent, "The event's origin is empty.");
  const seq = r.varint("event's seq");
  if (seq < 1)
    fail(ErrorCode.InvalidEvent, `The event from ${origin} has seq 0; sequence numbers start at 1.`);
  const deps = readClockEntries(r, {
    what: `dependencies of event ${origin}:${seq}`,
    code: ErrorCode.InvalidEvent,
    maxOriginBytes: limits.maxOriginBytes,
    exclude: origin,
  });
  const hlc: Hlc = {
    wall: r.varint("event's HLC wall time"),
    logical: r.varint("event's HLC logical counter"),
  };
  const nOps = r.varint("event's op count");
  if (nOps > limits.maxOpsPerEvent) {
    fail(ErrorCode.TooLarge, `The event has ${nOps} ops; the limit is ${limits.maxOpsPerEvent}.`, {
      ops: nOps,
      limit: limits.maxOpsPerEvent,
    });
  }
  const ops = parseJson(r.rest(), "event's ops");
  if (!Array.isArray(ops)) fail(ErrorCode.DecodeError, "The event's ops are not a JSON array.");
  if (ops.length !== nOps) {
    fail(ErrorCode.DecodeError, `The event announces ${nOps} ops but carries ${ops.length}.`);
  }
  if (version === EVENT_CODEC_VERSION) return { origin, seq, deps, hlc, ops };
  return { origin, seq, deps, hlc, ops, version };
}

function readEventVersion(r: Reader): number {
  const v = r.u8('event version');
  if (!isSupportedEventVersion(v)) unsupportedEventVersion(v);
  return v;
}

function unsupportedEventVersion(v: unknown): never {
  return fail(
    ErrorCode.UnsupportedVersion,
    `The event has wire version ${String(v)}; this build reads versions ${MIN_EVENT_WIRE_VERSION} to ${MAX_EVENT_WIRE_VERSION}.`,
    { version: v, supported: [MIN_EVENT_WIRE_VERSION, MAX_EVENT_WIRE_VERSION] },
  );
}

function writeHeader(w: Writer, e: unknown, limits: EventCodecLimits, version: number): void {
  if (!isSupportedEventVersion(version)) unsupportedEventVersion(version);
  if (!isRecord(e)) fail(ErrorCode.InvalidEvent, 'An event must be an object.');
  const origin = encodeOrigin(e.origin, "event's origin", ErrorCode.InvalidEvent, limits.maxOriginBytes);
  if (!isCount(e.seq) || e.seq < 1) {
    fail(ErrorCode.InvalidEvent, "The event's seq must be an integer from 1 to 2^53-1.");
  }
  const deps = prepareClockEntries(e.deps, {
    what: "event's dependencies",
    code: ErrorCode.InvalidEvent,
    maxOriginBytes: limits.maxOriginBytes,
    exclude: e.origin as string,
  });
  const hlc = e.hlc;
  if (!isRecord(hlc) || !isCount(hlc.wall) || !isCount(hlc.logical)) {
    fail(ErrorCode.InvalidEvent, "The event's HLC must be { wall, logical } of non-negative safe integers.");
  }
  if (!Array.isArray(e.ops)) fail(ErrorCode.InvalidEvent, "The event's ops must be an array.");
  if (e.ops.length > limits.maxOpsPerEvent) {
    fail(ErrorCode.TooLarge, `The event has ${e.ops.length} ops; the limit is ${limits.maxOpsPerEvent}.`, {
      ops: e.ops.length,
      limit: limits.maxOpsPerEvent,
    });
  }
  w.u8(version).lenBytes(origin).varint(e.seq);
  writeClockEntries(w, deps);
  w.varint(hlc.wall).varint(hlc.logical).varint(e.ops.length);
}

// ---- shared with snapshot-codec.ts: version byte, clock entries, JSON payloads ----

/** Reads the version byte; anything but `expected` is UNSUPPORTED_VERSION. */
export function readVersion(r: Reader, expected: number, what: string): void {
  const v = r.u8(`${what} version`);
  if (v !== expected) {
    fail(
      ErrorCode.UnsupportedVersion,
      `The ${what} has encoding version ${v}; this build reads version ${expected}.`,
      {
        version: v,
        supported: [expected],
      },
    );
  }
}

/** How to judge a clock's entries, and which code a semantic problem gets. */
export interface ClockEntriesSpec {
  readonly what: string;
  /** Code for an empty origin, a zero count, a duplicate or the excluded origin. */
  readonly code: ErrorCode;
  readonly maxOriginBytes: number;
  /** An origin that must not appear (an event's own origin in its deps). */
  readonly exclude?: ReplicaId;
}

/** A clock's entries, validated and sorted by the UTF-8 bytes of their origin. */
export type ClockEntries = readonly (readonly [Uint8Array, number])[];

export function prepareClockEntries(vc: unknown, spec: ClockEntriesSpec): ClockEntries {
  if (!(vc instanceof Map)) fail(spec.code, `The ${spec.what} must be a Map of replica id to count.`);
  const out: [Uint8Array, number][] = [];
  for (const [key, n] of vc as Map<unknown, unknown>) {
    const bytes = encodeOrigin(key, `origin in the ${spec.what}`, spec.code, spec.maxOriginBytes);
    const id = key as string;
    if (!isCount(n) || n < 1) {
      fail(spec.code, `The count for ${id} in the ${spec.what} must be an integer from 1 to 2^53-1.`);
    }
    if (id === spec.exclude) {
      fail(
        spec.code,
        `The ${spec.what} must not name the event's own origin ${id}; that dependency is implicit.`,
      );
    }
    out.push([bytes, n]);
  }
  // Map keys are distinct strings, and distinct well-formed strings have distinct UTF-8 bytes.
  return out.sort((a, b) => compareBytes(a[0], b[0]));
}

export function writeClockEntries(w: Writer, entries: ClockEntries): void {
  w.varint(entries.length);
  for (const [origin, n] of entries) w.lenBytes(origin).varint(n);
}

export function readClockEntries(r: Reader, spec: ClockEntriesSpec): VectorClock {
  const count = r.varint(`entry count of the ${spec.what}`);
  // Each entry takes at least 2 bytes; refuse an absurd count before looping over it.
  if (count > r.remaining / 2) {
    fail(
      ErrorCode.DecodeError,
      `The input is truncated: it claims ${count} entries in the ${spec.what} but only ${r.remaining} bytes remain.`,
    );
  }
  const vc: VectorClock = new Map();
  let prev: Uint8Array | undefined;
  for (let i = 0; i < count; i++) {
    const bytes = r.lenBytes(spec.maxOriginBytes, `origin in the ${spec.what}`);
    const id = readClockOrigin(bytes, prev, spec);
    vc.set(id, checkClockCount(r.varint(`count for ${id} in the ${spec.what}`), id, spec));
    prev = bytes;
  }
  return vc;
}

/** The origin of a clock entry read from `bytes`, checked against the one before (`prev`). */
export function readClockOrigin(
  bytes: Uint8Array,
  prev: Uint8Array | undefined,
  spec: ClockEntriesSpec,
): ReplicaId {
  const id = utf8Decode(bytes, `origin in the ${spec.what}`);
  if (id === '') fail(spec.code, `An origin in the ${spec.what} is empty.`);
  if (prev !== undefined) {
    const order = compareBytes(prev, bytes);
    if (order === 0) fail(spec.code, `Origin ${id} appears twice in the ${spec.what}.`);
    if (order > 0) fail(ErrorCode.DecodeError, `The origins in the ${spec.what} are not in ascending order.`);
  }
  if (id === spec.exclude) {
    fail(spec.code, `The ${spec.what} name the event's own origin ${id}; that dependency is implicit.`);
  }
  return id;
}

/** A clock entry's count, which is never zero. */
export function checkClockCount(n: number, id: ReplicaId, spec: ClockEntriesSpec): number {
  if (n < 1)
    fail(spec.code, `The count for ${id} in the ${spec.what} is zero; zero entries are never encoded.`);
  return n;
}

/**
 * Text that may hold a number overflowing to ±Infinity: 309+ digits in a row, or an exponent
 * of 3+ digits. Only such text pays for the checking reviver.
 */
const MAYBE_HUGE_NUMBER = /\d{309}|[eE][+-]?\d{3}/;

function finiteOnly(_key: string, v: unknown): unknown {
  if (typeof v === 'number' && !Number.isFinite(v)) throw new RangeError('not finite');
  return v;
}

/** Strict UTF-8 then JSON.parse; any failure, or a number that is not finite, is DECODE_ERROR. */
export function parseJson(bytes: Uint8Array, what: string): Json {
  const text = utf8Decode(bytes, what);
  try {
    return (MAYBE_HUGE_NUMBER.test(text) ? JSON.parse(text, finiteOnly) : JSON.parse(text)) as Json;
  } catch {
    return fail(
      ErrorCode.DecodeError,
      `Could not parse the ${what} as JSON (or it holds a number that is not finite).`,
    );
  }
}

function encodeOrigin(id: unknown, what: string, code: ErrorCode, maxBytes: number): Uint8Array {
  if (typeof id !== 'string' || id === '') fail(code, `The ${what} must be a non-empty string.`);
  if (!isWellFormedText(id)) fail(code, `The ${what} contains a lone UTF-16 surrogate.`);
  const bytes = utf8Encode(id, what);
  if (bytes.length > maxBytes) {
    fail(ErrorCode.TooLarge, `The ${what} is ${bytes.length} bytes; the limit is ${maxBytes} bytes.`, {
      bytes: bytes.length,
      limit: maxBytes,
    });
  }
  return bytes;
}
