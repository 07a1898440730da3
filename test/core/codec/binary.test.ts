// Tables and properties for the byte-level primitives: LEB128 varints, UTF-8 strings, bounds.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  compareBytes,
  MAX_VARINT_BYTES,
  Reader,
  utf8Decode,
  utf8Encode,
  varintSize,
  Writer,
} from '../../../src/core/codec/index.js';
import { SmacError } from '../../../src/core/errors.js';

// Any code point but a surrogate half (fast-check's 'binary' unit is slow to warm up).
const codePoint = fc
  .integer({ min: 0, max: 0x10ffff })
  .filter((c) => c < 0xd800 || c > 0xdfff)
  .map((c) => String.fromCodePoint(c));

function codeOf(f: () => unknown): string | undefined {
  try {
    f();
  } catch (e) {
    if (e instanceof SmacError) return e.code;
    throw e;
  }
  return undefined;
}

const readVarint = (bytes: number[]): number => {
  const r = new Reader(Uint8Array.from(bytes));
  const v = r.varint();
  r.end();
  return v;
};

describe('varint', () => {
  it.each([
    [0, [0x00]],
    [1, [0x01]],
    [127, [0x7f]],
    [128, [0x80, 0x01]],
    [300, [0xac, 0x02]],
    [16_383, [0xff, 0x7f]],
    [16_384, [0x80, 0x80, 0x01]],
    [2 ** 31, [0x80, 0x80, 0x80, 0x80, 0x08]],
    [2 ** 32, [0x80, 0x80, 0x80, 0x80, 0x10]],
    [2 ** 53 - 1, [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x0f]],
  ])('%d encodes as %j and back', (n, bytes) => {
    const out = new Writer().varint(n).finish();
    expect([...out]).toEqual(bytes);
    expect(varintSize(n)).toBe(bytes.length);
    expect(readVarint(bytes)).toBe(n);
  });

  it('2^53-1 takes exactly MAX_VARINT_BYTES', () => {
    expect(varintSize(Number.MAX_SAFE_INTEGER)).toBe(MAX_VARINT_BYTES);
  });

  it.each([
    ['a 9-byte varint', [0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01]],
    ['8 bytes with the continuation bit set on the last', [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]],
    ['2^53 (just past the safe range)', [0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x10]],
    ['the largest 8-byte value', [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]],
    ['a non-minimal zero', [0x80, 0x00]],
    ['a non-minimal 1', [0x81, 0x80, 0x00]],
    ['a truncated varint', [0x80]],
    ['a truncated long varint', [0xff, 0xff, 0xff]],
    ['no bytes at all', []],
  ])('rejects %s with DECODE_ERROR', (_name, bytes) => {
    expect(codeOf(() => readVarint(bytes))).toBe('DECODE_ERROR');
  });

  it.each([-1, 1.5, 2 ** 53, Number.NaN, Infinity])('the writer refuses %d', (n) => {
    expect(codeOf(() => new Writer().varint(n))).toBe('INVALID_ARGUMENT');
    expect(codeOf(() => varintSize(n))).toBe('INVALID_ARGUMENT');
  });

  it('round-trips any sequence of safe integers and predicts sizes', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.nat(300), fc.maxSafeNat())), (ns) => {
        const w = new Writer(1);
        for (const n of ns) w.varint(n);
        const bytes = w.finish();
        expect(bytes.length).toBe(ns.reduce((s, n) => s + varintSize(n), 0));
        const r = new Reader(bytes);
        expect(ns.map(() => r.varint())).toEqual(ns);
        r.end();
      }),
      { numRuns: 200 },
    );
  });
});

