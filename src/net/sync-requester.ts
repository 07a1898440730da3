/**
 * The requesting side of sync and push: `pullFrames` sends a clock on /smac/sync/1 and yields
 * the response (header, snapshot, envelope batches, end), checking every frame; `pushEnvelopes`
 * hands envelopes to a peer on /smac/push/1 and waits for its acknowledgement.
 */
import type { PeerId } from '@libp2p/interface';
import type { Multiaddr } from '@multiformats/multiaddr';
import type { ReadonlyVectorClock } from '../core/clock/vector-clock.js';
import { SnapshotDecoder } from '../core/codec/snapshot-decoder.js';
import { isSmacError } from '../core/errors.js';
import { NetErrorCode, netFail } from './errors.js';
import type { KeyspaceRows } from '../core/codec/snapshot-codec.js';
import type { Json } from '../core/json.js';
import {
  PEER_SNAPSHOT_LIMITS,
  type ReceivedSnapshot,
  type SnapshotHead,
  SnapshotRefusal,
  SnapshotRefused,
  verifySnapshotHeads,
} from './snapshot-proof.js';
import { FrameReader, writeFrame } from './frame-stream.js';
import {
  countFailure,
  expectFrame,
  openStream,
  readSignal,
  type SyncContext,
  writeEvents,
} from './sync-stream-io.js';
import type { PullOptions, SyncFrame } from './sync-types.js';
import {
  decodeFrame,
  encodeEnd,
  encodeRequest,
  PUSH_PROTOCOL,
  SYNC_PROTOCOL,
  type WireFrame,
} from './sync-wire.js';

/** SyncService.pull (sync-protocol.ts documents it). */
export async function* pullFrames(
  ctx: SyncContext,
  peer: PeerId | Multiaddr,
  vc: ReadonlyVectorClock,
  options: PullOptions,
): AsyncGenerator<SyncFrame, void, undefined> {
  const signal = options.signal;
  const stream = await openStream(ctx, peer, SYNC_PROTOCOL, signal);
  options.onOpen?.();
  const reader = new FrameReader(stream, { maxFrameBytes: ctx.limits.maxFrameBytes, what: SYNC_PROTOCOL });
  const next = async (): Promise<WireFrame | undefined> => {
    const bytes = await reader.next(readSignal(ctx, signal));
    options.onFrame?.();
    return bytes === undefined ? undefined : decodeFrame(bytes, ctx.limits);
  };
  let done = false;
  try {
    await writeFrame(stream, encodeRequest(vc, ctx.limits), signal);
    await stream.close(signal ? { signal } : {});
    const first = await next();
    const header = expectFrame(first, 'header', 'the first frame of a sync response');
    yield {
      type: 'header',
      vc: header.vc,
      compacted: header.compacted,
      snapshot: header.snapshotBytes > 0,
    };
    if (header.snapshotBytes > 0) {
      const snapshot =
        untrusted(options.snapshotSource?.(undefined), 0) ??
        (await receiveSnapshot(ctx, header.snapshotBytes, next, options));
      yield { type: 'snapshot', snapshot };
      // A snapshot that did not decode (or was refused) was not read to its end: the stream cannot go on.
      if ('error' in snapshot)
        netFail(NetErrorCode.BadFrame, 'The sync response went on after a malformed snapshot.');
    }
    let events = 0;
    for (;;) {
      const frame = await next();
      if (frame?.type === 'events') {
        events += frame.envelopes.length;
        yield { type: 'events', envelopes: frame.envelopes };
        continue;
      }
      const end = expectFrame(frame, 'end', 'a sync response after its header');
      if (end.count !== events) {
        netFail(
          NetErrorCode.BadFrame,
          `The peer announced ${end.count} envelopes at the end but sent ${events}.`,
        );
      }
      if ((await reader.next(readSignal(ctx, signal))) !== undefined) {
        netFail(NetErrorCode.BadFrame, 'The peer sent frames after the end of its sync response.');
      }
      ctx.stats.pulled++;
      ctx.stats.pulledEvents += events;
      done = true;
      yield { type: 'end', events };
      return;
    }
  } catch (e) {
    countFailure(ctx, e);
    throw e;
  } finally {
    reader.release();
    if (!done) stream.abort(new Error('sync pull ended before the response was complete'));
  }
}

