// Snapshot codec v1: round-trip property, the exact layout, every validation code, and fuzzing.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  decodeSnapshot,
  encodeSnapshot,
  type Snapshot,
  SNAPSHOT_CODEC_VERSION,
  utf8Encode,
  Writer,
} from '../../../src/core/codec/index.js';
import { SmacError } from '../../../src/core/errors.js';
import { canonicalJson, type Json } from '../../../src/core/json.js';

function codeOf(f: () => unknown): string | undefined {
  try {
    f();
  } catch (e) {
    if (e instanceof SmacError) return e.code;
    throw e;
  }
  return undefined;
}

function normalize(s: Snapshot): unknown {
  return { ...s, vc: [...s.vc].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)) };
}

/** JSON has no -0 (it is written as 0), so generated values use +0. */
function positiveZero(v: unknown): Json {
  if (typeof v === 'number') return v === 0 ? 0 : v;
  if (Array.isArray(v)) return v.map(positiveZero);
  if (v !== null && typeof v === 'object') {
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, positiveZero(x)]));
  }
  return v as Json;
}

/** Builds v1 bytes field by field, without the encoder's validation, to craft bad inputs. */
function raw(p: { version?: number; vc?: [string, number][]; keyspace?: string }): Uint8Array {
  const w = new Writer().u8(p.version ?? 1);
  const vc = p.vc ?? [];
  w.varint(vc.length);
  for (const [o, n] of vc) w.str(o).varint(n);
  return w
    .varint(1000)
    .varint(0)
    .bytes(new TextEncoder().encode(p.keyspace ?? '{"objects":{}}'))
    .finish();
}

const codePoint = fc
  .integer({ min: 0, max: 0x10ffff })
  .filter((c) => c < 0xd800 || c > 0xdfff)
  .map((c) => String.fromCodePoint(c));
const originArb = fc
  .oneof(
    fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 52 }),
    fc.string({ unit: codePoint, minLength: 1, maxLength: 8 }),
  )
  .filter((s) => utf8Encode(s).length <= 128);
const countArb = fc.oneof(fc.nat(1000), fc.maxSafeNat());

const snapshotArb: fc.Arbitrary<Snapshot> = fc.record({
  vc: fc
    .uniqueArray(fc.tuple(originArb, fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER })), {
      selector: ([o]) => o,
      maxLength: 8,
    })
    .map((entries) => new Map(entries)),
  hlc: fc.record({ wall: countArb, logical: countArb }),
  keyspace: fc.jsonValue({ maxDepth: 6 }).map(positiveZero),
});

const sample: Snapshot = {
  vc: new Map([
    ['node-b', 40],
    ['node-a', 12],
  ]),
  hlc: { wall: 1_700_000_000_000, logical: 1 },
  keyspace: { objects: { 'pn-counter:hits': { p: { 'node-a': 3 }, n: {} } } },
};

