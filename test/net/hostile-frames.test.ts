// Hostile /smac/sync/1 servers against a real SyncService client over libp2p on loopback:
// an announced snapshot over the bound, an oversized frame, a frame of an unknown type, and
// more snapshot bytes than announced. Each pull fails at once with BAD_FRAME (a clear message,
// counted in badFrames), never with a throw that escapes or a wait for the idle timeout; a
// snapshot within the bound streams in chunks and arrives whole.
import type { Stream } from '@libp2p/interface';
import { afterEach, describe, expect, it } from 'vitest';
import { Writer } from '../../src/core/codec/binary.js';
import type { VectorClock } from '../../src/core/clock/vector-clock.js';
import { encodeFrame, FrameReader, writeFrame } from '../../src/net/frame-stream.js';
import type { SmacNode } from '../../src/net/node.js';
import { SyncService } from '../../src/net/sync-protocol.js';
import {
  DEFAULT_MAX_SNAPSHOT_BYTES,
  DEFAULT_SYNC_WIRE_LIMITS,
  encodeEnd,
  encodeHeader,
  encodeSnapshotChunk,
  SNAPSHOT_CHUNK_BYTES,
  SYNC_PROTOCOL,
} from '../../src/net/sync-wire.js';
import type { PeerSnapshotInput } from '../../src/net/snapshot-proof.js';
import { bigSnapshot, loopbackNode, stopAll } from './helpers.js';

let nodes: SmacNode[] = [];
afterEach(async () => {
  await stopAll(nodes);
  nodes = [];
});

const vc: VectorClock = new Map([['peer-x', 3]]);

/** A server that reads the request, then lets `respond` write whatever it likes. */
async function hostileServer(respond: (stream: Stream) => Promise<void>): Promise<SmacNode> {
  const node = await loopbackNode();
  nodes.push(node);
  await node.handle(
    SYNC_PROTOCOL,
    async (stream: Stream) => {
      const reader = new FrameReader(stream, { maxFrameBytes: 1 << 20, what: 'hostile' });
      try {
        await reader.next(AbortSignal.timeout(10_000));
        await respond(stream);
      } catch {
        stream.abort(new Error('hostile server done'));
      } finally {
        reader.release();
      }
    },
    { maxInboundStreams: 8 },
  );
  return node;
}

async function client(
  opts: { maxSnapshotBytes?: number } = {},
): Promise<{ node: SmacNode; sync: SyncService }> {
  const node = await loopbackNode();
  nodes.push(node);
  // A long idle timeout: a pull that only fails by timing out fails these tests' bounds.
  return { node, sync: new SyncService(node, { idleTimeoutMs: 60_000, ...opts }) };
}

/** Runs a pull to its end; resolves to its error (or undefined) and how long it took. */
async function pullFrom(
  sync: SyncService,
  server: SmacNode,
): Promise<{ error: unknown; frames: string[]; snapshot?: PeerSnapshotInput; ms: number }> {
  const started = Date.now();
  const frames: string[] = [];
  let snapshot: PeerSnapshotInput | undefined;
  try {
    for await (const f of sync.pull(server.getMultiaddrs()[0]!, new Map(), {
      signal: AbortSignal.timeout(30_000),
    })) {
      frames.push(f.type);
      if (f.type === 'snapshot') snapshot = f.snapshot;
    }
    return { error: undefined, frames, ms: Date.now() - started, ...(snapshot ? { snapshot } : {}) };
  } catch (e) {
    return { error: e, frames, ms: Date.now() - started };
  }
}

function codeAndMessage(e: unknown): { code: unknown; message: string } {
  return { code: (e as { code?: unknown }).code, message: e instanceof Error ? e.message : String(e) };
}

