/**
 * The incremental decoder of the snapshot encoding (snapshot-codec.ts, versions 1 to 3): the
 * bytes are pushed as they arrive, split anywhere, and the snapshot is built as they go. It
 * holds the snapshot being built (clock, heads, the keyspace's JSON value so far) and, of the
 * encoded bytes, only a field that is not complete yet: a varint, an origin, a head (each
 * bounded by its limit) or a number or literal of the keyspace. So a receiver never holds a
 * whole encoded snapshot, nor its text (`bufferedBytes` says how much it holds undecoded).
 * Given a `KeyspaceSink`, it does not hold the keyspace's JSON value either: each row of it goes
 * to the sink as soon as it is complete (a replica's state is built object by object).
 *
 * It accepts exactly the bytes `decodeSnapshot` accepts and returns the same snapshot, and
 * refuses the others with the same code (UNSUPPORTED_VERSION, TOO_LARGE or DECODE_ERROR; the
 * messages may differ), with the exceptions json-stream.ts names. It throws only SmacError;
 * after a failure it stays failed. Pure: no I/O.
 */
import type { Hlc } from '../clock/hlc.js';
import type { VectorClock } from '../clock/vector-clock.js';
import { ErrorCode, fail } from '../errors.js';
import type { Json } from '../json.js';
import { MAX_VARINT_BYTES, Reader } from './binary.js';
import {
  checkClockCount,
  type ClockEntriesSpec,
  DEFAULT_EVENT_CODEC_LIMITS,
  readClockOrigin,
} from './event-codec.js';
import { JsonStreamParser } from './json-stream.js';
import {
  PROVEN_SNAPSHOT_CODEC_VERSION,
  PRUNED_SNAPSHOT_CODEC_VERSION,
  SNAPSHOT_CODEC_VERSION,
  type Snapshot,
  type SnapshotCodecLimits,
  snapshotHeadLimit,
  unsupportedSnapshotVersion,
} from './snapshot-codec.js';

/** The fields before the keyspace: known once they have arrived (vc, hlc, heads, retired). */
export type SnapshotPrefix = Omit<Snapshot, 'keyspace'>;

/**
 * What builds a keyspace from its rows as they are decoded (core/keyspace.ts `KeyspaceBuilder`):
 * the keyspace must then be a JSON array, and each element is handed to `add` as soon as it is
 * complete and dropped, so the keyspace's JSON value is never whole. `add` refuses a bad row by
 * throwing SmacError (the decoder fails there, the rest unread); `finish` makes the keyspace.
 */
export interface KeyspaceSink<K> {
  add(row: Json): void;
  finish(): K;
}

/** Received bytes not yet decoded, in arrival order; reads never copy more than one field. */
class ByteQueue {
  private readonly chunks: Uint8Array[] = [];
  private head = 0;
  length = 0;

  push(b: Uint8Array): void {
    if (b.length === 0) return;
    this.chunks.push(b);
    this.length += b.length;
  }

  /** The next `n` bytes (a view when they lie in one chunk, else a copy), or undefined. */
  take(n: number): Uint8Array | undefined {
    if (this.length < n) return undefined;
    const first = this.chunks[0];
    let out: Uint8Array;
    if (first !== undefined && first.length - this.head >= n) {
      out = first.subarray(this.head, this.head + n);
      this.advance(n);
      return out;
    }
    out = new Uint8Array(n);
    for (let filled = 0; filled < n;) {
      const c = this.chunks[0];
      if (c === undefined) break;
      const part = c.subarray(this.head, Math.min(c.length, this.head + n - filled));
      out.set(part, filled);
      filled += part.length;
      this.advance(part.length);
    }
    return out;
  }

  /** Length of the varint at the front when it is complete (or overlong), else undefined. */
  varintLength(): number | undefined {
    let i = 0;
    for (const [c, from] of this.views()) {
      for (let k = from; k < c.length; k++) {
        i++;
        if ((c[k] ?? 0) < 0x80 || i === MAX_VARINT_BYTES) return i;
      }
    }
    return undefined;
  }

  /** Everything left, emptying the queue. */
  drain(): Uint8Array[] {
    const out = [...this.views()].map(([c, from]) => c.subarray(from));
    this.chunks.length = 0;
    this.head = 0;
    this.length = 0;
    return out;
  }