describe('strings and bytes', () => {
  it.each(['', 'node-a', 'Zürich', '東京', '🦀🇯🇵', '\uFEFFleading byte order mark', 'a\u0000b'])(
    'round-trips %j',
    (s) => {
      const bytes = new Writer().str(s).finish();
      expect(bytes[0]).toBe(utf8Encode(s).length);
      const r = new Reader(bytes);
      expect(r.str(1000)).toBe(s);
      r.end();
    },
  );

  it('round-trips arbitrary well-formed strings', () => {
    fc.assert(
      fc.property(fc.string({ unit: codePoint }), (s) => {
        expect(new Reader(new Writer().str(s).finish()).str(Number.MAX_SAFE_INTEGER)).toBe(s);
      }),
      { numRuns: 200 },
    );
  });

  it('refuses to write a lone surrogate, which UTF-8 cannot carry', () => {
    expect(codeOf(() => new Writer().str('a\uD800b'))).toBe('INVALID_ARGUMENT');
    expect(codeOf(() => utf8Encode('\uDC00'))).toBe('INVALID_ARGUMENT');
  });

  it.each([
    ['a lone continuation byte', [0x01, 0x80]],
    ['a truncated 2-byte sequence', [0x01, 0xc3]],
    ['a bad continuation', [0x02, 0xc3, 0x28]],
    ['an overlong encoding of "/"', [0x02, 0xc0, 0xaf]],
    ['an encoded surrogate', [0x03, 0xed, 0xa0, 0x80]],
  ])('rejects invalid UTF-8 (%s) with DECODE_ERROR', (_name, bytes) => {
    expect(codeOf(() => new Reader(Uint8Array.from(bytes)).str(100))).toBe('DECODE_ERROR');
  });

  it('rejects a string whose length runs past the input', () => {
    expect(codeOf(() => new Reader(Uint8Array.from([5, 0x61, 0x62])).str(100))).toBe('DECODE_ERROR');
  });

  it('rejects a string longer than the bound with TOO_LARGE, before reading it', () => {
    const bytes = new Writer().str('abcdef').finish();
    expect(codeOf(() => new Reader(bytes).str(5))).toBe('TOO_LARGE');
    expect(new Reader(bytes).str(6)).toBe('abcdef');
    // The bound is checked on the declared length, so a huge claim on a tiny input is TOO_LARGE.
    expect(codeOf(() => new Reader(new Writer().varint(2 ** 40).finish()).str(100))).toBe('TOO_LARGE');
  });

  it('utf8Decode is strict', () => {
    expect(codeOf(() => utf8Decode(Uint8Array.from([0xff])))).toBe('DECODE_ERROR');
    expect(utf8Decode(Uint8Array.from([0xef, 0xbb, 0xbf, 0x61]))).toBe('\uFEFFa');
  });

  it('raw bytes and rest() read what was written', () => {
    const bytes = new Writer()
      .u8(7)
      .lenBytes(Uint8Array.from([1, 2]))
      .bytes(Uint8Array.from([9, 9, 9]))
      .finish();
    const r = new Reader(bytes);
    expect(r.u8()).toBe(7);
    expect([...r.lenBytes(10)]).toEqual([1, 2]);
    expect([...r.rest()]).toEqual([9, 9, 9]);
    expect(r.remaining).toBe(0);
    r.end();
    expect(codeOf(() => r.u8())).toBe('DECODE_ERROR');
  });

  it('end() rejects trailing bytes', () => {
    const r = new Reader(Uint8Array.from([1, 2]));
    r.u8();
    expect(
      codeOf(() => {
        r.end();
      }),
    ).toBe('DECODE_ERROR');
  });

  it('bytes(n) rejects reads past the end and nonsense counts', () => {
    const r = new Reader(Uint8Array.from([1, 2, 3]));
    expect(codeOf(() => r.bytes(4))).toBe('DECODE_ERROR');
    expect(codeOf(() => r.bytes(-1))).toBe('INVALID_ARGUMENT');
    expect(r.offset).toBe(0);
    expect([...r.bytes(3)]).toEqual([1, 2, 3]);
  });

  it('the writer refuses values that are not bytes', () => {
    expect(codeOf(() => new Writer().u8(256))).toBe('INVALID_ARGUMENT');
    expect(codeOf(() => new Writer().u8(-1))).toBe('INVALID_ARGUMENT');
  });

  it('the reader refuses input that is not a Uint8Array', () => {
    expect(codeOf(() => new Reader([1, 2] as unknown as Uint8Array))).toBe('INVALID_ARGUMENT');
  });

  it('the writer grows past its initial capacity without losing bytes', () => {
    const big = Uint8Array.from({ length: 1000 }, (_, i) => i % 251);
    const out = new Writer(1).u8(1).bytes(big).u8(2).finish();
    expect(out.length).toBe(1002);
    expect([...out.subarray(1, 1001)]).toEqual([...big]);
    expect(out[1001]).toBe(2);
  });
});

describe('compareBytes', () => {
  it('orders UTF-8 by code point, unlike UTF-16 string comparison', () => {
    // U+FF5E sorts after U+1F600 as UTF-16 code units, before it as code points.
    const [x, y] = ['\uFF5E', '😀'] as string[];
    expect(x! < y!).toBe(false);
    expect(compareBytes(utf8Encode(x!), utf8Encode(y!))).toBeLessThan(0);
  });

  it.each([
    [[], [], 0],
    [[1], [], 1],
    [[1, 2], [1, 3], -1],
    [[2], [1, 9], 1],
  ])('compares %j with %j', (a, b, sign) => {
    expect(Math.sign(compareBytes(Uint8Array.from(a), Uint8Array.from(b)))).toBe(sign);
  });
});
