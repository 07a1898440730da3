// A snapshot's keyspace built into a replica's state row by row as it is decoded (issue 7,
// "Snapshots up to 1 GiB are buffered whole in memory": installing held the decoded JSON value
// and the state built from it at once). The decoder hands each row to the replica's
// KeyspaceBuilder and drops it: under any split of any encoding, the state it builds is the one
// the whole JSON value decodes to, a bad row is refused with the same code (as soon as it
// arrives), nothing of the replica changes before the install, and the rows encode back to the
// same bytes.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeSnapshot, encodeSnapshot, type Snapshot } from '../../src/core/codec/index.js';
import { JsonStreamParser } from '../../src/core/codec/json-stream.js';
import { isKeyspaceRows, type KeyspaceRows } from '../../src/core/codec/snapshot-codec.js';
import { SnapshotDecoder } from '../../src/core/codec/snapshot-decoder.js';
import { SmacError } from '../../src/core/errors.js';
import type { Json } from '../../src/core/json.js';
import { DecodedKeyspace, decodeKeyspace, encodeKeyspace } from '../../src/core/keyspace.js';
import { DEFAULT_LIMITS } from '../../src/core/limits.js';
import { Replica } from '../../src/core/replica.js';
import { Prng } from '../support/prng.js';
import { randomKeyOp } from './sim/random-ops.js';
import { split } from '../support/split.js';

const NOW = 1_700_000_000_000;

/** A replica after `n` random writes (every CRDT type, maps nested), compacted at random. */
function randomReplica(seed: number, n: number): Replica {
  const rng = new Prng(seed);
  const r = new Replica({ id: `w${seed}~1` });
  for (let i = 0; i < n; i++) {
    r.step({ kind: 'local', ops: [randomKeyOp(rng)] }, NOW + i);
    if (rng.chance(0.1)) r.compact(r.clock());
  }
  return r;
}

type Outcome = { ok: Json } | { code: string };

function outcome(f: () => Json): Outcome {
  try {
    return { ok: f() };
  } catch (e) {
    if (!(e instanceof SmacError)) throw e; // nothing else is thrown
    return { code: e.code };
  }
}

/** Decoded whole, then its keyspace decoded into a state: the encoded state, or the code. */
function viaJson(bytes: Uint8Array): Outcome {
  return outcome(() => encodeKeyspace(decodeKeyspace(decodeSnapshot(bytes).keyspace, DEFAULT_LIMITS)));
}

/** Decoded chunk by chunk into a replica's builder: the encoded state, or the code. */
function viaRows(chunks: readonly Uint8Array[], into = new Replica({ id: 'into~1' })): Outcome {
  return outcome(() => {
    const d = new SnapshotDecoder<KeyspaceRows>(undefined, undefined, into.keyspaceBuilder());
    for (const c of chunks) d.push(c);
    const snap = d.end();
    expect(snap.keyspace).toBeInstanceOf(DecodedKeyspace);
    return encodeKeyspace(decodeKeyspace(snap.keyspace, DEFAULT_LIMITS));
  });
}

/** The replica's keyspace as JSON, with some rows replaced by arbitrary JSON values. */
function corrupted(r: Replica, swaps: readonly (readonly [number, Json])[]): Json[] {
  const rows = [...(r.snapshot().keyspace as Json[])];
  for (const [at, v] of swaps) if (rows.length > 0) rows[at % rows.length] = v;
  return rows;
}

const cutsArb = fc.array(fc.nat(), { maxLength: 10 });
const jsonArb: fc.Arbitrary<Json> = fc
  .jsonValue({ maxDepth: 4 })
  .map((v) => JSON.parse(JSON.stringify(v)) as Json);
/** A row that is nearly right: a known type, a key, and arbitrary presence and state. */
const rowArb: fc.Arbitrary<Json> = fc.oneof(
  jsonArb,
  fc.tuple(
    fc.constantFrom('lww-register', 'pn-counter', 'aw-set', 'or-map', 'nope'),
    fc.oneof(fc.constant('k'), fc.constant('a//b'), jsonArb),
    jsonArb,
    jsonArb,
  ),
);

