// Snapshot codec v2 (signed heads) and the proof check of net/snapshot-proof.ts: the v2 layout
// and round trip, v1 still read (the format older stores hold), bounds on heads, and every way
// a clock can fail to be proven (issue 7, "Snapshots you can check").
import { describe, expect, it } from 'vitest';
import {
  decodeSnapshot,
  encodeSnapshot,
  PROVEN_SNAPSHOT_CODEC_VERSION,
  type Snapshot,
  Writer,
} from '../../../src/core/codec/index.js';
import { SmacError } from '../../../src/core/errors.js';
import {
  headsFor,
  openPeerSnapshot,
  SnapshotRefused,
  verifySnapshotHeads,
} from '../../../src/net/snapshot-proof.js';
import { idOf, newKey, signedEvent } from '../../net/helpers.js';

function codeOf(f: () => unknown): string | undefined {
  try {
    f();
  } catch (e) {
    if (e instanceof SmacError || e instanceof SnapshotRefused) return e.code;
    throw e;
  }
  return undefined;
}

const base: Snapshot = { vc: new Map([['a', 2]]), hlc: { wall: 5, logical: 1 }, keyspace: [] };

describe('snapshot codec v2', () => {
  it('writes v2 exactly when heads are given, with the documented layout, and round-trips', () => {
    const head = Uint8Array.of(9, 8, 7);
    const bytes = encodeSnapshot({ ...base, heads: [head] });
    const expected = new Writer()
      .u8(PROVEN_SNAPSHOT_CODEC_VERSION)
      .varint(1)
      .str('a')
      .varint(2)
      .varint(5)
      .varint(1)
      .varint(1)
      .lenBytes(head)
      .bytes(new TextEncoder().encode('[]'))
      .finish();
    expect([...bytes]).toEqual([...expected]);
    expect(decodeSnapshot(bytes)).toEqual({ ...base, heads: [head] });
    // No heads: v1, as stored snapshots are (and as older stores hold them); decoded without heads.
    const v1 = encodeSnapshot(base);
    expect(v1[0]).toBe(1);
    expect(decodeSnapshot(v1)).toEqual(base);
    expect(decodeSnapshot(v1).heads).toBeUndefined();
  });

  it('refuses more heads than clock entries, empty heads and heads over the bound', () => {
    const w = (count: number, heads: Uint8Array[]): Uint8Array => {
      const x = new Writer().u8(2).varint(1).str('a').varint(2).varint(5).varint(1).varint(count);
      for (const h of heads) x.lenBytes(h);
      return x.bytes(new TextEncoder().encode('[]')).finish();
    };
    expect(codeOf(() => decodeSnapshot(w(2, [Uint8Array.of(1), Uint8Array.of(2)])))).toBe('DECODE_ERROR');
    expect(codeOf(() => decodeSnapshot(w(1, [new Uint8Array(0)])))).toBe('DECODE_ERROR');
    expect(
      codeOf(() => decodeSnapshot(w(1, [new Uint8Array(10)]), { maxOriginBytes: 128, maxHeadBytes: 9 })),
    ).toBe('TOO_LARGE');
    expect(codeOf(() => decodeSnapshot(w(1, [])))).toBe('DECODE_ERROR'); // count says 1, none there
    expect(codeOf(() => encodeSnapshot({ ...base, heads: [Uint8Array.of(1), Uint8Array.of(2)] }))).toBe(
      'INVALID_ARGUMENT',
    );
  });
});

describe('the proof of a snapshot clock', () => {
  it('accepts exactly one genuine head per clock entry, at the claimed seq', async () => {
    const [a, b] = [await newKey(), await newKey()];
    const vc = new Map([
      [idOf(a), 3],
      [idOf(b), 1],
    ]);
    const heads = [signedEvent(b, 1), signedEvent(a, 3)];
    const snap = openPeerSnapshot(encodeSnapshot({ ...base, vc, heads }));
    expect(snap.vc).toEqual(vc);
    expect(snap.proof.map((h) => [h.origin, h.seq])).toEqual([
      [idOf(b), 1],
      [idOf(a), 3],
    ]);
    // An empty clock needs no heads, so a v1 snapshot of nothing is fine.
    expect(openPeerSnapshot(encodeSnapshot({ ...base, vc: new Map() })).proof).toEqual([]);
  });

  it('refuses an inflated clock, a missing, duplicate, stray or forged head, and v1 with a clock', async () => {
    const [a, b] = [await newKey(), await newKey()];
    const vc = new Map([
      [idOf(a), 3],
      [idOf(b), 1],
    ]);
    const good = [signedEvent(a, 3), signedEvent(b, 1)];
    const refused = (heads: Uint8Array[] | undefined, clock = vc): string | undefined =>
      codeOf(() => openPeerSnapshot(encodeSnapshot({ ...base, vc: clock, ...(heads ? { heads } : {}) })));
    expect(refused(undefined)).toBe('UNPROVEN_SNAPSHOT');
    expect(refused([signedEvent(a, 2), good[1]!])).toBe('UNPROVEN_SNAPSHOT'); // inflated: claims 3
    expect(refused([good[0]!])).toBe('UNPROVEN_SNAPSHOT'); // b unproven
    expect(refused([good[0]!, signedEvent(a, 3)])).toBe('UNPROVEN_SNAPSHOT'); // two for a
    const c = await newKey();
    expect(refused([good[0]!, signedEvent(c, 1)])).toBe('UNPROVEN_SNAPSHOT'); // c not in the clock
    const forged = new Uint8Array(good[1]!);
    forged[forged.length - 1]! ^= 1;
    expect(refused([good[0]!, forged])).toBe('UNPROVEN_SNAPSHOT');
    expect(() => verifySnapshotHeads(vc, [signedEvent(a, 2), good[1]!])).toThrow(
      /claims .* up to seq 3, but its signed head is seq 2/,
    );
    expect(codeOf(() => openPeerSnapshot(Uint8Array.of(7, 7)))).toBe('BAD_SNAPSHOT');
  });

  it('headsFor serves only heads that match the clock and names the rest', () => {
    const stored = new Map([
      ['a', { seq: 2, bytes: Uint8Array.of(1) }],
      ['b', { seq: 4, bytes: Uint8Array.of(2) }],
    ]);
    const vc = new Map([
      ['a', 2],
      ['b', 3],
      ['c', 1],
    ]);
    expect(headsFor(vc, (o) => stored.get(o))).toEqual({ heads: [Uint8Array.of(1)], missing: ['b', 'c'] });
  });
});
