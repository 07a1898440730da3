// Snapshots decoded as they stream in (issue 7, "Stream snapshots with bounded memory"): a real
// SyncService client pulls over libp2p on loopback from servers that stream snapshots chunk by
// chunk. The client holds the state being built and, of the encoded bytes, only an incomplete
// field: asserted on the bytes its decoder holds after every chunk (onSnapshotChunk), not on
// timing. A hostile server streaming garbage is cut off at its first chunk; one streaming an
// endless snapshot is cut off at the size it announced, and the decoder never buffered it.
import { afterEach, describe, expect, it } from 'vitest';
import { utf8Encode } from '../../src/core/codec/binary.js';
import { encodeSnapshot } from '../../src/core/codec/snapshot-codec.js';
import type { VectorClock } from '../../src/core/clock/vector-clock.js';
import type { SmacNode } from '../../src/net/node.js';
import type { SyncFrame } from '../../src/net/sync-types.js';
import { SNAPSHOT_CHUNK_BYTES } from '../../src/net/sync-wire.js';
import { bigSnapshot, stopAll } from './helpers.js';
import { chunksOf, type Pulled, pull as pullFrom, streamingServer as serverOf } from './snapshot-server.js';

let nodes: SmacNode[] = [];
afterEach(async () => {
  await stopAll(nodes);
  nodes = [];
});

const vc: VectorClock = new Map([['peer-x', 3]]);

const streamingServer = (announced: number, chunks: () => Iterable<Uint8Array>) =>
  serverOf(nodes, vc, announced, chunks);
const pull = (server: SmacNode, maxSnapshotBytes: number): Promise<Pulled> =>
  pullFrom(nodes, server, maxSnapshotBytes);

function maxBuffered(p: Pulled): number {
  return Math.max(0, ...p.progress.map((x) => x.bufferedBytes));
}

/** `n` chunks of `bytes`. */
function* repeat(bytes: Uint8Array, n: number): Generator<Uint8Array> {
  for (let i = 0; i < n; i++) yield bytes;
}

describe('a snapshot streamed to a sync client', () => {
  it('decodes chunk by chunk: the decoder holds a few bytes, never the snapshot', async () => {
    const big = bigSnapshot(5 * SNAPSHOT_CHUNK_BYTES);
    const { node } = await streamingServer(big.bytes.length, () => chunksOf(big.bytes));
    const r = await pull(node, big.bytes.length);
    expect(r.error).toBeUndefined();
    expect(r.frames.map((f) => f.type)).toEqual(['header', 'snapshot', 'end']);
    expect(r.frames[1]).toEqual({
      type: 'snapshot',
      // The heads as verified when they arrived (none for an empty clock): not verified again.
      snapshot: { snapshot: big.snapshot, proof: [], receivedBytes: big.bytes.length },
    });
    expect(r.progress.length).toBeGreaterThanOrEqual(5);
    // An incomplete field of the keyspace (a number, a literal) at most: not the 5 MiB received.
    expect(maxBuffered(r)).toBeLessThanOrEqual(64);
  }, 60_000);

  it('garbage is refused at its first chunk and the rest is never read', async () => {
    const garbage = new Uint8Array(SNAPSHOT_CHUNK_BYTES).fill(0x99); // version 153
    const server = await streamingServer(100 * SNAPSHOT_CHUNK_BYTES, () => repeat(garbage, 100));
    const r = await pull(server.node, 128 * SNAPSHOT_CHUNK_BYTES);
    expect(r.frames.map((f) => f.type)).toEqual(['header', 'snapshot']);
    const snap = (r.frames[1] as Extract<SyncFrame, { type: 'snapshot' }>).snapshot;
    expect(snap).toMatchObject({
      receivedBytes: SNAPSHOT_CHUNK_BYTES,
      error: { code: 'UNSUPPORTED_VERSION' },
    });
    expect(r.progress).toEqual([{ receivedBytes: SNAPSHOT_CHUNK_BYTES, bufferedBytes: 0 }]);
    expect((r.error as { code?: string }).code).toBe('BAD_FRAME');
  }, 60_000);

  it('an endless snapshot is cut off at the size it announced, without the decoder buffering it', async () => {
    // A valid start, then an array that does not close: "[0,0,0,..." far past the announced 8 MiB.
    const announced = 8 * SNAPSHOT_CHUNK_BYTES;
    const start = new Uint8Array([1, 0, 0, 0, ...utf8Encode('{"objects":[0')]);
    const zeros = utf8Encode(',0'.repeat(SNAPSHOT_CHUNK_BYTES / 2));
    const server = await streamingServer(announced, function* () {
      yield start;
      yield* repeat(zeros, 64);
    });
    const r = await pull(server.node, announced);
    expect((r.error as { code?: string }).code).toBe('BAD_FRAME');
    expect(String(r.error)).toMatch(/more snapshot bytes than the 8388608 it announced/);
    expect(r.frames.map((f) => f.type)).toEqual(['header']);
    const last = r.progress[r.progress.length - 1]!;
    expect(last.receivedBytes).toBeLessThanOrEqual(announced);
    expect(last.receivedBytes).toBeGreaterThan(announced - SNAPSHOT_CHUNK_BYTES);
    expect(maxBuffered(r)).toBeLessThanOrEqual(16);
  }, 60_000);

  it('a snapshot that ends short of its value is refused with DECODE_ERROR', async () => {
    const start = new Uint8Array([1, 0, 0, 0, ...utf8Encode('{"objects":{"a":"unterminated')]);
    const server = await streamingServer(start.length, () => [start]);
    const r = await pull(server.node, 1024);
    const snap = (r.frames[1] as Extract<SyncFrame, { type: 'snapshot' }>).snapshot;
    expect(snap).toMatchObject({ receivedBytes: start.length, error: { code: 'DECODE_ERROR' } });
    expect((r.error as { code?: string }).code).toBe('BAD_FRAME');
  }, 60_000);

  it('a clock its signed heads do not prove is refused at the heads: the keyspace is never read', async () => {
    // Issue 7: before, the heads were checked once the whole snapshot had arrived, so this
    // 16 MiB keyspace was received and decoded first (the progress ended at 16 MiB).
    const bytes = encodeSnapshot({
      vc,
      hlc: { wall: 1_700_000_000_000, logical: 0 },
      heads: [new Uint8Array(120).fill(7)], // a forged head: no signed envelope
      keyspace: { objects: { pad: 'x'.repeat(16 * SNAPSHOT_CHUNK_BYTES) } },
    });
    const server = await streamingServer(bytes.length, () => chunksOf(bytes));
    const r = await pull(server.node, bytes.length);
    expect(r.frames.map((f) => f.type)).toEqual(['header', 'snapshot']);
    const snap = (r.frames[1] as Extract<SyncFrame, { type: 'snapshot' }>).snapshot;
    expect(snap).toMatchObject({ receivedBytes: SNAPSHOT_CHUNK_BYTES, error: { code: 'UNPROVEN_SNAPSHOT' } });
    expect(r.progress.map((p) => p.receivedBytes)).toEqual([SNAPSHOT_CHUNK_BYTES]);
    expect((r.error as { code?: string }).code).toBe('BAD_FRAME');
  }, 60_000);
});