describe('encodeSnapshot / decodeSnapshot round trip', () => {
  it('decode(encode(s)) equals s for arbitrary snapshots', () => {
    fc.assert(
      fc.property(snapshotArb, (s) => {
        const bytes = encodeSnapshot(s);
        const decoded = decodeSnapshot(bytes);
        expect(normalize(decoded)).toEqual(normalize(s));
        expect(decoded.vc).toBeInstanceOf(Map);
        expect(encodeSnapshot(decoded)).toEqual(bytes);
      }),
      { numRuns: 200 },
    );
  });

  it('the keyspace is its canonicalJson text, written entry by entry', () => {
    const keyspaces = fc.oneof(
      fc.jsonValue({ maxDepth: 4 }),
      fc.array(fc.jsonValue({ maxDepth: 3 })),
      fc.dictionary(fc.string({ unit: 'binary' }), fc.jsonValue({ maxDepth: 3 })),
    );
    fc.assert(
      fc.property(keyspaces, (k) => {
        const keyspace = positiveZero(k);
        const empty = encodeSnapshot({ vc: new Map(), hlc: { wall: 0, logical: 0 }, keyspace: null });
        const bytes = encodeSnapshot({ vc: new Map(), hlc: { wall: 0, logical: 0 }, keyspace });
        const text = utf8Encode(canonicalJson(keyspace, Number.MAX_SAFE_INTEGER));
        expect(bytes).toEqual(new Uint8Array([...empty.subarray(0, empty.length - 4), ...text]));
      }),
      { numRuns: 300 },
    );
  });

  it('writes the documented v1 layout byte for byte', () => {
    const s: Snapshot = {
      vc: new Map([
        ['b', 2],
        ['a', 300],
      ]),
      hlc: { wall: 128, logical: 0 },
      keyspace: { y: 1, x: [] },
    };
    // prettier-ignore
    const expected = [
      SNAPSHOT_CODEC_VERSION,
      2, // two entries, sorted by origin
      1, 0x61, 0xac, 0x02, // "a": 300
      1, 0x62, 0x02, // "b": 2
      0x80, 0x01, 0, // hlc
      ...new TextEncoder().encode('{"x":[],"y":1}'),
    ];
    expect([...encodeSnapshot(s)]).toEqual(expected);
  });

  it('encodes an empty clock and a scalar keyspace', () => {
    const s: Snapshot = { vc: new Map(), hlc: { wall: 0, logical: 0 }, keyspace: null };
    expect([...encodeSnapshot(s)]).toEqual([1, 0, 0, 0, 0x6e, 0x75, 0x6c, 0x6c]);
    expect(decodeSnapshot(encodeSnapshot(s))).toEqual(s);
  });
});

describe('format 3: a clock pruned of retired epochs, listed with their cuts', () => {
  const pruned: Snapshot = {
    vc: new Map([['a', 2]]),
    hlc: { wall: 5, logical: 1 },
    keyspace: { x: 1 },
    heads: [],
    retired: new Map([['p~1', 7]]),
  };

  it('writes version 3 with the retired cuts after the heads, and reads them back', () => {
    const bytes = encodeSnapshot(pruned);
    expect(bytes[0]).toBe(3);
    expect(decodeSnapshot(bytes)).toEqual(pruned);
  });

  it('an epoch both in the clock and among the retired is refused on both sides', () => {
    const both = { ...pruned, retired: new Map([['a', 2]]) };
    expect(codeOf(() => encodeSnapshot(both))).toBe('INVALID_ARGUMENT');
    const w = new Writer().u8(3).varint(1).str('a').varint(2).varint(0).varint(0).varint(0);
    w.varint(1).str('a').varint(2).bytes(utf8Encode('{}'));
    expect(codeOf(() => decodeSnapshot(w.finish()))).toBe('DECODE_ERROR');
  });
});

describe('decodeSnapshot validation', () => {
  it('accepts the hand-built baseline', () => {
    expect(decodeSnapshot(raw({ vc: [['a', 1]] }))).toEqual({
      vc: new Map([['a', 1]]),
      hlc: { wall: 1000, logical: 0 },
      keyspace: { objects: {} },
    });
  });

  it.each([0, 4, 255])('version %d is UNSUPPORTED_VERSION', (version) => {
    expect(codeOf(() => decodeSnapshot(raw({ version })))).toBe('UNSUPPORTED_VERSION');
  });

  it('an origin over maxOriginBytes is TOO_LARGE', () => {
    expect(codeOf(() => decodeSnapshot(raw({ vc: [['x'.repeat(129), 1]] })))).toBe('TOO_LARGE');
    expect(codeOf(() => decodeSnapshot(raw({ vc: [['abc', 1]] }), { maxOriginBytes: 2 }))).toBe('TOO_LARGE');
  });

  it.each<[string, Uint8Array]>([
    ['an empty input', new Uint8Array()],
    ['an empty origin', raw({ vc: [['', 1]] })],
    ['a zero count', raw({ vc: [['a', 0]] })],
    [
      'a duplicate origin',
      raw({
        vc: [
          ['a', 1],
          ['a', 2],
        ],
      }),
    ],
    [
      'unsorted origins',
      raw({
        vc: [
          ['b', 1],
          ['a', 2],
        ],
      }),
    ],
    ['a keyspace that is not JSON', raw({ keyspace: '{"objects":' })],
    ['a missing keyspace', raw({ keyspace: '' })],
    ['trailing bytes after the keyspace', raw({ keyspace: '{} {}' })],
    [
      'a keyspace that is not UTF-8',
      new Writer()
        .bytes(raw({ keyspace: '"' }))
        .u8(0xff)
        .u8(0x22)
        .finish(),
    ],
    ['an entry count larger than the input could hold', Uint8Array.from([1, 0xff, 0x7f, 0, 0, 0x30])],
  ])('%s is DECODE_ERROR', (_name, bytes) => {
    expect(codeOf(() => decodeSnapshot(bytes))).toBe('DECODE_ERROR');
  });

  it('every prefix cut before the keyspace is DECODE_ERROR', () => {
    const bytes = encodeSnapshot(sample);
    const keyspaceBytes = new TextEncoder().encode(JSON.stringify(sample.keyspace)).length;
    for (let n = 0; n < bytes.length - keyspaceBytes + 1; n++) {
      expect(codeOf(() => decodeSnapshot(bytes.subarray(0, n)))).toBe('DECODE_ERROR');
    }
  });

  it('input that is not a Uint8Array is refused with a SmacError', () => {
    expect(codeOf(() => decodeSnapshot(null as unknown as Uint8Array))).toBe('INVALID_ARGUMENT');
  });
});

