/**
 * Frames of the anti-entropy protocols (DESIGN.md "Anti-entropy", "Snapshots and compaction").
 * Each frame travels length-prefixed (frame-stream.ts) and starts with a type byte
 * (varint = unsigned LEB128, clock = varint count, then count x (varint length, UTF-8 origin,
 * varint counter) with origins in ascending byte order, as in the event codec):
 *
 *   0x01 REQUEST         clock requester
 *   0x02 HEADER          clock responder, clock compacted, varint snapshotBytes (0 = none)
 *   0x03 SNAPSHOT_CHUNK  bytes (the rest of the frame)
 *   0x04 EVENTS          varint count (>= 1), count x (varint length, envelope)
 *   0x05 END             varint total envelopes sent
 *   0x06 ERROR           u8 reason (1 busy, 2 bad request, 3 internal), varint length, UTF-8 text
 *   0x07 ACK             varint envelopes received
 *
 * /smac/sync/1:  client REQUEST; server HEADER, SNAPSHOT_CHUNK* (exactly snapshotBytes in all),
 *                EVENTS*, END. Or ERROR at any point. A chunk ends anywhere in the snapshot's
 *                encoding: the client decodes across chunk boundaries.
 * /smac/push/1:  client EVENTS*, END; server ACK once every batch was handed over. Or ERROR.
 *
 * Every decoder treats its input as hostile and throws NetError BAD_FRAME (with the codec's
 * SmacError as cause) for anything malformed or out of bounds.
 */
import { prepareClockEntries, readClockEntries, writeClockEntries } from '../core/codec/event-codec.js';
import { DEFAULT_EVENT_CODEC_LIMITS, Reader, utf8Encode, Writer } from '../core/codec/index.js';
import type { ReadonlyVectorClock, VectorClock } from '../core/clock/vector-clock.js';
import { ErrorCode, fail, isSmacError } from '../core/errors.js';
import { maxEnvelopeBytes } from './envelope.js';
import { NetError, NetErrorCode } from './errors.js';

export const SYNC_PROTOCOL = '/smac/sync/1';
export const PUSH_PROTOCOL = '/smac/push/1';

export const FrameType = {
  Request: 0x01,
  Header: 0x02,
  SnapshotChunk: 0x03,
  Events: 0x04,
  End: 0x05,
  Error: 0x06,
  Ack: 0x07,
} as const;

export const RemoteErrorReason = { Busy: 1, BadRequest: 2, Internal: 3 } as const;
export type RemoteErrorReason = (typeof RemoteErrorReason)[keyof typeof RemoteErrorReason];

export interface SyncWireLimits {
  /** Largest frame either side accepts: one largest envelope plus framing. */
  readonly maxFrameBytes: number;
  /** Largest single envelope in an EVENTS frame. */
  readonly maxEnvelopeBytes: number;
  /** Most envelopes in one EVENTS frame. */
  readonly maxEnvelopesPerFrame: number;
  /** Longest origin in a clock. */
  readonly maxOriginBytes: number;
  /**
   * Largest snapshot a client accepts, in bytes. The client decodes a snapshot as its chunks
   * arrive (core/codec/snapshot-decoder.ts) and never holds its bytes whole, but the state it
   * builds grows with them (several times their size in heap), so this bounds the memory one
   * peer can make it use. A header announcing more is refused at once.
   */
  readonly maxSnapshotBytes: number;
}

/** Default snapshot bound: 128 MiB of encoded state (docs/agent.md gives measured heap per MiB). */
export const DEFAULT_MAX_SNAPSHOT_BYTES = 128 * 1024 * 1024;

export const DEFAULT_SYNC_WIRE_LIMITS: Readonly<SyncWireLimits> = Object.freeze({
  maxFrameBytes: maxEnvelopeBytes() + 64 * 1024,
  maxEnvelopeBytes: maxEnvelopeBytes(),
  maxEnvelopesPerFrame: 4096,
  maxOriginBytes: DEFAULT_EVENT_CODEC_LIMITS.maxOriginBytes,
  maxSnapshotBytes: DEFAULT_MAX_SNAPSHOT_BYTES,
});

/** Snapshot bytes per SNAPSHOT_CHUNK frame. */
export const SNAPSHOT_CHUNK_BYTES = 1024 * 1024;

export type WireFrame =
  | { readonly type: 'request'; readonly vc: VectorClock }
  | {
      readonly type: 'header';
      readonly vc: VectorClock;
      readonly compacted: VectorClock;
      readonly snapshotBytes: number;
    }
  | { readonly type: 'snapshot-chunk'; readonly bytes: Uint8Array }
  | { readonly type: 'events'; readonly envelopes: Uint8Array[] }
  | { readonly type: 'end'; readonly count: number }
  | { readonly type: 'error'; readonly reason: RemoteErrorReason; readonly message: string }
  | { readonly type: 'ack'; readonly count: number };

const MAX_ERROR_TEXT_BYTES = 1024;

function clockSpec(what: string, limits: SyncWireLimits, code: ErrorCode) {
  return { what, code, maxOriginBytes: limits.maxOriginBytes };
}

function writeClock(w: Writer, vc: ReadonlyVectorClock, what: string, limits: SyncWireLimits): void {
  writeClockEntries(w, prepareClockEntries(vc, clockSpec(what, limits, ErrorCode.InvalidArgument)));
}

export function encodeRequest(vc: ReadonlyVectorClock, limits = DEFAULT_SYNC_WIRE_LIMITS): Uint8Array {
  const w = new Writer().u8(FrameType.Request);
  writeClock(w, vc, "requester's clock", limits);
  return w.finish();
}

