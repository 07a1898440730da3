/**
 * Byte-level building blocks of SMAC's wire and storage encodings: unsigned LEB128 varints
 * (the DWARF / protobuf base-128 encoding) for safe integers, length-prefixed UTF-8 strings,
 * and raw bytes. The Reader treats its input as hostile: every read is bounds-checked and
 * every malformation throws SmacError DECODE_ERROR, never a TypeError or RangeError.
 *
 * Varints are canonical: the decoder rejects non-minimal encodings (a trailing 0x00 group),
 * so a value has exactly one encoding and a decoded message re-encodes to the same bytes.
 * Arithmetic, not 32-bit bitwise operators, carries the value, because numbers up to 2^53-1
 * do not fit in the 32-bit integers that `<<`, `|` and `>>>` work on.
 */
import { ErrorCode, fail } from '../errors.js';

/** 2^53-1 needs 53 bits, i.e. ceil(53 / 7) = 8 groups of 7. Anything longer is overlong. */
export const MAX_VARINT_BYTES = 8;

const encoder = new TextEncoder();
// ignoreBOM: a leading U+FEFF is part of the string, not a marker to strip; without it an
// origin starting with U+FEFF would not round-trip.
const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
// In a u-mode regex a well-formed surrogate pair is one code point, so this matches lone halves only.
const LONE_SURROGATE = /\p{Cs}/u;

/** Bytes the varint encoding of `n` takes (1 for 0..127, 8 for 2^53-1). */
export function varintSize(n: number): number {
  assertSafeCount(n);
  let size = 1;
  while (n >= 128) {
    n = Math.floor(n / 128);
    size++;
  }
  return size;
}

/** False when `s` holds a lone UTF-16 surrogate, which has no UTF-8 encoding. */
export function isWellFormedText(s: string): boolean {
  return !LONE_SURROGATE.test(s);
}

/**
 * UTF-8 bytes of `s`. Rejects lone surrogates: TextEncoder would silently replace them with
 * U+FFFD, so the string would come back different from what was sent.
 */
export function utf8Encode(s: string, what = 'string'): Uint8Array {
  if (!isWellFormedText(s)) {
    fail(
      ErrorCode.InvalidArgument,
      `The ${what} contains a lone UTF-16 surrogate; it cannot be encoded as UTF-8.`,
    );
  }
  return encoder.encode(s);
}

/** Strict UTF-8 decoding: invalid sequences throw DECODE_ERROR instead of becoming U+FFFD. */
export function utf8Decode(bytes: Uint8Array, what = 'string'): string {
  try {
    return decoder.decode(bytes);
  } catch {
    return fail(ErrorCode.DecodeError, `The ${what} is not valid UTF-8.`);
  }
}

/** Unsigned lexicographic byte order, which for UTF-8 is Unicode code point order. */
export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const d = (a[i] ?? 0) - (b[i] ?? 0);
    if (d !== 0) return d;
  }
  return a.length - b.length;
}

function assertSafeCount(n: number): void {
  if (!Number.isSafeInteger(n) || n < 0) {
    fail(ErrorCode.InvalidArgument, `A varint must be an integer from 0 to 2^53-1; got ${String(n)}.`);
  }
}

/** Append-only byte buffer that grows by doubling. */
export class Writer {
  private buf: Uint8Array;
  private len = 0;

  constructor(initialCapacity = 64) {
    this.buf = new Uint8Array(Math.max(16, initialCapacity));
  }

  /** Bytes written so far. */
  get length(): number {
    return this.len;
  }

  u8(n: number): this {
    if (!Number.isInteger(n) || n < 0 || n > 255) {
      fail(ErrorCode.InvalidArgument, `A byte must be an integer from 0 to 255; got ${String(n)}.`);
    }
    this.reserve(1);
    this.buf[this.len++] = n;
    return this;
  }

  varint(n: number): this {
    assertSafeCount(n);
    this.reserve(MAX_VARINT_BYTES);
    while (n >= 128) {
      this.buf[this.len++] = (n % 128) + 128;
      n = Math.floor(n / 128);
    }
    this.buf[this.len++] = n;
    return this;
  }

