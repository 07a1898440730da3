// Helpers of the snapshot streaming tests: a server that streams a snapshot chunk by chunk as
// it pleases, and a SyncService client that pulls from it, recording its progress.
import type { Stream } from '@libp2p/interface';
import type { VectorClock } from '../../src/core/clock/vector-clock.js';
import { FrameReader, writeFrame } from '../../src/net/frame-stream.js';
import type { SmacNode } from '../../src/net/node.js';
import { SyncService } from '../../src/net/sync-protocol.js';
import type { SyncFrame, SyncServiceOptions } from '../../src/net/sync-types.js';
import {
  encodeEnd,
  encodeHeader,
  encodeSnapshotChunk,
  SNAPSHOT_CHUNK_BYTES,
  SYNC_PROTOCOL,
} from '../../src/net/sync-wire.js';
import { loopbackNode } from './helpers.js';

/**
 * A server that answers a pull with a header announcing `announced` snapshot bytes and claiming
 * `vc`, then the chunks `chunks` yields (with backpressure) for as long as the stream takes
 * them. Reports how many chunk bytes the stream took before it failed. The node goes to `nodes`.
 */
export async function streamingServer(
  nodes: SmacNode[],
  vc: VectorClock,
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

/** `bytes` in chunks of SNAPSHOT_CHUNK_BYTES, as a responder sends them. */
export function* chunksOf(bytes: Uint8Array): Generator<Uint8Array> {
  for (let at = 0; at < bytes.length; at += SNAPSHOT_CHUNK_BYTES)
    yield bytes.subarray(at, at + SNAPSHOT_CHUNK_BYTES);
}

export interface Pulled {
  error: unknown;
  frames: SyncFrame[];
  /** After each chunk: the bytes received so far and those the decoder held. */
  progress: { receivedBytes: number; bufferedBytes: number }[];
}

/** Pulls from `server` with an empty clock, by a client node that goes to `nodes`. */
export async function pull(
  nodes: SmacNode[],
  server: SmacNode,
  maxSnapshotBytes: number,
  opts: Partial<SyncServiceOptions> = {},
): Promise<Pulled> {
  const node = await loopbackNode();
  nodes.push(node);
  const sync = new SyncService(node, { idleTimeoutMs: 60_000, maxSnapshotBytes, ...opts });
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
