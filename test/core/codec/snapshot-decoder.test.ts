// The incremental snapshot decoder against the whole-buffer one: any split of any encoding
// (valid, truncated or corrupted) gives the same snapshot or the same error code, and the
// decoder holds only an incomplete field of the encoded bytes.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeSnapshot, encodeSnapshot, type Snapshot, utf8Encode } from '../../../src/core/codec/index.js';
import { SnapshotDecoder } from '../../../src/core/codec/snapshot-decoder.js';
import { SmacError } from '../../../src/core/errors.js';
import type { Json } from '../../../src/core/json.js';
import { split } from '../../support/split.js';

const LIMITS = { maxOriginBytes: 128, maxHeadBytes: 64 };

type Outcome = { ok: Snapshot } | { code: string };

function outcome(f: () => Snapshot): Outcome {
  try {
    return { ok: f() };
  } catch (e) {
    // Anything but a SmacError fails the test: the decoders throw nothing else.
    if (!(e instanceof SmacError)) throw e;
    return { code: e.code };
  }
}

function streamed(chunks: Uint8Array[], total?: number): Outcome {
  const d = new SnapshotDecoder(LIMITS, total);
  return outcome(() => {
    for (const c of chunks) d.push(c);
    return d.end();
  });
}

function whole(bytes: Uint8Array): Outcome {
  return outcome(() => decodeSnapshot(bytes, LIMITS));
}

const originArb = fc
  .string({ unit: 'grapheme', minLength: 1, maxLength: 12 })
  .filter((s) => utf8Encode(s).length <= 128);

const jsonArb: fc.Arbitrary<Json> = fc
  .jsonValue({ maxDepth: 5 })
  .map((v) => JSON.parse(JSON.stringify(v)) as Json);

const snapshotArb: fc.Arbitrary<Snapshot> = fc
  .tuple(
    fc.uniqueArray(fc.tuple(originArb, fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER })), {
      selector: ([o]) => o,
      maxLength: 5,
    }),
    fc.record({ wall: fc.maxSafeNat(), logical: fc.nat() }),
    jsonArb,
    fc.constantFrom('v1', 'v2', 'v3'),
    fc.uint8Array({ minLength: 1, maxLength: 64 }),
  )
  .map(([entries, hlc, keyspace, version, head]) => {
    const vc = new Map(entries.slice(version === 'v3' ? 1 : 0));
    const base: Snapshot = { vc, hlc, keyspace };
    if (version === 'v1') return base;
    const heads = [...vc.keys()].map(() => head);
    if (version === 'v2') return { ...base, heads };
    const retired = new Map(entries.slice(0, 1));
    return { ...base, heads, retired };
  });

const cutsArb = fc.array(fc.nat(), { maxLength: 12 });

describe('SnapshotDecoder: any split decodes as the whole', () => {
  it('a valid encoding, split anywhere, gives the snapshot decodeSnapshot gives', () => {
    fc.assert(
      fc.property(snapshotArb, cutsArb, fc.boolean(), (snap, cuts, announced) => {
        const bytes = encodeSnapshot(snap, LIMITS);
        const got = streamed(split(bytes, cuts), announced ? bytes.length : undefined);
        expect(got).toEqual(whole(bytes));
        expect('ok' in got).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it('every single split point of one valid encoding, and one byte at a time', () => {
    const snap: Snapshot = {
      vc: new Map([
        ['a', 3],
        ['bé', 9],
      ]),
      hlc: { wall: 1_700_000_000_000, logical: 2 },
      keyspace: { objects: { 'k€y': { t: 'lww', v: [1.5e-7, -0, true, null, 'x\u0000"\\\ud83d\ude00'] } } },
      heads: [new Uint8Array([1, 2, 3]), new Uint8Array(40).fill(7)],
      retired: new Map([['z', 4]]),
    };
    const bytes = encodeSnapshot(snap, LIMITS);
    const expected = whole(bytes);
    for (let i = 0; i <= bytes.length; i++) expect(streamed(split(bytes, [i]))).toEqual(expected);
    expect(streamed(split(bytes, [...bytes.keys()]))).toEqual(expected);
  });

  it('a truncated or corrupted encoding is refused with the code decodeSnapshot gives, never a throw of another kind', () => {
    const mutated = fc
      .tuple(snapshotArb, fc.array(fc.tuple(fc.nat(), fc.nat(255)), { minLength: 1, maxLength: 3 }), fc.nat())
      .map(([snap, flips, cut]) => {
        const bytes = encodeSnapshot(snap, LIMITS);
        for (const [at, v] of flips) bytes[at % bytes.length] = v;
        return cut % 3 === 0 ? bytes.subarray(0, cut % bytes.length) : bytes;
      });
    fc.assert(
      fc.property(mutated, cutsArb, (bytes, cuts) => {
        expect(streamed(split(bytes, cuts), bytes.length)).toEqual(whole(bytes));
        const unannounced = streamed(split(bytes, cuts));
        if ('ok' in unannounced) expect(unannounced).toEqual(whole(bytes));
      }),
      { numRuns: 1000 },
    );
  });

  it('random bytes behind a valid version byte', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 4 }),
        fc.uint8Array({ maxLength: 80 }),
        cutsArb,
        (v, rest, cuts) => {
          const bytes = new Uint8Array([v, ...rest]);
          expect(streamed(split(bytes, cuts), bytes.length)).toEqual(whole(bytes));
        },
      ),
      { numRuns: 1000 },
    );
  });

  it('a failed decoder stays failed with the same error', () => {
    const d = new SnapshotDecoder(LIMITS);
    expect(() => {
      d.push(new Uint8Array([9]));
    }).toThrow(SmacError);
    expect(() => {
      d.push(new Uint8Array([1]));
    }).toThrow(/version 9/);
    expect(() => d.end()).toThrow(/version 9/);
  });

  it('the empty input and bytes past the announced size are DECODE_ERROR', () => {
    expect(streamed([])).toEqual({ code: 'DECODE_ERROR' });
    const bytes = encodeSnapshot({ vc: new Map(), hlc: { wall: 1, logical: 0 }, keyspace: {} });
    expect(streamed([bytes, new Uint8Array([0x20])], bytes.length)).toEqual({ code: 'DECODE_ERROR' });
  });
});