  /** Raw bytes, no length prefix: for a field that runs to the end of the buffer. */
  bytes(b: Uint8Array): this {
    this.reserve(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
    return this;
  }

  /** Varint length, then the bytes. */
  lenBytes(b: Uint8Array): this {
    return this.varint(b.length).bytes(b);
  }

  /** Varint byte length, then the UTF-8 bytes of `s`. */
  str(s: string, what = 'string'): this {
    return this.lenBytes(utf8Encode(s, what));
  }

  /** A copy of the bytes written, sized exactly. */
  finish(): Uint8Array {
    return this.buf.slice(0, this.len);
  }

  private reserve(extra: number): void {
    const need = this.len + extra;
    if (need <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < need) cap *= 2;
    const next = new Uint8Array(cap);
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
  }
}

/** Cursor over untrusted bytes. `what` arguments name the field in error messages. */
export class Reader {
  private readonly buf: Uint8Array;
  private pos = 0;

  constructor(bytes: Uint8Array) {
    if (!(bytes instanceof Uint8Array)) {
      fail(ErrorCode.InvalidArgument, 'The input to decode must be a Uint8Array.');
    }
    this.buf = bytes;
  }

  get offset(): number {
    return this.pos;
  }

  get remaining(): number {
    return this.buf.length - this.pos;
  }

  u8(what = 'byte'): number {
    const b = this.buf[this.pos];
    if (b === undefined) this.truncated(what, 1);
    this.pos++;
    return b;
  }

  varint(what = 'varint'): number {
    const start = this.pos;
    let value = 0;
    let scale = 1;
    for (let i = 0; ; i++) {
      const b = this.buf[this.pos];
      if (b === undefined) this.truncated(what, 1);
      this.pos++;
      if (i === MAX_VARINT_BYTES - 1 && b >= 128) {
        fail(
          ErrorCode.DecodeError,
          `The ${what} at byte ${start} is longer than ${MAX_VARINT_BYTES} bytes.`,
          {
            offset: start,
          },
        );
      }
      value += (b % 128) * scale;
      if (b < 128) {
        if (b === 0 && i > 0) {
          fail(ErrorCode.DecodeError, `The ${what} at byte ${start} is not minimally encoded.`, {
            offset: start,
          });
        }
        // Past 2^53 the sum may round, but only to values that are still above the bound.
        if (value > Number.MAX_SAFE_INTEGER) {
          fail(ErrorCode.DecodeError, `The ${what} at byte ${start} exceeds 2^53-1.`, { offset: start });
        }
        return value;
      }
      scale *= 128;
    }
  }

  /** The next `n` bytes, as a view (not a copy). */
  bytes(n: number, what = 'bytes'): Uint8Array {
    if (!Number.isSafeInteger(n) || n < 0) {
      fail(ErrorCode.InvalidArgument, `A byte count must be a non-negative integer; got ${String(n)}.`);
    }
    if (n > this.remaining) this.truncated(what, n);
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  /** A varint length, then that many bytes. A length over `maxBytes` is TOO_LARGE. */
  lenBytes(maxBytes: number, what = 'bytes'): Uint8Array {
    const n = this.varint(`length of the ${what}`);
    if (n > maxBytes) {
      fail(ErrorCode.TooLarge, `The ${what} is ${n} bytes; the limit is ${maxBytes} bytes.`, {
        bytes: n,
        limit: maxBytes,
      });
    }
    return this.bytes(n, what);
  }

  str(maxBytes: number, what = 'string'): string {
    return utf8Decode(this.lenBytes(maxBytes, what), what);
  }

  /** Everything not yet read, as a view. */
  rest(): Uint8Array {
    return this.bytes(this.remaining);
  }

  /** Asserts the input is fully consumed. */
  end(what = 'input'): void {
    if (this.remaining !== 0) {
      fail(ErrorCode.DecodeError, `The ${what} has ${this.remaining} unexpected trailing bytes.`, {
        offset: this.pos,
      });
    }
  }

  private truncated(what: string, need: number): never {
    return fail(
      ErrorCode.DecodeError,
      `The input is truncated: the ${what} at byte ${this.pos} needs ${need} bytes but ${this.remaining} remain.`,
      { offset: this.pos },
    );
  }
}