describe('a keyspace built row by row as it is decoded', () => {
  it('is the state its whole JSON value decodes to, under any split, and encodes to the same bytes', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1_000_000 }), fc.nat({ max: 60 }), cutsArb, (seed, n, cuts) => {
        const source = randomReplica(seed, n);
        const bytes = encodeSnapshot(source.snapshot());
        const rows = viaRows(split(bytes, cuts));
        expect(rows).toEqual(viaJson(bytes));
        expect(rows).toEqual({ ok: source.snapshot().keyspace });
        // What the store keeps of it: encoded from its rows, the same bytes.
        const d = new SnapshotDecoder<KeyspaceRows>(
          undefined,
          undefined,
          new Replica({ id: 'x~1' }).keyspaceBuilder(),
        );
        d.push(bytes);
        expect(encodeSnapshot(d.end())).toEqual(bytes);
      }),
      { numRuns: 60 },
    );
  });

  it('refuses a bad row with the code the whole decode refuses it with, and changes nothing of the replica', () => {
    const seen = new Set<string>();
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 1_000_000 }),
        fc.nat({ max: 30 }),
        fc.array(fc.tuple(fc.nat(), rowArb), { minLength: 1, maxLength: 3 }),
        cutsArb,
        (seed, n, swaps, cuts) => {
          const source = randomReplica(seed, n);
          const bytes = encodeSnapshot({ ...source.snapshot(), keyspace: corrupted(source, swaps) });
          const into = randomReplica(seed + 1, 5);
          const before = into.snapshot();
          const rows = viaRows(split(bytes, cuts), into);
          const json = viaJson(bytes);
          expect('code' in rows ? rows.code : 'ok').toBe('code' in json ? json.code : 'ok');
          if ('ok' in rows) expect(rows).toEqual(json);
          expect(into.snapshot()).toEqual(before);
          seen.add('code' in rows ? rows.code : 'ok');
        },
      ),
      { numRuns: 150 },
    );
    expect(seen).toContain('DECODE_ERROR'); // the runs did refuse rows
    expect(seen).toContain('ok'); // and took some (a swapped row may be a valid one)
  });

  it('a keyspace that is not an array is refused at its first character', () => {
    for (const keyspace of [{ objects: [] }, 'x', 3, null] as Json[]) {
      const bytes = encodeSnapshot({ vc: new Map(), hlc: { wall: 1, logical: 0 }, keyspace });
      expect(viaJson(bytes)).toEqual({ code: 'DECODE_ERROR' });
      const d = new SnapshotDecoder<KeyspaceRows>(
        undefined,
        undefined,
        new Replica({ id: 'x~1' }).keyspaceBuilder(),
      );
      expect(() => {
        d.push(bytes.subarray(0, 5));
      }).toThrow(/not an array/);
    }
  });

  it('a bad row late in the stream is refused when it arrives: the rows before it were built, none after it is read', () => {
    const source = randomReplica(7, 400);
    const rows = source.snapshot().keyspace as Json[];
    const late = rows.length - 2;
    const bad = [...rows.slice(0, late), ['lww-register', 'bad\u0001key', {}, {}], ...rows.slice(late)];
    const bytes = encodeSnapshot({ ...source.snapshot(), keyspace: bad });
    const added: Json[] = [];
    const into = source.keyspaceBuilder();
    const d = new SnapshotDecoder<KeyspaceRows>(undefined, bytes.length, {
      add: (row) => {
        added.push(row);
        into.add(row);
      },
      finish: () => into.finish(),
    });
    let failedAt = -1;
    const chunk = 64;
    for (let at = 0; at < bytes.length && failedAt < 0; at += chunk) {
      try {
        d.push(bytes.subarray(at, at + chunk));
      } catch (e) {
        expect((e as SmacError).code).toBe('DECODE_ERROR');
        failedAt = at;
      }
    }
    expect(added.length).toBe(late + 1); // every row before it, and the bad row itself
    expect(failedAt).toBeGreaterThan(bytes.length / 2);
    expect(failedAt).toBeLessThan(bytes.length - chunk); // the rest was never pushed
    expect(() => d.end()).toThrow(SmacError); // failed for good
  });

  it('rows are encoded one at a time: a DecodedKeyspace is rows, never JSON; other rows decode under the replica limits', () => {
    const source = randomReplica(3, 50);
    const d = new SnapshotDecoder<KeyspaceRows>(undefined, undefined, source.keyspaceBuilder());
    d.push(encodeSnapshot(source.snapshot()));
    const snap: Snapshot<KeyspaceRows> = d.end();
    expect(isKeyspaceRows(snap.keyspace)).toBe(true);
    expect(isKeyspaceRows(source.snapshot().keyspace)).toBe(false);
    // Under other limits, the rows are decoded again (here refused: a key too long for them).
    const longKey = new Replica({ id: 'l~1' });
    longKey.step(
      {
        kind: 'local',
        ops: [{ type: 'pn-counter', key: 'k'.repeat(100), op: { kind: 'increment', by: 1 } }],
      },
      NOW,
    );
    const d2 = new SnapshotDecoder<KeyspaceRows>(undefined, undefined, longKey.keyspaceBuilder());
    d2.push(encodeSnapshot(longKey.snapshot()));
    const rowsSnap = d2.end();
    const strict = new Replica({ id: 's~1', limits: { maxKeyBytes: 10 } });
    expect(() => {
      strict.install(rowsSnap);
    }).toThrow(SmacError);
    expect(strict.list()).toEqual([]);
    const same = new Replica({ id: 't~1' });
    same.install(rowsSnap);
    expect(same.list()).toEqual(longKey.list());
  });
});

describe("a replica's snapshot as rows of its live state (what it serves, compacts and persists)", () => {
  it('encodes to the bytes of its JSON value, and installs as a copy of its own', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1_000_000 }), fc.nat({ max: 60 }), (seed, n) => {
        const source = randomReplica(seed, n);
        expect(encodeSnapshot(source.snapshotRows())).toEqual(encodeSnapshot(source.snapshot()));
        const copy = Replica.fromSnapshot({ id: 'copy~1' }, source.snapshotRows());
        expect(copy.snapshot().keyspace).toEqual(source.snapshot().keyspace);
        const before = copy.snapshot();
        source.step({ kind: 'local', ops: [randomKeyOp(new Prng(seed))] }, NOW + n);
        source.compact(source.clock());
        expect(copy.snapshot()).toEqual(before); // no state shared with the source
      }),
      { numRuns: 40 },
    );
  });
});

describe('JsonStreamParser with an element sink', () => {
  it('hands each element of the top-level array as it completes and keeps none of them', () => {
    const seen: Json[] = [];
    const p = new JsonStreamParser('test', (v) => seen.push(v));
    p.write('[1, {"a": [2');
    expect(seen).toEqual([1]);
    p.write(']}, "x"');
    expect(seen).toEqual([1, { a: [2] }, 'x']);
    p.write(']');
    expect(p.end()).toEqual([]);
  });

  it('refuses a top-level value that is not an array', () => {
    for (const text of ['{}', '"a"', '1', 'null']) {
      const p = new JsonStreamParser('test', () => undefined);
      expect(() => {
        p.write(text);
        p.end();
      }).toThrow(/not an array/);
    }
  });
});