export function encodeHeader(
  vc: ReadonlyVectorClock,
  compacted: ReadonlyVectorClock,
  snapshotBytes: number,
  limits = DEFAULT_SYNC_WIRE_LIMITS,
): Uint8Array {
  const w = new Writer().u8(FrameType.Header);
  writeClock(w, vc, "responder's clock", limits);
  writeClock(w, compacted, 'compacted clock', limits);
  return w.varint(snapshotBytes).finish();
}

export function encodeSnapshotChunk(bytes: Uint8Array): Uint8Array {
  return new Writer(bytes.length + 1).u8(FrameType.SnapshotChunk).bytes(bytes).finish();
}

export function encodeEvents(envelopes: readonly Uint8Array[]): Uint8Array {
  if (envelopes.length === 0)
    fail(ErrorCode.InvalidArgument, 'An EVENTS frame must carry at least one envelope.');
  let size = 6;
  for (const e of envelopes) size += e.length + 5;
  const w = new Writer(size).u8(FrameType.Events).varint(envelopes.length);
  for (const e of envelopes) w.lenBytes(e);
  return w.finish();
}

export function encodeEnd(count: number): Uint8Array {
  return new Writer(10).u8(FrameType.End).varint(count).finish();
}

export function encodeAck(count: number): Uint8Array {
  return new Writer(10).u8(FrameType.Ack).varint(count).finish();
}

export function encodeError(reason: RemoteErrorReason, message: string): Uint8Array {
  let text = utf8Encode(message.replace(/\p{Cs}/gu, '?'));
  if (text.length > MAX_ERROR_TEXT_BYTES) text = text.subarray(0, MAX_ERROR_TEXT_BYTES);
  return new Writer(text.length + 8).u8(FrameType.Error).u8(reason).lenBytes(text).finish();
}

/** Decodes one frame from untrusted bytes; throws NetError BAD_FRAME. */
export function decodeFrame(bytes: Uint8Array, limits = DEFAULT_SYNC_WIRE_LIMITS): WireFrame {
  try {
    return decodeFrameUnchecked(bytes, limits);
  } catch (e) {
    if (isSmacError(e)) {
      throw new NetError(NetErrorCode.BadFrame, `A malformed sync frame: ${e.message}`, { cause: e });
    }
    throw e;
  }
}

function decodeFrameUnchecked(bytes: Uint8Array, limits: SyncWireLimits): WireFrame {
  const r = new Reader(bytes);
  const type = r.u8('frame type');
  let frame: WireFrame;
  switch (type) {
    case FrameType.Request:
      frame = {
        type: 'request',
        vc: readClockEntries(r, clockSpec("requester's clock", limits, ErrorCode.DecodeError)),
      };
      break;
    case FrameType.Header: {
      const vc = readClockEntries(r, clockSpec("responder's clock", limits, ErrorCode.DecodeError));
      const compacted = readClockEntries(r, clockSpec('compacted clock', limits, ErrorCode.DecodeError));
      const snapshotBytes = r.varint('snapshot size');
      if (snapshotBytes > limits.maxSnapshotBytes) {
        fail(
          ErrorCode.TooLarge,
          `The peer announces a snapshot of ${snapshotBytes} bytes; this agent accepts at most ` +
            `${limits.maxSnapshotBytes} (maxSnapshotBytes). It was refused before any of it was received.`,
          { bytes: snapshotBytes, limit: limits.maxSnapshotBytes },
        );
      }
      frame = { type: 'header', vc, compacted, snapshotBytes };
      break;
    }
    case FrameType.SnapshotChunk:
      if (r.remaining === 0) fail(ErrorCode.DecodeError, 'The snapshot chunk is empty.');
      frame = { type: 'snapshot-chunk', bytes: r.rest() };
      break;
    case FrameType.Events: {
      const count = r.varint('envelope count');
      if (count === 0) fail(ErrorCode.DecodeError, 'The EVENTS frame is empty.');
      if (count > limits.maxEnvelopesPerFrame) {
        fail(
          ErrorCode.TooLarge,
          `The EVENTS frame has ${count} envelopes; the limit is ${limits.maxEnvelopesPerFrame}.`,
        );
      }
      const envelopes: Uint8Array[] = [];
      for (let i = 0; i < count; i++) {
        const e = r.lenBytes(limits.maxEnvelopeBytes, 'envelope');
        if (e.length === 0) fail(ErrorCode.DecodeError, 'The EVENTS frame holds an empty envelope.');
        // A copy (Buffer#slice would not be one), so a kept envelope does not pin the frame.
        envelopes.push(new Uint8Array(e));
      }
      frame = { type: 'events', envelopes };
      break;
    }
    case FrameType.End:
      frame = { type: 'end', count: r.varint('envelope total') };
      break;
    case FrameType.Ack:
      frame = { type: 'ack', count: r.varint('acknowledged envelopes') };
      break;
    case FrameType.Error: {
      const reason = r.u8('error reason');
      if (reason !== 1 && reason !== 2 && reason !== 3)
        fail(ErrorCode.DecodeError, `Unknown error reason ${reason}.`);
      const text = new TextDecoder('utf-8', { fatal: false }).decode(
        r.lenBytes(MAX_ERROR_TEXT_BYTES, 'error text'),
      );
      frame = { type: 'error', reason, message: text };
      break;
    }
    default:
      return fail(ErrorCode.DecodeError, `Unknown frame type ${type}.`);
  }
  r.end('frame');
  return frame;
}
