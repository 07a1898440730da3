// A pulled snapshot's keyspace built into the state of a replica row by row as it arrives (the
// agent's SyncService is given `snapshotKeyspace`: issue 7, "Snapshots up to 1 GiB are buffered
// whole in memory"): its JSON value is never whole, its signed heads are verified once (as soon
// as they arrived, not again when it is opened), and a bad object late in the stream stops the
// pull there and leaves the replica as it was.
import { afterEach, describe, expect, it } from 'vitest';
import type { VectorClock } from '../../src/core/clock/vector-clock.js';
import { encodeSnapshot } from '../../src/core/codec/snapshot-codec.js';
import type { Json } from '../../src/core/json.js';
import { DecodedKeyspace } from '../../src/core/keyspace.js';
import { Replica } from '../../src/core/replica.js';
import type { SmacNode } from '../../src/net/node.js';
import {
  openPeerSnapshot,
  peerSnapshotBytes,
  type ReceivedSnapshot,
  SnapshotRefused,
} from '../../src/net/snapshot-proof.js';
import type { SyncFrame } from '../../src/net/sync-types.js';
import { SNAPSHOT_CHUNK_BYTES } from '../../src/net/sync-wire.js';
import { idOf, newKey, signedEvent, stopAll } from './helpers.js';
import { chunksOf, pull, streamingServer } from './snapshot-server.js';

let nodes: SmacNode[] = [];
afterEach(async () => {
  await stopAll(nodes);
  nodes = [];
});

const NOW = 1_700_000_000_000;

/** A replica holding `n` lww registers of about 200 bytes each (some 3 MiB encoded for 12,000). */
function filled(n: number): Replica {
  const r = new Replica({ id: 'source~1' });
  const value = 'v'.repeat(200);
  for (let i = 0; i < n; i += 100) {
    const ops = [];
    for (let k = i; k < Math.min(n, i + 100); k++)
      ops.push({ type: 'lww-register', key: `app/key-${k}`, op: { kind: 'set', value: `${value}${k}` } });
    r.step({ kind: 'local', ops }, NOW + i);
  }
  return r;
}

/** The snapshot frame of a pull. */
function received(frames: readonly SyncFrame[]): ReceivedSnapshot {
  const f = frames.find((x) => x.type === 'snapshot');
  if (f?.type !== 'snapshot' || f.snapshot instanceof Uint8Array) throw new Error('no snapshot frame');
  return f.snapshot;
}

describe('a snapshot pulled into a replica row by row', () => {
  it('builds the state as it arrives, proves its clock once, and the store keeps the same bytes', async () => {
    const key = await newKey();
    const vc: VectorClock = new Map([[idOf(key), 3]]);
    const source = filled(12_000);
    const bytes = encodeSnapshot({ ...source.snapshot(), vc, heads: [signedEvent(key, 3)] });
    expect(bytes.length).toBeGreaterThan(2 * SNAPSHOT_CHUNK_BYTES);
    const { node } = await streamingServer(nodes, vc, bytes.length, () => chunksOf(bytes));
    const into = new Replica({ id: 'into~1' });
    const r = await pull(nodes, node, bytes.length, { snapshotKeyspace: () => into.keyspaceBuilder() });
    expect(r.error).toBeUndefined();
    const got = received(r.frames);
    if (!('snapshot' in got)) throw got.error;
    expect(got.snapshot.keyspace).toBeInstanceOf(DecodedKeyspace);
    expect(got.proof?.map((h) => [h.origin, h.seq])).toEqual([[idOf(key), 3]]);
    // Opened, it carries the proof it arrived with: the heads are not verified again.
    const opened = openPeerSnapshot(got);
    expect(opened.proof).toBe(got.proof);
    expect(peerSnapshotBytes(got)).toEqual(bytes);
    into.install(opened);
    expect(into.list()).toEqual(source.list());
    expect(into.clock()).toEqual(vc);
  }, 60_000);

  it('a bad object late in the stream stops the pull there, and the replica is left as it was', async () => {
    const source = filled(12_000);
    const rows = source.snapshot().keyspace as Json[];
    const late = rows.length - 5;
    // A key with a control character: no replica may hold it.
    const bad = [...rows.slice(0, late), ['lww-register', 'app/\u0001', {}, {}], ...rows.slice(late)];
    const vc: VectorClock = new Map();
    const bytes = encodeSnapshot({ ...source.snapshot(), vc, keyspace: bad });
    const { node } = await streamingServer(nodes, vc, bytes.length, () => chunksOf(bytes));
    const into = filled(30);
    into.step(
      { kind: 'local', ops: [{ type: 'pn-counter', key: 'mine', op: { kind: 'increment', by: 2 } }] },
      NOW,
    );
    const before = into.snapshot();
    const r = await pull(nodes, node, bytes.length, { snapshotKeyspace: () => into.keyspaceBuilder() });
    expect((r.error as { code?: string }).code).toBe('BAD_FRAME'); // the stream cannot go on
    const got = received(r.frames);
    expect(got).toMatchObject({ error: { code: 'DECODE_ERROR' } });
    // Refused at the chunk that holds it: the rows before it arrived, none after it was read.
    const last = r.progress[r.progress.length - 1]!.receivedBytes;
    expect(last).toBe(got.receivedBytes);
    expect(last).toBeGreaterThan(bytes.length / 2);
    expect(() => openPeerSnapshot(got)).toThrow(SnapshotRefused);
    expect(() => openPeerSnapshot(got)).toThrow(/does not decode/);
    expect(into.snapshot()).toEqual(before);
  }, 60_000);
});
