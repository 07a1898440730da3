/**
 * Stream handling shared by both sides of sync and push: the service's context, dialing,
 * read deadlines, failure counting, batching envelopes into EVENTS frames with backpressure,
 * and checking that a decoded frame is the one the protocol expects here.
 */
import type { Libp2p, PeerId, Stream } from '@libp2p/interface';
import type { Multiaddr } from '@multiformats/multiaddr';
import { isNetError, NetError, NetErrorCode, netFail } from './errors.js';
import { writeFrame } from './frame-stream.js';
import type { SyncCounters, SyncServiceOptions } from './sync-types.js';
import { encodeEvents, RemoteErrorReason, type SyncWireLimits, type WireFrame } from './sync-wire.js';

export type SyncNode = Pick<Libp2p, 'handle' | 'unhandle' | 'dialProtocol'>;

/** The service's settings after defaults and validation (sync-protocol.ts). */
export interface SyncSettings {
  readonly maxConcurrentServes: number;
  readonly maxInboundStreams: number;
  readonly maxOutboundStreams: number;
  readonly serveTimeoutMs: number;
  readonly idleTimeoutMs: number;
  readonly eventsFrameBytes: number;
}

/** One SyncService's state, shared by its requester and responder halves. */
export interface SyncContext {
  readonly node: SyncNode;
  readonly opts: SyncServiceOptions;
  readonly limits: SyncWireLimits;
  readonly cfg: SyncSettings;
  readonly stats: SyncCounters;
  /** Sync and push streams being served now (sync-responder.ts admits up to a bound). */
  active: number;
}

export async function openStream(
  ctx: SyncContext,
  peer: PeerId | Multiaddr,
  protocol: string,
  signal: AbortSignal | undefined,
): Promise<Stream> {
  try {
    return await ctx.node.dialProtocol(peer, protocol, signal ? { signal } : {});
  } catch (e) {
    ctx.stats.failed++;
    throw e;
  }
}

/** The caller's signal, bounded by the idle timeout for one read. */
export function readSignal(ctx: SyncContext, signal: AbortSignal | undefined): AbortSignal {
  const idle = AbortSignal.timeout(ctx.cfg.idleTimeoutMs);
  return signal ? AbortSignal.any([signal, idle]) : idle;
}

/** Counts a failed stream: a protocol violation, or any other failure. */
export function countFailure(ctx: SyncContext, e: unknown): void {
  if (isNetError(e) && e.code === NetErrorCode.BadFrame) ctx.stats.badFrames++;
  else ctx.stats.failed++;
}

/**
 * The first EVENTS frame of a response is at most this big; each next one twice the last, up
 * to eventsFrameBytes. The requester starts checking and applying with the first frame, so a
 * small one starts that sooner, where a whole 256 KiB frame had to be read from the store,
 * encoded, sent and decoded first (up to 1.4 s after the header under load in
 * scripts/wan/heal.js runs, issue 8); later frames grow to amortize the framing.
 */
export const FIRST_EVENTS_FRAME_BYTES = 32 * 1024;

/**
 * Sends envelopes in EVENTS frames of about eventsFrameBytes, the first ones smaller (above;
 * each write waits for the stream to drain), and resolves to how many were sent. `onFrame` is
 * called with each frame's envelope count once the stream took it.
 */
export async function writeEvents(
  ctx: SyncContext,
  stream: Stream,
  envelopes: Iterable<Uint8Array> | AsyncIterable<Uint8Array>,
  signal: AbortSignal | undefined,
  onFrame?: (envelopes: number) => void,
): Promise<number> {
  let batch: Uint8Array[] = [];
  let batchBytes = 0;
  let sent = 0;
  let frameBytes = Math.min(FIRST_EVENTS_FRAME_BYTES, ctx.cfg.eventsFrameBytes);
  const flush = async (): Promise<void> => {
    if (batch.length === 0) return;
    await writeFrame(stream, encodeEvents(batch), signal);
    onFrame?.(batch.length);
    sent += batch.length;
    batch = [];
    batchBytes = 0;
    frameBytes = Math.min(frameBytes * 2, ctx.cfg.eventsFrameBytes);
  };
  for await (const e of envelopes) {
    if (e.length === 0 || e.length > ctx.limits.maxEnvelopeBytes) {
      netFail(
        NetErrorCode.InvalidArgument,
        `An envelope of ${e.length} bytes cannot be synced; the limit is ${ctx.limits.maxEnvelopeBytes}.`,
      );
    }
    if (
      batch.length > 0 &&
      (batchBytes + e.length > frameBytes || batch.length >= ctx.limits.maxEnvelopesPerFrame)
    ) {
      await flush();
    }
    batch.push(e);
    batchBytes += e.length;
  }
  await flush();
  return sent;
}

/** Narrows a decoded frame to the expected type; an ERROR frame becomes the peer's error. */
export function expectFrame<T extends WireFrame['type']>(
  frame: WireFrame | undefined,
  type: T,
  where: string,
): Extract<WireFrame, { type: T }> {
  if (frame === undefined) netFail(NetErrorCode.BadFrame, `The stream ended before ${where}.`);
  if (frame.type === type) return frame as Extract<WireFrame, { type: T }>;
  if (frame.type === 'error') {
    throw new NetError(
      frame.reason === RemoteErrorReason.Busy ? NetErrorCode.Busy : NetErrorCode.RemoteError,
      `The peer refused: ${frame.message}`,
      { details: { reason: frame.reason } },
    );
  }
  return netFail(NetErrorCode.BadFrame, `Expected ${type} as ${where}, got ${frame.type}.`);
}
