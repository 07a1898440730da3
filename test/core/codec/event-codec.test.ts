// Event codec v1: round-trip properties, the exact layout, every validation code, and fuzzing.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  decodeEvent,
  DEFAULT_EVENT_CODEC_LIMITS,
  encodeEvent,
  EVENT_CODEC_VERSION,
  eventMetadataBytes,
  type EventCodecLimits,
  utf8Encode,
  varintSize,
  Writer,
} from '../../../src/core/codec/index.js';
import { SmacError } from '../../../src/core/errors.js';
import type { Event } from '../../../src/core/event.js';
import type { Json } from '../../../src/core/json.js';

function codeOf(f: () => unknown): string | undefined {
  try {
    f();
  } catch (e) {
    if (e instanceof SmacError) return e.code;
    throw e;
  }
  return undefined;
}

/** Deps as sorted entries, so Maps compare by content whatever their insertion order. */
function normalize(e: Event): unknown {
  return { ...e, deps: [...e.deps].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)) };
}

/** Builds v1 bytes field by field, without the encoder's validation, to craft bad inputs. */
function raw(p: {
  version?: number;
  origin?: string;
  seq?: number;
  deps?: [string, number][];
  wall?: number;
  logical?: number;
  nOps?: number;
  ops?: string;
}): Uint8Array {
  const w = new Writer()
    .u8(p.version ?? 1)
    .str(p.origin ?? 'node-a')
    .varint(p.seq ?? 1);
  const deps = p.deps ?? [];
  w.varint(deps.length);
  for (const [o, n] of deps) w.str(o).varint(n);
  w.varint(p.wall ?? 1000)
    .varint(p.logical ?? 0)
    .varint(p.nOps ?? 1);
  return w.bytes(new TextEncoder().encode(p.ops ?? '[{"op":"inc"}]')).finish();
}

function expectValidEvent(e: Event): void {
  expect(typeof e.origin).toBe('string');
  expect(e.origin.length).toBeGreaterThan(0);
  expect(Number.isSafeInteger(e.seq) && e.seq >= 1).toBe(true);
  expect(e.deps).toBeInstanceOf(Map);
  for (const [o, n] of e.deps) {
    expect(o.length).toBeGreaterThan(0);
    expect(o).not.toBe(e.origin);
    expect(Number.isSafeInteger(n) && n >= 1).toBe(true);
  }
  expect(Number.isSafeInteger(e.hlc.wall) && e.hlc.wall >= 0).toBe(true);
  expect(Number.isSafeInteger(e.hlc.logical) && e.hlc.logical >= 0).toBe(true);
  expect(Array.isArray(e.ops)).toBe(true);
  // A decoded event is one the encoder accepts, and it survives another round trip.
  expect(normalize(decodeEvent(encodeEvent(e)))).toEqual(normalize(e));
}

// Any code point but a surrogate half (fast-check's 'binary' unit is slow to warm up).
const codePoint = fc
  .integer({ min: 0, max: 0x10ffff })
  .filter((c) => c < 0xd800 || c > 0xdfff)
  .map((c) => String.fromCodePoint(c));
const originArb = fc
  .oneof(
    fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 52 }),
    fc.string({ unit: 'grapheme', minLength: 1, maxLength: 8 }),
    fc.string({ unit: codePoint, minLength: 1, maxLength: 8 }),
  )
  .filter((s) => utf8Encode(s).length <= DEFAULT_EVENT_CODEC_LIMITS.maxOriginBytes);
const seqArb = fc.oneof(
  fc.integer({ min: 1, max: 1000 }),
  fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
);
const countArb = fc.oneof(fc.nat(1000), fc.maxSafeNat());

/** JSON has no -0 (it is written as 0), so generated values use +0; a dedicated test covers -0. */
function positiveZero(v: unknown): Json {
  if (typeof v === 'number') return v === 0 ? 0 : v;
  if (Array.isArray(v)) return v.map(positiveZero);
  if (v !== null && typeof v === 'object') {
    // fromEntries defines own properties, so a "__proto__" key stays data.
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, positiveZero(x)]));
  }
  return v as Json;
}