  private *views(): Generator<[Uint8Array, number]> {
    for (const [i, c] of this.chunks.entries()) yield [c, i === 0 ? this.head : 0];
  }

  private advance(n: number): void {
    this.length -= n;
    this.head += n;
    for (let c = this.chunks[0]; c !== undefined && this.head >= c.length; c = this.chunks[0]) {
      this.chunks.shift();
      this.head -= c.length;
    }
  }
}

/** `yield` in these readers means "push more bytes". */
type Step<T> = Generator<void, T, void>;

/** `K`: the keyspace as its JSON value, or what a `KeyspaceSink` built from its rows. */
export class SnapshotDecoder<K = Json> {
  private readonly q = new ByteQueue();
  private readonly prefixSteps: Step<SnapshotPrefix>;
  private parsedPrefix: SnapshotPrefix | undefined;
  private json: JsonStreamParser | undefined;
  private readonly text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
  private failure: Error | undefined;
  private received = 0;
  private peak = 0;
  private readonly maxOriginBytes: number;
  private readonly maxHeadBytes: number;

  /**
   * `totalBytes`: the size of the whole encoding, when it is known before it arrives (a sync
   * header announces it): a clock whose entry count cannot fit in it is refused at once, as
   * `decodeSnapshot` does, and bytes past it are refused.
   */
  constructor(
    limits: SnapshotCodecLimits = DEFAULT_EVENT_CODEC_LIMITS,
    private readonly totalBytes?: number,
    private readonly keyspace?: KeyspaceSink<K>,
  ) {
    this.maxOriginBytes = limits.maxOriginBytes;
    this.maxHeadBytes = snapshotHeadLimit(limits);
    this.prefixSteps = this.readPrefix();
  }

  /** Bytes pushed so far. */
  get receivedBytes(): number {
    return this.received;
  }

  /** Encoded bytes held now and not yet decoded (an incomplete field). */
  get bufferedBytes(): number {
    return this.q.length + (this.json?.pendingChars ?? 0);
  }

  /** The most bytes ever held undecoded. */
  get peakBufferedBytes(): number {
    return this.peak;
  }

  /** The clock, HLC, heads and retired epochs, once decoded (before the keyspace arrives). */
  get prefix(): SnapshotPrefix | undefined {
    return this.parsedPrefix;
  }

  /** Decodes the next bytes. Throws SmacError at the first field in error. */
  push(bytes: Uint8Array): void {
    this.guard(() => {
      this.received += bytes.length;
      if (this.totalBytes !== undefined && this.received > this.totalBytes)
        fail(ErrorCode.DecodeError, `The snapshot runs past the ${this.totalBytes} bytes announced.`);
      if (this.json) {
        this.writeText(bytes);
        return;
      }
      this.q.push(bytes);
      this.note();
      if (this.prefixSteps.next().done !== true) {
        this.note();
        return;
      }
      for (const rest of this.q.drain()) this.writeText(rest);
    });
  }

  /** The input is complete: the snapshot, or SmacError DECODE_ERROR if it is cut short. */
  end(): Snapshot<K> {
    return this.guard(() => {
      if (!this.json || !this.parsedPrefix)
        fail(ErrorCode.DecodeError, `The snapshot is truncated: it ends after ${this.received} bytes.`);
      this.writeText(undefined);
      const json = this.json.end();
      // Without a sink K is Json (the constructor's default), the value parsed.
      return { ...this.parsedPrefix, keyspace: this.keyspace ? this.keyspace.finish() : (json as K) };
    });
  }

  private guard<T>(f: () => T): T {
    if (this.failure !== undefined) throw this.failure;
    try {
      return f();
    } catch (e) {
      this.failure = e as Error;
      this.q.drain(); // nothing more is decoded: hold none of it
      this.json = undefined;
      throw e;
    }
  }

  private note(): void {
    this.peak = Math.max(this.peak, this.bufferedBytes);
  }

  private writeText(bytes: Uint8Array | undefined): void {
    let s: string;
    try {
      s = bytes === undefined ? this.text.decode() : this.text.decode(bytes, { stream: true });
    } catch {
      return fail(ErrorCode.DecodeError, 'The snapshot keyspace is not valid UTF-8.');
    }
    this.json?.write(s);
    this.note();
  }