/**
 * Receives the announced `total` bytes of a snapshot, chunk by chunk (FrameReader pauses the
 * stream between them: backpressure), and decodes each as it arrives: the snapshot is built
 * while the encoding is never held whole (core/codec/snapshot-decoder.ts). A chunk beyond the
 * announced size is BAD_FRAME (counted as one); bytes that do not decode stop the reading at
 * once, and the snapshot is handed on as refused, for the consumer to count (snapshot-proof.ts).
 * The signed heads that prove the clock precede the keyspace: they are verified as soon as the
 * decoder has them, and a clock they do not prove stops the reading there too (refused
 * UNPROVEN_SNAPSHOT), so the keyspace of such a snapshot is never received; so does a source
 * we take no snapshot from, asked again with the clock the heads proved. The verified heads go
 * with the snapshot (`proof`: they are not verified again). With `snapshotKeyspace`, the
 * keyspace is built row by row as it arrives, and a row that does not validate stops the
 * reading there too.
 */
async function receiveSnapshot(
  ctx: SyncContext,
  total: number,
  next: () => Promise<WireFrame | undefined>,
  options: PullOptions,
): Promise<ReceivedSnapshot> {
  const decoder = new SnapshotDecoder<Json | KeyspaceRows>(
    { ...PEER_SNAPSHOT_LIMITS, maxOriginBytes: ctx.limits.maxOriginBytes },
    total,
    ctx.opts.snapshotKeyspace?.(),
  );
  let received = 0;
  let proof: SnapshotHead[] | undefined;
  while (received < total) {
    const chunk = expectFrame(
      await next(),
      'snapshot-chunk',
      'a sync response before its snapshot is complete',
    );
    received += chunk.bytes.length;
    if (received > total)
      netFail(NetErrorCode.BadFrame, `The peer sent more snapshot bytes than the ${total} it announced.`);
    try {
      decoder.push(chunk.bytes);
      const prefix = decoder.prefix;
      if (proof === undefined && prefix !== undefined) {
        proof = verifySnapshotHeads(prefix.vc, prefix.heads ?? []); // throws SnapshotRefused
        const refusal = untrusted(options.snapshotSource?.(prefix.vc), received);
        if (refusal) return refusal;
      }
    } catch (e) {
      return refused(e, received);
    } finally {
      options.onSnapshotChunk?.({ receivedBytes: received, bufferedBytes: decoder.bufferedBytes });
    }
  }
  try {
    const snapshot = decoder.end();
    ctx.stats.pulledSnapshots++;
    return { snapshot, ...(proof ? { proof } : {}), receivedBytes: received };
  } catch (e) {
    return refused(e, received);
  }
}

/** A snapshot refused for its source (`why`), when there is a reason. */
function untrusted(why: string | undefined, receivedBytes: number): ReceivedSnapshot | undefined {
  if (why === undefined) return undefined;
  const error = new SnapshotRefused(SnapshotRefusal.Untrusted, `Refused a snapshot: ${why}.`);
  return { error, receivedBytes };
}

function refused(e: unknown, receivedBytes: number): ReceivedSnapshot {
  if (!isSmacError(e) && !(e instanceof SnapshotRefused)) throw e;
  return { error: e, receivedBytes };
}

/** SyncService.push (sync-protocol.ts documents it). */
export async function pushEnvelopes(
  ctx: SyncContext,
  peer: PeerId | Multiaddr,
  envelopes: Iterable<Uint8Array> | AsyncIterable<Uint8Array>,
  options: { signal?: AbortSignal; onFrame?: () => void },
): Promise<number> {
  const signal = options.signal;
  const stream = await openStream(ctx, peer, PUSH_PROTOCOL, signal);
  const reader = new FrameReader(stream, { maxFrameBytes: ctx.limits.maxFrameBytes, what: PUSH_PROTOCOL });
  try {
    const sent = await writeEvents(ctx, stream, envelopes, signal, options.onFrame);
    await writeFrame(stream, encodeEnd(sent), signal);
    await stream.close(signal ? { signal } : {});
    const bytes = await reader.next(
      AbortSignal.any([...(signal ? [signal] : []), AbortSignal.timeout(ctx.cfg.serveTimeoutMs)]),
    );
    const ack = expectFrame(
      bytes === undefined ? undefined : decodeFrame(bytes, ctx.limits),
      'ack',
      'the answer to a push',
    );
    if (ack.count !== sent) {
      netFail(
        NetErrorCode.BadFrame,
        `The peer acknowledged ${ack.count} pushed envelopes, not the ${sent} sent.`,
      );
    }
    ctx.stats.pushesSent++;
    return sent;
  } catch (e) {
    countFailure(ctx, e);
    stream.abort(e instanceof Error ? e : new Error(String(e)));
    throw e;
  } finally {
    reader.release();
  }
}