describe('encodeSnapshot validation', () => {
  const cases: [string, unknown, string][] = [
    ['a non-object', 'snap', 'INVALID_ARGUMENT'],
    ['a clock that is not a Map', { ...sample, vc: { a: 1 } }, 'INVALID_ARGUMENT'],
    ['a zero count', { ...sample, vc: new Map([['a', 0]]) }, 'INVALID_ARGUMENT'],
    ['a fractional count', { ...sample, vc: new Map([['a', 1.5]]) }, 'INVALID_ARGUMENT'],
    ['an empty origin', { ...sample, vc: new Map([['', 1]]) }, 'INVALID_ARGUMENT'],
    ['an origin with a lone surrogate', { ...sample, vc: new Map([['\uDFFF', 1]]) }, 'INVALID_ARGUMENT'],
    ['an origin over 128 bytes', { ...sample, vc: new Map([['x'.repeat(129), 1]]) }, 'TOO_LARGE'],
    ['an HLC with a negative logical', { ...sample, hlc: { wall: 0, logical: -1 } }, 'INVALID_ARGUMENT'],
    ['a keyspace holding undefined', { ...sample, keyspace: { a: undefined } }, 'INVALID_VALUE'],
    ['a keyspace holding Infinity', { ...sample, keyspace: [Infinity] }, 'INVALID_VALUE'],
    ['a keyspace holding a Map', { ...sample, keyspace: new Map() }, 'INVALID_VALUE'],
  ];

  it.each(cases)('refuses %s', (_name, s, code) => {
    expect(codeOf(() => encodeSnapshot(s as Snapshot))).toBe(code);
  });
});

describe('fuzzing the decoder', () => {
  function decodesOrRefuses(bytes: Uint8Array): void {
    let s: Snapshot;
    try {
      s = decodeSnapshot(bytes);
    } catch (err) {
      expect(err).toBeInstanceOf(SmacError);
      return;
    }
    for (const [o, n] of s.vc) {
      expect(o.length).toBeGreaterThan(0);
      expect(Number.isSafeInteger(n) && n >= 1).toBe(true);
    }
    expect(Number.isSafeInteger(s.hlc.wall) && Number.isSafeInteger(s.hlc.logical)).toBe(true);
    expect(normalize(decodeSnapshot(encodeSnapshot(s)))).toEqual(normalize(s));
  }

  it('random bytes, with and without a valid version byte', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        decodesOrRefuses(bytes);
        decodesOrRefuses(new Writer().u8(1).bytes(bytes).finish());
      }),
      { numRuns: 300 },
    );
  });

  it('single-byte mutations and truncations of valid encodings', () => {
    fc.assert(
      fc.property(snapshotArb, fc.nat(), fc.integer({ min: 0, max: 255 }), (s, at, value) => {
        const bytes = encodeSnapshot(s);
        decodesOrRefuses(bytes.subarray(0, at % bytes.length));
        bytes[at % bytes.length] = value;
        decodesOrRefuses(bytes);
      }),
      { numRuns: 300 },
    );
  });
});
