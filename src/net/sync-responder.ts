/**
 * The serving side of sync and push: admission (at most maxConcurrentServes streams, BUSY
 * beyond), answering a sync request from the source (header, snapshot chunks, envelopes, end),
 * taking a push batch by batch, and failing a stream with a reason the peer can act on.
 */
import type { Connection, Stream } from '@libp2p/interface';
import { type ReadonlyVectorClock, vcLeq } from '../core/clock/vector-clock.js';
import { isNetError, NetErrorCode, netFail } from './errors.js';
import { encodeFrame, FrameReader, writeFrame } from './frame-stream.js';
import { countFailure, expectFrame, type SyncContext, writeEvents } from './sync-stream-io.js';
import type { SyncServiceOptions, SyncSnapshot, SyncSource } from './sync-types.js';
import {
  decodeFrame,
  encodeAck,
  encodeEnd,
  encodeError,
  encodeHeader,
  encodeSnapshotChunk,
  PUSH_PROTOCOL,
  RemoteErrorReason,
  SNAPSHOT_CHUNK_BYTES,
  SYNC_PROTOCOL,
} from './sync-wire.js';

/** The /smac/sync/1 handler: one request, answered from `source`. */
export async function serveSync(
  ctx: SyncContext,
  source: SyncSource,
  stream: Stream,
  connection: Connection,
): Promise<void> {
  if (!(await admit(ctx, stream))) return;
  const signal = AbortSignal.timeout(ctx.cfg.serveTimeoutMs);
  const reader = new FrameReader(stream, { maxFrameBytes: ctx.limits.maxFrameBytes, what: SYNC_PROTOCOL });
  try {
    const bytes = await reader.next(AbortSignal.any([signal, AbortSignal.timeout(ctx.cfg.idleTimeoutMs)]));
    const request = expectFrame(
      bytes === undefined ? undefined : decodeFrame(bytes, ctx.limits),
      'request',
      'a sync request',
    );
    const requested = ctx.opts.readClock ? ctx.opts.readClock(request.vc) : request.vc;
    ctx.opts.onRequest?.(requested, connection.remotePeer);
    const header = await source.header();
    let since: ReadonlyVectorClock = requested;
    let snapshot: SyncSnapshot | undefined;
    if (
      !vcLeq(header.compacted, requested) ||
      source.wantsSnapshot?.(requested, connection.remotePeer) === true
    ) {
      snapshot = await source.snapshot(connection.remotePeer);
      if (!snapshot || snapshot.bytes.length === 0) {
        throw new Error('the requester needs a snapshot, but the sync source has none');
      }
      since = snapshot.vc;
    }
    await writeFrame(
      stream,
      encodeHeader(header.vc, header.compacted, snapshot?.bytes.length ?? 0, ctx.limits),
      signal,
    );
    if (snapshot) {
      for (let at = 0; at < snapshot.bytes.length; at += SNAPSHOT_CHUNK_BYTES) {
        const chunk = snapshot.bytes.subarray(at, at + SNAPSHOT_CHUNK_BYTES);
        await writeFrame(stream, encodeSnapshotChunk(chunk), signal);
      }
      ctx.stats.servedSnapshots++;
    }
    const sent = await writeEvents(ctx, stream, source.envelopesSince(since), signal, (n) => {
      ctx.stats.servedEventsWritten += n;
    });
    await writeFrame(stream, encodeEnd(sent), signal);
    await stream.close({ signal });
    ctx.stats.served++;
    ctx.stats.servedEvents += sent;
  } catch (e) {
    failServe(ctx, SYNC_PROTOCOL, stream, connection, e);
  } finally {
    reader.release();
    ctx.active--;
  }
}

/** The /smac/push/1 handler: every batch goes to `onPush`, then the ack. */
export async function servePush(
  ctx: SyncContext,
  onPush: NonNullable<SyncServiceOptions['onPush']>,
  stream: Stream,
  connection: Connection,
): Promise<void> {
  if (!(await admit(ctx, stream))) return;
  const signal = AbortSignal.timeout(ctx.cfg.serveTimeoutMs);
  const reader = new FrameReader(stream, { maxFrameBytes: ctx.limits.maxFrameBytes, what: PUSH_PROTOCOL });
  try {
    let received = 0;
    for (;;) {
      const bytes = await reader.next(AbortSignal.any([signal, AbortSignal.timeout(ctx.cfg.idleTimeoutMs)]));
      const frame = bytes === undefined ? undefined : decodeFrame(bytes, ctx.limits);
      if (frame?.type === 'events') {
        // Awaiting here keeps the reader from asking for more, which pauses the pusher.
        await onPush(frame.envelopes, connection.remotePeer);
        received += frame.envelopes.length;
        continue;
      }
      const end = expectFrame(frame, 'end', 'a push after its batches');
      if (end.count !== received) {
        netFail(
          NetErrorCode.BadFrame,
          `The pusher announced ${end.count} envelopes at the end but sent ${received}.`,
        );
      }
      break;
    }
    await writeFrame(stream, encodeAck(received), signal);
    await stream.close({ signal });
    ctx.stats.pushesReceived++;
    ctx.stats.pushedEventsReceived += received;
  } catch (e) {
    failServe(ctx, PUSH_PROTOCOL, stream, connection, e);
  } finally {
    reader.release();
    ctx.active--;
  }
}

/** Takes a serving slot, or answers BUSY and closes. */
async function admit(ctx: SyncContext, stream: Stream): Promise<boolean> {
  if (ctx.active < ctx.cfg.maxConcurrentServes) {
    ctx.active++;
    return true;
  }
  ctx.stats.busy++;
  try {
    await writeFrame(
      stream,
      encodeError(RemoteErrorReason.Busy, 'busy: too many sync streams'),
      AbortSignal.timeout(1000),
    );
    await stream.close({ signal: AbortSignal.timeout(1000) });
  } catch {
    stream.abort(new Error('busy'));
  }
  return false;
}

function failServe(
  ctx: SyncContext,
  protocol: string,
  stream: Stream,
  connection: Connection,
  e: unknown,
): void {
  countFailure(ctx, e);
  ctx.opts.onError?.(protocol, connection.remotePeer, e);
  const bad = isNetError(e) && e.code === NetErrorCode.BadFrame;
  try {
    // Best effort: tell the peer why, so its error is actionable, then reset the stream.
    if (stream.status === 'open' && stream.writeStatus === 'writable') {
      const reason = bad ? RemoteErrorReason.BadRequest : RemoteErrorReason.Internal;
      stream.send(encodeFrame(encodeError(reason, e instanceof Error ? e.message : String(e))));
    }
  } catch {
    // The stream is already gone.
  }
  stream.abort(e instanceof Error ? e : new Error(String(e)));
}