const eventArb: fc.Arbitrary<Event> = fc
  .record({
    origin: originArb,
    seq: seqArb,
    deps: fc.uniqueArray(fc.tuple(originArb, seqArb), { selector: ([o]) => o, maxLength: 6 }),
    hlc: fc.record({ wall: countArb, logical: countArb }),
    ops: fc.array(fc.jsonValue({ maxDepth: 4 }).map(positiveZero), { maxLength: 5 }),
  })
  .map(({ origin, deps, ...rest }) => ({
    ...rest,
    origin,
    deps: new Map(deps.filter(([o]) => o !== origin)),
  }));

const sample: Event = {
  origin: 'node-a',
  seq: 7,
  deps: new Map([
    ['node-c', 3],
    ['node-b', 12],
  ]),
  hlc: { wall: 1_700_000_000_000, logical: 2 },
  ops: [{ key: 'hits', type: 'pn-counter', op: { inc: 1 } }, 'x', 3, null],
};

describe('encodeEvent / decodeEvent round trip', () => {
  it('decode(encode(e)) equals e for arbitrary events', () => {
    fc.assert(
      fc.property(eventArb, (e) => {
        const decoded = decodeEvent(encodeEvent(e));
        expect(normalize(decoded)).toEqual(normalize(e));
        expect(decoded.deps).toBeInstanceOf(Map);
        expect(decoded.deps.size).toBe(e.deps.size);
        for (const [o, n] of e.deps) expect(decoded.deps.get(o)).toBe(n);
      }),
      { numRuns: 200 },
    );
  });

  it('is canonical: re-encoding a decoded event gives the same bytes, whatever the Map order', () => {
    fc.assert(
      fc.property(eventArb, (e) => {
        const bytes = encodeEvent(e);
        expect(encodeEvent(decodeEvent(bytes))).toEqual(bytes);
        const reversed = { ...e, deps: new Map([...e.deps].reverse()) };
        expect(encodeEvent(reversed)).toEqual(bytes);
      }),
      { numRuns: 200 },
    );
  });

  it('writes the documented v1 layout byte for byte', () => {
    const e: Event = {
      origin: 'a',
      seq: 300,
      deps: new Map([
        ['c', 1],
        ['b', 128],
      ]),
      hlc: { wall: 5, logical: 0 },
      ops: [{ z: 1, a: true }],
    };
    const ops = [...new TextEncoder().encode('[{"a":true,"z":1}]')];
    // prettier-ignore
    const expected = [
      EVENT_CODEC_VERSION,
      1, 0x61, // origin "a"
      0xac, 0x02, // seq 300
      2, // two deps, sorted by origin
      1, 0x62, 0x80, 0x01, // "b": 128
      1, 0x63, 0x01, // "c": 1
      5, 0, // hlc
      1, // one op
      ...ops,
    ];
    expect([...encodeEvent(e)]).toEqual(expected);
  });

  it('sorts deps by UTF-8 bytes (code point order)', () => {
    const e: Event = {
      origin: 'o',
      seq: 1,
      deps: new Map([
        ['😀', 1],
        ['\uFF5E', 2],
      ]),
      hlc: { wall: 0, logical: 0 },
      ops: [],
    };
    const decoded = decodeEvent(encodeEvent(e));
    expect([...decoded.deps.keys()]).toEqual(['\uFF5E', '😀']);
  });

  it('writes -0 as 0, since JSON has no negative zero', () => {
    const decoded = decodeEvent(encodeEvent({ ...sample, ops: [-0, { z: [-0] }] }));
    expect(Object.is(decoded.ops[0], 0)).toBe(true);
    expect(decoded.ops[1]).toEqual({ z: [0] });
  });

  it('keeps a "__proto__" key in an op as data', () => {
    const ops = JSON.parse('[{"__proto__":{"polluted":true}}]') as Json[];
    const decoded = decodeEvent(encodeEvent({ ...sample, ops }));
    const op = decoded.ops[0] as Record<string, Json>;
    expect(Object.keys(op)).toEqual(['__proto__']);
    expect(Object.getPrototypeOf(op)).toBe(Object.prototype);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('decoding leaves the input bytes untouched', () => {
    const bytes = encodeEvent(sample);
    const copy = bytes.slice();
    decodeEvent(bytes);
    expect(bytes).toEqual(copy);
  });
});

describe('eventMetadataBytes', () => {
  it('is the encoded size minus the ops JSON', () => {
    fc.assert(
      fc.property(eventArb, (e) => {
        const opsBytes = new TextEncoder().encode(JSON.stringify(decodeEvent(encodeEvent(e)).ops)).length;
        expect(eventMetadataBytes(e)).toBe(encodeEvent(e).length - opsBytes);
      }),
      { numRuns: 100 },
    );
  });

  it('an event with one dep entry between two libp2p peer ids costs 120 bytes of metadata', () => {
    // Ed25519 peer ids in base58 are 52 characters.
    const a = '12D3KooW' + 'A'.repeat(44);
    const b = '12D3KooW' + 'B'.repeat(44);
    const e: Event = {
      origin: a,
      seq: 1000,
      deps: new Map([[b, 500]]),
      hlc: { wall: 1_700_000_000_000, logical: 3 },
      ops: [{ key: 'k', op: { inc: 1 } }],
    };
    const expected =
      1 + // version
      (1 + 52) + // origin: length + bytes
      2 + // seq 1000 (< 2^14)
      1 + // ndeps
      (1 + 52 + 2) + // one dep: origin + seq 500
      6 + // wall 1.7e12 ms (< 2^42)
      1 + // logical
      1; // nOps
    expect(expected).toBe(120);
    expect(varintSize(e.hlc.wall)).toBe(6);
    expect(eventMetadataBytes(e)).toBe(expected);
  });

  it('validates the event like the encoder does', () => {
    expect(codeOf(() => eventMetadataBytes({ ...sample, seq: 0 }))).toBe('INVALID_EVENT');
  });
});

describe('decodeEvent validation', () => {
  const small: EventCodecLimits = { maxEventBytes: 200, maxOpsPerEvent: 2, maxOriginBytes: 8 };

  it('accepts the hand-built baseline (so each case below fails for its own reason)', () => {
    expect(decodeEvent(raw({ deps: [['b', 1]] }), small)).toEqual({
      origin: 'node-a',
      seq: 1,
      deps: new Map([['b', 1]]),
      hlc: { wall: 1000, logical: 0 },
      ops: [{ op: 'inc' }],
    });
  });

  it.each([0, 6, 255])('version %d is UNSUPPORTED_VERSION', (version) => {
    expect(codeOf(() => decodeEvent(raw({ version })))).toBe('UNSUPPORTED_VERSION');
  });

  it.each<[string, Uint8Array]>([
    ['an input over maxEventBytes', raw({ ops: JSON.stringify(['x'.repeat(300)]) })],
    ['an origin over maxOriginBytes', raw({ origin: 'node-abcd' })],
    ['a multi-byte origin over maxOriginBytes', raw({ origin: 'nœud-éé' })],
    ['a dep origin over maxOriginBytes', raw({ deps: [['node-bcde', 1]] })],
    ['more ops than maxOpsPerEvent', raw({ nOps: 3, ops: '[1,2,3]' })],
  ])('%s is TOO_LARGE', (_name, bytes) => {
    expect(codeOf(() => decodeEvent(bytes, small))).toBe('TOO_LARGE');
  });

  it('uses the default limits when none are given', () => {
    const n = DEFAULT_EVENT_CODEC_LIMITS.maxOpsPerEvent + 1;
    expect(codeOf(() => decodeEvent(raw({ nOps: n, ops: JSON.stringify(new Array(n).fill(0)) })))).toBe(
      'TOO_LARGE',
    );
    expect(codeOf(() => decodeEvent(raw({ origin: 'x'.repeat(129) })))).toBe('TOO_LARGE');
    expect(decodeEvent(raw({ origin: 'x'.repeat(128) })).origin).toBe('x'.repeat(128));
    expect(DEFAULT_EVENT_CODEC_LIMITS.maxEventBytes).toBe(4_128_768);
  });

  it.each<[string, Uint8Array]>([
    ['an empty origin', raw({ origin: '' })],
    ['seq 0', raw({ seq: 0 })],
    ['a dep with count 0', raw({ deps: [['b', 0]] })],
    ['a dep with an empty origin', raw({ deps: [['', 1]] })],
    [
      'duplicate dep origins',
      raw({
        deps: [
          ['b', 1],
          ['b', 2],
        ],
      }),
    ],
    ['a dep on the origin itself', raw({ deps: [['node-a', 1]] })],
  ])('%s is INVALID_EVENT', (_name, bytes) => {
    expect(codeOf(() => decodeEvent(bytes))).toBe('INVALID_EVENT');
  });

  it.each<[string, Uint8Array]>([
    ['an empty input', new Uint8Array()],
    [
      'unsorted deps',
      raw({
        deps: [
          ['c', 1],
          ['b', 1],
        ],
      }),
    ],
    ['ops that are not JSON', raw({ ops: '[1,' })],
    ['ops that are a JSON object', raw({ ops: '{"op":1}' })],
    ['ops fewer than announced', raw({ nOps: 2, ops: '[1]' })],
    ['ops more than announced', raw({ nOps: 0, ops: '[1]' })],
    ['no ops payload at all', raw({ nOps: 0, ops: '' })],
    ['ops with trailing garbage', raw({ ops: '[1] x' })],
    [
      'ops that are not UTF-8',
      new Writer()
        .bytes(raw({ ops: '' }))
        .bytes(Uint8Array.from([0x5b, 0xff, 0x5d]))
        .finish(),
    ],
    ['ops starting with a byte order mark', raw({ ops: '\uFEFF[1]' })],
    ['an origin that is not UTF-8', Uint8Array.from([1, 2, 0xc3, 0x28, 1, 0, 0, 0, 0, 0x5b, 0x5d])],
    ['a non-minimal seq varint', Uint8Array.from([1, 1, 0x61, 0x81, 0x00, 0, 0, 0, 0, 0x5b, 0x5d])],
    [
      'a seq past 2^53-1',
      Uint8Array.from([1, 1, 0x61, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x10, 0, 0, 0, 0]),
    ],
    [
      'a dep count larger than the input could hold',
      Uint8Array.from([1, 1, 0x61, 1, 0xff, 0xff, 0x03, 0, 0, 0]),
    ],
  ])('%s is DECODE_ERROR', (_name, bytes) => {
    expect(codeOf(() => decodeEvent(bytes))).toBe('DECODE_ERROR');
  });

  it('every proper prefix of a valid encoding is DECODE_ERROR', () => {
    const bytes = encodeEvent(sample);
    for (let n = 0; n < bytes.length; n++) {
      expect(codeOf(() => decodeEvent(bytes.subarray(0, n)))).toBe('DECODE_ERROR');
    }
  });

  it('trailing bytes after the ops array are DECODE_ERROR', () => {
    const bytes = new Writer().bytes(encodeEvent(sample)).u8(0x20).u8(0x31).finish();
    expect(codeOf(() => decodeEvent(bytes))).toBe('DECODE_ERROR');
  });

  it('input that is not a Uint8Array is refused with a SmacError', () => {
    expect(codeOf(() => decodeEvent('hello' as unknown as Uint8Array))).toBe('INVALID_ARGUMENT');
  });
});

describe('encodeEvent validation', () => {
  const cases: [string, unknown, string][] = [
    ['a non-object', 42, 'INVALID_EVENT'],
    ['an empty origin', { ...sample, origin: '' }, 'INVALID_EVENT'],
    ['a non-string origin', { ...sample, origin: 7 }, 'INVALID_EVENT'],
    ['an origin with a lone surrogate', { ...sample, origin: 'a\uD800' }, 'INVALID_EVENT'],
    ['an origin over 128 bytes', { ...sample, origin: 'é'.repeat(65) }, 'TOO_LARGE'],
    ['seq 0', { ...sample, seq: 0 }, 'INVALID_EVENT'],
    ['a fractional seq', { ...sample, seq: 1.5 }, 'INVALID_EVENT'],
    ['a seq past 2^53-1', { ...sample, seq: 2 ** 53 }, 'INVALID_EVENT'],
    ['deps that are not a Map', { ...sample, deps: { b: 1 } }, 'INVALID_EVENT'],
    ['a dep with count 0', { ...sample, deps: new Map([['b', 0]]) }, 'INVALID_EVENT'],
    ['a dep with a negative count', { ...sample, deps: new Map([['b', -1]]) }, 'INVALID_EVENT'],
    ['a dep with a non-string key', { ...sample, deps: new Map([[1, 1]]) }, 'INVALID_EVENT'],
    ['a dep on the origin itself', { ...sample, deps: new Map([['node-a', 6]]) }, 'INVALID_EVENT'],
    ['a dep origin over 128 bytes', { ...sample, deps: new Map([['x'.repeat(129), 1]]) }, 'TOO_LARGE'],
    ['a missing hlc', { ...sample, hlc: undefined }, 'INVALID_EVENT'],
    ['a negative hlc wall time', { ...sample, hlc: { wall: -1, logical: 0 } }, 'INVALID_EVENT'],
    ['ops that are not an array', { ...sample, ops: { a: 1 } }, 'INVALID_EVENT'],
    ['an op that is undefined', { ...sample, ops: [undefined] }, 'INVALID_VALUE'],
    ['an op holding NaN', { ...sample, ops: [{ n: Number.NaN }] }, 'INVALID_VALUE'],
    ['an op holding a function', { ...sample, ops: [() => 1] }, 'INVALID_VALUE'],
    ['an op holding a Date', { ...sample, ops: [new Date(0)] }, 'INVALID_VALUE'],
    ['too many ops', { ...sample, ops: new Array<Json>(10_001).fill(0) }, 'TOO_LARGE'],
    ['an event over maxEventBytes', { ...sample, ops: ['x'.repeat(4_128_768)] }, 'TOO_LARGE'],
  ];

  it.each(cases)('refuses %s (%#)', (_name, e, code) => {
    expect(codeOf(() => encodeEvent(e as Event))).toBe(code);
  });

  it('refuses an event that is over maxEventBytes only once the header is counted', () => {
    const limits = { ...DEFAULT_EVENT_CODEC_LIMITS, maxEventBytes: 100 };
    const e: Event = { ...sample, deps: new Map(), ops: [] };
    const header = eventMetadataBytes(e);
    const fits = { ...e, ops: ['x'.repeat(100 - header - 4)] }; // '["' + x… + '"]'
    expect(encodeEvent(fits, limits).length).toBe(100);
    expect(codeOf(() => encodeEvent({ ...e, ops: ['x'.repeat(100 - header - 3)] }, limits))).toBe(
      'TOO_LARGE',
    );
  });

  it('does not modify the event it refuses', () => {
    const deps = new Map([
      ['b', 1],
      ['node-a', 2],
    ]);
    const e = { ...sample, deps };
    expect(codeOf(() => encodeEvent(e))).toBe('INVALID_EVENT');
    expect([...deps]).toEqual([
      ['b', 1],
      ['node-a', 2],
    ]);
  });
});

describe('fuzzing the decoder', () => {
  /** Decoding any bytes either yields a valid event or throws a SmacError: nothing else. */
  function decodesOrRefuses(bytes: Uint8Array): void {
    let e: Event;
    try {
      e = decodeEvent(bytes);
    } catch (err) {
      expect(err).toBeInstanceOf(SmacError);
      return;
    }
    expectValidEvent(e);
  }

  it('random bytes', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), decodesOrRefuses), { numRuns: 300 });
  });

  it('random bytes after a valid version byte', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (tail) => {
        decodesOrRefuses(new Writer().u8(1).bytes(tail).finish());
      }),
      { numRuns: 300 },
    );
  });

  it('single-byte mutations of valid encodings', () => {
    fc.assert(
      fc.property(eventArb, fc.nat(), fc.integer({ min: 0, max: 255 }), (e, at, value) => {
        const bytes = encodeEvent(e);
        bytes[at % bytes.length] = value;
        decodesOrRefuses(bytes);
      }),
      { numRuns: 300 },
    );
  });

  it('truncations and extensions of valid encodings', () => {
    fc.assert(
      fc.property(eventArb, fc.nat(), fc.uint8Array({ maxLength: 8 }), (e, cut, extra) => {
        const bytes = encodeEvent(e);
        decodesOrRefuses(bytes.subarray(0, cut % bytes.length));
        decodesOrRefuses(new Writer().bytes(bytes).bytes(extra).finish());
      }),
      { numRuns: 200 },
    );
  });
});
