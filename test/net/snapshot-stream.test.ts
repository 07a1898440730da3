// Snapshots decoded as they stream in (issue 7, "Stream snapshots with bounded memory"): a real
// SyncService client pulls over libp2p on loopback from servers that stream snapshots chunk by
// chunk. The client holds the state being built and, of the encoded bytes, only an incomplete
// field: asserted on the bytes its decoder holds after every chunk (onSnapshotChunk), not on
// timing. A hostile server streaming garbage is cut off at its first chunk; one streaming an
// endless snapshot is cut off at the size it announced, and the decoder never buffered it.
import type { Stream } from '@libp2p/interface';
import { afterEach, describe, expect, it } from 'vitest';
import { utf8Encode } from '../../src/core/codec/binary.js';
import { encodeSnapshot } from '../../src/core/codec/snapshot-codec.js';
import type { VectorClock } from '../../src/core/clock/vector-clock.js';
import { FrameReader, writeFrame } from '../../src/net/frame-stream.js';
import type { SmacNode } from '../../src/net/node.js';
import { SyncService } from '../../src/net/sync-protocol.js';
import type { SyncFrame } from '../../src/net/sync-types.js';
import {
  encodeEnd,
  encodeHeader,
  encodeSnapshotChunk,
  SNAPSHOT_CHUNK_BYTES,
  SYNC_PROTOCOL,
} from '../../src/net/sync-wire.js';
import { bigSnapshot, loopbackNode, stopAll } from './helpers.js';

let nodes: SmacNode[] = [];
afterEach(async () => {
  await stopAll(nodes);
  nodes = [];
});

const vc: VectorClock = new Map([['peer-x', 3]]);

/**
 * A server that answers a pull with a header announcing `announced` snapshot bytes, then the
 * chunks `chunks` yields (with backpressure) for as long as the stream takes them. Reports how
 * many chunk bytes the stream took before it failed.
 */
async function streamingServer(
  announced: number,
  chunks: () => Iterable<Uint8Array>,
): Promise<{ node: SmacNode; sent: () => number }> {
  const node = await loopbackNode();
  nodes.push(node);
  let sent = 0;
  await node.handle(
    SYNC_PROTOCOL,
    async (stream: Stream) => {
      const reader = new FrameReader(stream, { maxFrameBytes: 1 << 20, what: 'server' });
      try {
        await reader.next(AbortSignal.timeout(10_000));
        await writeFrame(stream, encodeHeader(vc, vc, announced));
        for (const c of chunks()) {
          if (stream.status !== 'open') return; // the client cut it off
          await writeFrame(stream, encodeSnapshotChunk(c));
          sent += c.length;
        }
        await writeFrame(stream, encodeEnd(0));
        await stream.close();
      } catch {
        stream.abort(new Error('server done'));
      } finally {
        reader.release();
      }
    },
    { maxInboundStreams: 8 },
  );
  return { node, sent: () => sent };
}

interface Pulled {
  error: unknown;
  frames: SyncFrame[];
  /** After each chunk: the bytes received so far and those the decoder held. */
  progress: { receivedBytes: number; bufferedBytes: number }[];
}

async function pull(server: SmacNode, maxSnapshotBytes: number): Promise<Pulled> {
  const node = await loopbackNode();
  nodes.push(node);
  const sync = new SyncService(node, { idleTimeoutMs: 60_000, maxSnapshotBytes });
  const out: Pulled = { error: undefined, frames: [], progress: [] };
  try {
    for await (const f of sync.pull(server.getMultiaddrs()[0]!, new Map(), {
      signal: AbortSignal.timeout(50_000),
      onSnapshotChunk: (p) => out.progress.push(p),
    }))
      out.frames.push(f);
  } catch (e) {
    out.error = e;
  }
  return out;
}

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
    const { node } = await streamingServer(big.bytes.length, function* () {
      for (let at = 0; at < big.bytes.length; at += SNAPSHOT_CHUNK_BYTES)
        yield big.bytes.subarray(at, at + SNAPSHOT_CHUNK_BYTES);
    });
    const r = await pull(node, big.bytes.length);
    expect(r.error).toBeUndefined();
    expect(r.frames.map((f) => f.type)).toEqual(['header', 'snapshot', 'end']);
    expect(r.frames[1]).toEqual({
      type: 'snapshot',
      snapshot: { snapshot: big.snapshot, receivedBytes: big.bytes.length },
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
    const server = await streamingServer(bytes.length, function* () {
      for (let at = 0; at < bytes.length; at += SNAPSHOT_CHUNK_BYTES)
        yield bytes.subarray(at, at + SNAPSHOT_CHUNK_BYTES);
    });
    const r = await pull(server.node, bytes.length);
    expect(r.frames.map((f) => f.type)).toEqual(['header', 'snapshot']);
    const snap = (r.frames[1] as Extract<SyncFrame, { type: 'snapshot' }>).snapshot;
    expect(snap).toMatchObject({ receivedBytes: SNAPSHOT_CHUNK_BYTES, error: { code: 'UNPROVEN_SNAPSHOT' } });
    expect(r.progress.map((p) => p.receivedBytes)).toEqual([SNAPSHOT_CHUNK_BYTES]);
    expect((r.error as { code?: string }).code).toBe('BAD_FRAME');
  }, 60_000);
});