  private *readPrefix(): Step<SnapshotPrefix> {
    const version = (yield* this.bytes(1, 'snapshot version'))[0] ?? 0;
    if (version < SNAPSHOT_CODEC_VERSION || version > PRUNED_SNAPSHOT_CODEC_VERSION)
      unsupportedSnapshotVersion(version);
    const vc = yield* this.clock({
      what: "snapshot's vector clock",
      code: ErrorCode.DecodeError,
      maxOriginBytes: this.maxOriginBytes,
    });
    const hlc: Hlc = {
      wall: yield* this.varint("snapshot's HLC wall time"),
      logical: yield* this.varint("snapshot's HLC logical counter"),
    };
    let prefix: SnapshotPrefix = { vc, hlc };
    if (version >= PROVEN_SNAPSHOT_CODEC_VERSION) {
      const count = yield* this.varint("snapshot's head count");
      if (count > vc.size) {
        fail(
          ErrorCode.DecodeError,
          `The snapshot carries ${count} heads for a clock of ${vc.size} entries; at most one per entry.`,
        );
      }
      const heads: Uint8Array[] = [];
      for (let i = 0; i < count; i++) {
        const h = yield* this.lenBytes(this.maxHeadBytes, "snapshot's head");
        if (h.length === 0) fail(ErrorCode.DecodeError, 'The snapshot carries an empty head.');
        heads.push(new Uint8Array(h)); // a copy: a kept head must not pin a received chunk
      }
      prefix = { vc, hlc, heads };
    }
    if (version === PRUNED_SNAPSHOT_CODEC_VERSION) {
      const retired = yield* this.clock({
        what: "snapshot's retired epochs",
        code: ErrorCode.DecodeError,
        maxOriginBytes: this.maxOriginBytes,
      });
      for (const e of retired.keys())
        if (vc.has(e))
          fail(
            ErrorCode.DecodeError,
            `The snapshot lists ${e} both in its clock and among its retired epochs.`,
          );
      prefix = { ...prefix, retired };
    }
    this.parsedPrefix = prefix;
    this.json = new JsonStreamParser('snapshot keyspace', this.keyspace?.add.bind(this.keyspace));
    return prefix;
  }

  private *bytes(n: number, what: string): Step<Uint8Array> {
    for (;;) {
      const b = this.q.take(n);
      if (b !== undefined) return b;
      if (this.totalBytes !== undefined && this.received >= this.totalBytes)
        fail(
          ErrorCode.DecodeError,
          `The input is truncated: the ${what} needs ${n} bytes but ${this.q.length} remain.`,
        );
      yield;
    }
  }

  private *varint(what: string): Step<number> {
    for (;;) {
      const n = this.q.varintLength();
      const b = n === undefined ? undefined : this.q.take(n);
      if (b !== undefined) return new Reader(b).varint(what);
      yield;
    }
  }

  private *lenBytes(max: number, what: string): Step<Uint8Array> {
    const n = yield* this.varint(`length of the ${what}`);
    if (n > max)
      fail(ErrorCode.TooLarge, `The ${what} is ${n} bytes; the limit is ${max} bytes.`, {
        bytes: n,
        limit: max,
      });
    return yield* this.bytes(n, what);
  }

  /** As readClockEntries (event-codec.ts), an entry at a time. */
  private *clock(spec: ClockEntriesSpec): Step<VectorClock> {
    const count = yield* this.varint(`entry count of the ${spec.what}`);
    // Each entry takes at least 2 bytes; refuse an absurd count before looping over it.
    const remaining =
      this.totalBytes === undefined ? Infinity : this.totalBytes - (this.received - this.q.length);
    if (count > remaining / 2) {
      fail(
        ErrorCode.DecodeError,
        `The input is truncated: it claims ${count} entries in the ${spec.what} but only ${remaining} bytes remain.`,
      );
    }
    const vc: VectorClock = new Map();
    let prev: Uint8Array | undefined;
    for (let i = 0; i < count; i++) {
      const bytes = new Uint8Array(yield* this.lenBytes(spec.maxOriginBytes, `origin in the ${spec.what}`));
      const id = readClockOrigin(bytes, prev, spec);
      const n = checkClockCount(yield* this.varint(`count for ${id} in the ${spec.what}`), id, spec);
      vc.set(id, n);
      prev = bytes;
    }
    return vc;
  }
}