describe('SnapshotDecoder: bytes it holds undecoded', () => {
  it('a large keyspace streamed in 64 KiB chunks is held at most one chunk at a time', () => {
    const objects: Record<string, Json> = {};
    for (let i = 0; i < 20_000; i++) objects[`key-${i}`] = { t: 'lww', v: 'x'.repeat(i % 97), n: i * 1.25 };
    const bytes = encodeSnapshot(
      {
        vc: new Map([['a', 1]]),
        hlc: { wall: 1, logical: 0 },
        keyspace: { objects },
        heads: [new Uint8Array(50)],
      },
      LIMITS,
    );
    expect(bytes.length).toBeGreaterThan(1_500_000);
    const d = new SnapshotDecoder(LIMITS, bytes.length);
    const chunk = 64 * 1024;
    for (let at = 0; at < bytes.length; at += chunk) {
      d.push(bytes.subarray(at, at + chunk));
      expect(d.bufferedBytes).toBeLessThanOrEqual(64);
    }
    expect(d.end()).toEqual(decodeSnapshot(bytes, LIMITS));
    expect(d.peakBufferedBytes).toBeLessThanOrEqual(chunk);
  });

  it('a head is held until it is complete, bounded by maxHeadBytes (TOO_LARGE past it)', () => {
    const d = new SnapshotDecoder(LIMITS);
    // v2, one entry a:1, hlc 0 0, one head announced at 65 bytes (limit 64).
    expect(() => {
      d.push(new Uint8Array([2, 1, 1, 0x61, 1, 0, 0, 1, 65]));
    }).toThrow(/limit is 64/);
  });

  it('an endless number or literal is refused within a bounded token', () => {
    const prefix = new Uint8Array([1, 0, 0, 0]);
    const d = new SnapshotDecoder(LIMITS);
    d.push(prefix);
    d.push(utf8Encode('[1'));
    let code: string | undefined;
    for (let i = 0; i < 100 && code === undefined; i++) {
      try {
        d.push(utf8Encode('0'.repeat(100)));
      } catch (e) {
        code = (e as SmacError).code;
      }
      expect(d.bufferedBytes).toBeLessThanOrEqual(1124);
    }
    expect(code).toBe('DECODE_ERROR');
  });
});

describe('JsonStreamParser (through the decoder) against JSON.parse', () => {
  const v1 = (text: string): Uint8Array => new Uint8Array([1, 0, 0, 0, ...utf8Encode(text)]);

  it('texts JSON.parse accepts or refuses, split anywhere', () => {
    const texts = fc.oneof(
      fc.json({ maxDepth: 4 }),
      fc.json({ maxDepth: 3 }).map((s) => ` \n${s}\t\r `),
      fc.array(fc.string({ unit: 'binary', maxLength: 12 })).map((a) => JSON.stringify(a)),
      fc.constant('"\\b\\f\\n\\r\\t\\/\\\\\\"\\u00e9\\uD83D\\ude00 \\x"'),
      fc.constant('["\\b\\f\\n\\r\\t\\/\\\\\\"\\u00e9\\uD83D\\ude00"]'),
      fc
        .tuple(
          fc.json({ maxDepth: 3 }),
          fc.nat(),
          fc.constantFrom('', ',', ']', '}', '"', '\\', 'e', '-', '.', 'u', ' x'),
        )
        .map(([s, at, ins]) => s.slice(0, at % (s.length + 1)) + ins + s.slice(at % (s.length + 1))),
      fc.constantFrom(
        '{"__proto__":{"a":1},"b":[]}',
        '{"a":1,"a":2}',
        '"\\ud800"',
        '-0',
        '1e400',
        '01',
        '1.',
        '.5',
        'tru',
        'nul',
        'true ',
        '[1,]',
        '{"a" 1}',
        '\ufeff1',
        '"a\u0001"',
        '[-]',
        '1e+',
        '0.5E-3',
      ),
    );
    fc.assert(
      fc.property(texts, cutsArb, (text, cuts) => {
        const bytes = v1(text);
        expect(streamed(split(bytes, cuts), bytes.length)).toEqual(whole(bytes));
      }),
      { numRuns: 2000 },
    );
  });

  it('__proto__ is an own property, as JSON.parse makes it', () => {
    const got = streamed([v1('{"__proto__":{"x":1}}')]);
    const ks = ('ok' in got ? got.ok.keyspace : null) as Record<string, unknown>;
    expect(Object.getPrototypeOf(ks)).toBe(Object.prototype);
    expect(Object.keys(ks)).toEqual(['__proto__']);
  });
});