describe('a hostile sync server', () => {
  it('announcing a snapshot over the bound is refused at the header, before any of it arrives', async () => {
    // 512 MiB: under the old 1 GiB bound. The server then holds the stream open, sending nothing.
    const server = await hostileServer(async (stream) => {
      await writeFrame(stream, encodeHeader(vc, vc, 512 * 1024 * 1024));
      await new Promise<void>((resolve) => {
        stream.addEventListener('close', () => {
          resolve();
        });
      });
    });
    const { sync } = await client();
    const r = await pullFrom(sync, server);
    expect(codeAndMessage(r.error)).toMatchObject({ code: 'BAD_FRAME' });
    expect(codeAndMessage(r.error).message).toMatch(/536870912 bytes.*at most/);
    expect(r.ms).toBeLessThan(20_000);
    expect(sync.counters().badFrames).toBe(1);
    expect(DEFAULT_MAX_SNAPSHOT_BYTES).toBeLessThanOrEqual(256 * 1024 * 1024);
  }, 60_000);

  it('announcing a frame longer than the frame bound is refused at its length prefix', async () => {
    const server = await hostileServer(async (stream) => {
      const prefix = new Writer().varint(64 * 1024 * 1024).finish(); // 64 MiB announced, 1 KiB sent
      stream.send(prefix);
      stream.send(new Uint8Array(1024));
      await new Promise<void>((resolve) => {
        stream.addEventListener('close', () => {
          resolve();
        });
      });
    });
    const { sync } = await client();
    const r = await pullFrom(sync, server);
    expect(codeAndMessage(r.error)).toMatchObject({ code: 'BAD_FRAME' });
    expect(codeAndMessage(r.error).message).toMatch(
      new RegExp(`announces 67108864 bytes; the limit is ${DEFAULT_SYNC_WIRE_LIMITS.maxFrameBytes}`),
    );
    expect(sync.counters().badFrames).toBe(1);
  }, 60_000);

  it('sending a frame of an unknown type, or more snapshot bytes than announced, is refused', async () => {
    const unknown = await hostileServer(async (stream) => {
      stream.send(encodeFrame(new Uint8Array([0x99, 1, 2, 3])));
      await stream.close();
    });
    const overlong = await hostileServer(async (stream) => {
      await writeFrame(stream, encodeHeader(vc, vc, 10));
      await writeFrame(stream, encodeSnapshotChunk(new Uint8Array(11)));
      await writeFrame(stream, encodeEnd(0));
      await stream.close();
    });
    const { sync } = await client();
    const a = await pullFrom(sync, unknown);
    expect(codeAndMessage(a.error)).toMatchObject({ code: 'BAD_FRAME' });
    expect(codeAndMessage(a.error).message).toMatch(/Unknown frame type 153/);
    const b = await pullFrom(sync, overlong);
    expect(codeAndMessage(b.error)).toMatchObject({ code: 'BAD_FRAME' });
    expect(codeAndMessage(b.error).message).toMatch(/more snapshot bytes than the 10 it announced/);
    expect(sync.counters().badFrames).toBe(2);
  }, 60_000);

  it('a snapshot within a configured bound streams in chunks and decodes whole; one byte more is refused', async () => {
    const big = bigSnapshot(3 * SNAPSHOT_CHUNK_BYTES + 17);
    const payload = big.bytes;
    const size = payload.length;
    const serve = (bytes: Uint8Array) =>
      hostileServer(async (stream) => {
        await writeFrame(stream, encodeHeader(vc, vc, bytes.length));
        for (let at = 0; at < bytes.length; at += SNAPSHOT_CHUNK_BYTES)
          await writeFrame(stream, encodeSnapshotChunk(bytes.subarray(at, at + SNAPSHOT_CHUNK_BYTES)));
        await writeFrame(stream, encodeEnd(0));
        await stream.close();
      });
    const { sync } = await client({ maxSnapshotBytes: size });
    const ok = await pullFrom(sync, await serve(payload));
    expect(ok.error).toBeUndefined();
    expect(ok.frames).toEqual(['header', 'snapshot', 'end']);
    expect(ok.snapshot).toEqual({ snapshot: big.snapshot, proof: [], receivedBytes: size });
    const tooBig = await pullFrom(sync, await serve(new Uint8Array(size + 1)));
    expect(codeAndMessage(tooBig.error)).toMatchObject({ code: 'BAD_FRAME' });
    expect(codeAndMessage(tooBig.error).message).toMatch(/maxSnapshotBytes/);
    expect(() => new SyncService(nodes[0]!, { maxSnapshotBytes: 0 })).toThrow(/maxSnapshotBytes/);
  }, 60_000);
});
