/**
 * Anti-entropy over libp2p streams (DESIGN.md "Anti-entropy (sync)", "Snapshots and
 * compaction"), the reliable path: convergence must hold with gossip switched off.
 *
 * /smac/sync/1 (pull). The requester sends its vector clock. The responder answers with its
 * clock and its compacted clock (the events its log no longer holds), then, if the requester
 * has not seen everything compacted away, a snapshot, then the envelopes the requester is
 * missing in causal order, then END. Envelopes stream with backpressure on both sides: the
 * responder waits for its send buffer to drain, and the requester's FrameReader pauses the
 * stream while the consumer lags, so neither side buffers a whole log.
 *
 * /smac/push/1. A returning peer hands its own unsent events to a peer before it installs
 * that peer's snapshot (which would otherwise erase them locally). The receiver acknowledges
 * once its onPush callback has taken every batch.
 *
 * Both sides validate every frame (frame sizes, shapes, order, counts). A malformed frame
 * aborts that one stream and is counted; it never throws out of a stream handler. Envelope
 * signatures are not checked here: the consumer opens each envelope (envelope.ts), as it must
 * for gossip too.
 */
import type { Connection, Libp2p, PeerId, Stream } from '@libp2p/interface';
import type { Multiaddr } from '@multiformats/multiaddr';
import { type ReadonlyVectorClock, type VectorClock, vcLeq } from '../core/clock/vector-clock.js';
import { isNetError, NetError, NetErrorCode, netFail } from './errors.js';
import { encodeFrame, FrameReader, writeFrame } from './frame-stream.js';
import {
  DEFAULT_SYNC_WIRE_LIMITS,
  decodeFrame,
  encodeAck,
  encodeEnd,
  encodeError,
  encodeEvents,
  encodeHeader,
  encodeRequest,
  encodeSnapshotChunk,
  PUSH_PROTOCOL,
  RemoteErrorReason,
  SNAPSHOT_CHUNK_BYTES,
  SYNC_PROTOCOL,
  type SyncWireLimits,
  type WireFrame,
} from './sync-wire.js';

type MaybePromise<T> = T | Promise<T>;

export interface SyncHeader {
  /** The responder's clock: every event it has delivered. */
  readonly vc: ReadonlyVectorClock;
  /** The events its log no longer holds (covered by its snapshot instead). */
  readonly compacted: ReadonlyVectorClock;
}

export interface SyncSnapshot {
  /** An encoded snapshot (src/core/codec/snapshot-codec.ts), opaque here. */
  readonly bytes: Uint8Array;
  /** The clock the snapshot covers; at least `compacted`. */
  readonly vc: ReadonlyVectorClock;
}

/**
 * What a responder serves. The three calls are made in order for one request; the source
 * makes them consistent (the log may grow in between, never shrink below `compacted`).
 */
export interface SyncSource {
  header(): MaybePromise<SyncHeader>;
  /**
   * The current snapshot, in a format `requester` reads; needed only when `compacted` is not
   * empty.
   */
  snapshot(requester: PeerId): MaybePromise<SyncSnapshot | undefined>;
  /**
   * Envelopes of every logged event `vc` does not cover, in an order that respects causality
   * (the log order does). Iterated lazily, with backpressure.
   */
  envelopesSince(vc: ReadonlyVectorClock): Iterable<Uint8Array> | AsyncIterable<Uint8Array>;
}

export type SyncFrame =
  | {
      readonly type: 'header';
      readonly vc: VectorClock;
      readonly compacted: VectorClock;
      /** True when a snapshot frame follows: install it before applying the events. */
      readonly snapshot: boolean;
    }
  | { readonly type: 'snapshot'; readonly bytes: Uint8Array }
  | { readonly type: 'events'; readonly envelopes: Uint8Array[] }
  | { readonly type: 'end'; readonly events: number };

export interface SyncCounters {
  /** Pulls served to completion, and the envelopes they carried. */
  served: number;
  servedEvents: number;
  servedSnapshots: number;
  /** Pulls made to completion, and the envelopes received. */
  pulled: number;
  pulledEvents: number;
  pulledSnapshots: number;
  pushesReceived: number;
  pushedEventsReceived: number;
  pushesSent: number;
  /** Streams closed because the peer broke the protocol. */
  badFrames: number;
  /** Requests refused because too many were being served. */
  busy: number;
  /** Streams that failed for any other reason (timeouts, resets, source errors). */
  failed: number;
}

export interface SyncServiceOptions {
  /** Serves /smac/sync/1 when given. */
  readonly source?: SyncSource;
  /**
   * Handles /smac/push/1 when given: takes one batch of raw envelopes from `from`. The ack
   * is sent after every batch's promise resolved, so resolve only once they are durable.
   */
  readonly onPush?: (envelopes: Uint8Array[], from: PeerId) => MaybePromise<void>;
  readonly limits?: SyncWireLimits;
  /** Overrides limits.maxSnapshotBytes: the largest snapshot this node pulls (default 128 MiB). */
  readonly maxSnapshotBytes?: number;
  /** Concurrent sync and push streams served, over all peers (default 8); more get BUSY. */
  readonly maxConcurrentServes?: number;
  /** Inbound streams per connection and protocol (default 2). */
  readonly maxInboundStreams?: number;
  /** Outbound streams per connection and protocol (default 4). */
  readonly maxOutboundStreams?: number;
  /** Longest a served stream may last, ms (default 120000): 100k events take a few seconds. */
  readonly serveTimeoutMs?: number;
  /** Longest a read may wait for the peer's next frame, ms (default 30000). */
  readonly idleTimeoutMs?: number;
  /** Target EVENTS frame size in bytes (default 256 KiB): larger amortizes, smaller streams sooner. */
  readonly eventsFrameBytes?: number;
  /**
   * Called with every sync request's clock and its sender, before it is served: the requester
   * exists and has delivered at least that clock (the agent's stability view counts it).
   */
  readonly onRequest?: (vc: ReadonlyVectorClock, from: PeerId) => void;
  /**
   * Reads a request's clock before anything uses it: the agent counts the retired epochs the
   * requester pruned at their cut (src/core/retired-epochs.ts), so they are neither resent nor
   * the reason for a snapshot.
   */
  readonly readClock?: (vc: VectorClock) => ReadonlyVectorClock;
  /** Called when a stream fails, for logs. */
  readonly onError?: (protocol: string, peer: PeerId, error: unknown) => void;
}

type SyncNode = Pick<Libp2p, 'handle' | 'unhandle' | 'dialProtocol'>;

const DEFAULTS = {
  maxConcurrentServes: 8,
  maxInboundStreams: 2,
  maxOutboundStreams: 4,
  serveTimeoutMs: 120_000,
  idleTimeoutMs: 30_000,
  eventsFrameBytes: 256 * 1024,
};

export class SyncService {
  private readonly limits: SyncWireLimits;
  private readonly cfg: typeof DEFAULTS;
  private active = 0;
  private readonly stats: SyncCounters = {
    served: 0,
    servedEvents: 0,
    servedSnapshots: 0,
    pulled: 0,
    pulledEvents: 0,
    pulledSnapshots: 0,
    pushesReceived: 0,
    pushedEventsReceived: 0,
    pushesSent: 0,
    badFrames: 0,
    busy: 0,
    failed: 0,
  };

  constructor(
    private readonly node: SyncNode,
    private readonly opts: SyncServiceOptions = {},
  ) {
    const limits = opts.limits ?? DEFAULT_SYNC_WIRE_LIMITS;
    this.limits =
      opts.maxSnapshotBytes === undefined ? limits : { ...limits, maxSnapshotBytes: opts.maxSnapshotBytes };
    if (!Number.isSafeInteger(this.limits.maxSnapshotBytes) || this.limits.maxSnapshotBytes <= 0) {
      netFail(
        NetErrorCode.InvalidArgument,
        `maxSnapshotBytes must be a positive integer; got ${this.limits.maxSnapshotBytes}.`,
      );
    }
    this.cfg = {
      maxConcurrentServes: opts.maxConcurrentServes ?? DEFAULTS.maxConcurrentServes,
      maxInboundStreams: opts.maxInboundStreams ?? DEFAULTS.maxInboundStreams,
      maxOutboundStreams: opts.maxOutboundStreams ?? DEFAULTS.maxOutboundStreams,
      serveTimeoutMs: opts.serveTimeoutMs ?? DEFAULTS.serveTimeoutMs,
      idleTimeoutMs: opts.idleTimeoutMs ?? DEFAULTS.idleTimeoutMs,
      eventsFrameBytes: opts.eventsFrameBytes ?? DEFAULTS.eventsFrameBytes,
    };
    for (const [name, v] of Object.entries(this.cfg)) {
      if (!Number.isSafeInteger(v) || v <= 0) {
        netFail(
          NetErrorCode.InvalidArgument,
          `The sync option ${name} must be a positive integer; got ${v}.`,
        );
      }
    }
  }

  async start(): Promise<void> {
    const streamOpts = {
      maxInboundStreams: this.cfg.maxInboundStreams,
      maxOutboundStreams: this.cfg.maxOutboundStreams,
    };
    if (this.opts.source) {
      const source = this.opts.source;
      await this.node.handle(
        SYNC_PROTOCOL,
        (stream, connection) => this.serveSync(source, stream, connection),
        streamOpts,
      );
    }
    if (this.opts.onPush) {
      const onPush = this.opts.onPush;
      await this.node.handle(
        PUSH_PROTOCOL,
        (stream, connection) => this.servePush(onPush, stream, connection),
        streamOpts,
      );
    }
  }

  async stop(): Promise<void> {
    if (this.opts.source) await this.node.unhandle(SYNC_PROTOCOL);
    if (this.opts.onPush) await this.node.unhandle(PUSH_PROTOCOL);
  }

  counters(): SyncCounters {
    return { ...this.stats };
  }

  /**
   * Pulls what `peer` has that `vc` does not cover. Yields the header, then the snapshot if
   * one is needed, then batches of envelopes in causal order, then the end. Throws NetError
   * BAD_FRAME if the peer breaks the protocol, BUSY or REMOTE_ERROR if it refuses, or the
   * abort reason. Breaking out of the loop early closes the stream. `onFrame` is called for
   * every frame received, snapshot chunks included (a progress watchdog resets on it).
   */
  async *pull(
    peer: PeerId | Multiaddr,
    vc: ReadonlyVectorClock,
    options: { signal?: AbortSignal; onFrame?: () => void } = {},
  ): AsyncGenerator<SyncFrame, void, undefined> {
    const signal = options.signal;
    const stream = await this.open(peer, SYNC_PROTOCOL, signal);
    const reader = new FrameReader(stream, { maxFrameBytes: this.limits.maxFrameBytes, what: SYNC_PROTOCOL });
    const next = async (): Promise<WireFrame | undefined> => {
      const bytes = await reader.next(this.readSignal(signal));
      options.onFrame?.();
      return bytes === undefined ? undefined : decodeFrame(bytes, this.limits);
    };
    let done = false;
    try {
      await writeFrame(stream, encodeRequest(vc, this.limits), signal);
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
        // Chunks arrive with backpressure (FrameReader pauses the stream) and are copied into
        // one buffer of the announced size (bounded by maxSnapshotBytes), allocated once the
        // first chunk shows the peer means it: at most one snapshot's bytes are held.
        let whole: Uint8Array | undefined;
        let received = 0;
        while (received < header.snapshotBytes) {
          const chunk = expectFrame(
            await next(),
            'snapshot-chunk',
            'a sync response before its snapshot is complete',
          );
          if (received + chunk.bytes.length > header.snapshotBytes) {
            netFail(
              NetErrorCode.BadFrame,
              `The peer sent more snapshot bytes than the ${header.snapshotBytes} it announced.`,
            );
          }
          whole ??= new Uint8Array(header.snapshotBytes);
          whole.set(chunk.bytes, received);
          received += chunk.bytes.length;
        }
        this.stats.pulledSnapshots++;
        yield { type: 'snapshot', bytes: whole ?? new Uint8Array(0) };
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
        if ((await reader.next(this.readSignal(signal))) !== undefined) {
          netFail(NetErrorCode.BadFrame, 'The peer sent frames after the end of its sync response.');
        }
        this.stats.pulled++;
        this.stats.pulledEvents += events;
        done = true;
        yield { type: 'end', events };
        return;
      }
    } catch (e) {
      this.count(e);
      throw e;
    } finally {
      reader.release();
      if (!done) stream.abort(new Error('sync pull ended before the response was complete'));
    }
  }

  /**
   * Pushes envelopes to `peer` and resolves to the number it acknowledged, once its onPush
   * has taken them all. Throws like pull. `onFrame` is called for every frame the peer took
   * (sent without waiting, or after its backpressure let up).
   */
  async push(
    peer: PeerId | Multiaddr,
    envelopes: Iterable<Uint8Array> | AsyncIterable<Uint8Array>,
    options: { signal?: AbortSignal; onFrame?: () => void } = {},
  ): Promise<number> {
    const signal = options.signal;
    const stream = await this.open(peer, PUSH_PROTOCOL, signal);
    const reader = new FrameReader(stream, { maxFrameBytes: this.limits.maxFrameBytes, what: PUSH_PROTOCOL });
    try {
      const sent = await this.writeEvents(stream, envelopes, signal, options.onFrame);
      await writeFrame(stream, encodeEnd(sent), signal);
      await stream.close(signal ? { signal } : {});
      const bytes = await reader.next(
        AbortSignal.any([...(signal ? [signal] : []), AbortSignal.timeout(this.cfg.serveTimeoutMs)]),
      );
      const ack = expectFrame(
        bytes === undefined ? undefined : decodeFrame(bytes, this.limits),
        'ack',
        'the answer to a push',
      );
      if (ack.count !== sent) {
        netFail(
          NetErrorCode.BadFrame,
          `The peer acknowledged ${ack.count} pushed envelopes, not the ${sent} sent.`,
        );
      }
      this.stats.pushesSent++;
      return sent;
    } catch (e) {
      this.count(e);
      stream.abort(e instanceof Error ? e : new Error(String(e)));
      throw e;
    } finally {
      reader.release();
    }
  }

  private async serveSync(source: SyncSource, stream: Stream, connection: Connection): Promise<void> {
    if (!(await this.admit(stream))) return;
    const signal = AbortSignal.timeout(this.cfg.serveTimeoutMs);
    const reader = new FrameReader(stream, { maxFrameBytes: this.limits.maxFrameBytes, what: SYNC_PROTOCOL });
    try {
      const bytes = await reader.next(AbortSignal.any([signal, AbortSignal.timeout(this.cfg.idleTimeoutMs)]));
      const request = expectFrame(
        bytes === undefined ? undefined : decodeFrame(bytes, this.limits),
        'request',
        'a sync request',
      );
      const requested = this.opts.readClock ? this.opts.readClock(request.vc) : request.vc;
      this.opts.onRequest?.(requested, connection.remotePeer);
      const header = await source.header();
      let since: ReadonlyVectorClock = requested;
      let snapshot: SyncSnapshot | undefined;
      if (!vcLeq(header.compacted, requested)) {
        snapshot = await source.snapshot(connection.remotePeer);
        if (!snapshot || snapshot.bytes.length === 0) {
          throw new Error('the requester needs a snapshot, but the sync source has none');
        }
        since = snapshot.vc;
      }
      await writeFrame(
        stream,
        encodeHeader(header.vc, header.compacted, snapshot?.bytes.length ?? 0, this.limits),
        signal,
      );
      if (snapshot) {
        for (let at = 0; at < snapshot.bytes.length; at += SNAPSHOT_CHUNK_BYTES) {
          const chunk = snapshot.bytes.subarray(at, at + SNAPSHOT_CHUNK_BYTES);
          await writeFrame(stream, encodeSnapshotChunk(chunk), signal);
        }
        this.stats.servedSnapshots++;
      }
      const sent = await this.writeEvents(stream, source.envelopesSince(since), signal);
      await writeFrame(stream, encodeEnd(sent), signal);
      await stream.close({ signal });
      this.stats.served++;
      this.stats.servedEvents += sent;
    } catch (e) {
      this.failServe(SYNC_PROTOCOL, stream, connection, e);
    } finally {
      reader.release();
      this.active--;
    }
  }

  private async servePush(
    onPush: NonNullable<SyncServiceOptions['onPush']>,
    stream: Stream,
    connection: Connection,
  ): Promise<void> {
    if (!(await this.admit(stream))) return;
    const signal = AbortSignal.timeout(this.cfg.serveTimeoutMs);
    const reader = new FrameReader(stream, { maxFrameBytes: this.limits.maxFrameBytes, what: PUSH_PROTOCOL });
    try {
      let received = 0;
      for (;;) {
        const bytes = await reader.next(
          AbortSignal.any([signal, AbortSignal.timeout(this.cfg.idleTimeoutMs)]),
        );
        const frame = bytes === undefined ? undefined : decodeFrame(bytes, this.limits);
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
      this.stats.pushesReceived++;
      this.stats.pushedEventsReceived += received;
    } catch (e) {
      this.failServe(PUSH_PROTOCOL, stream, connection, e);
    } finally {
      reader.release();
      this.active--;
    }
  }

  /** Takes a serving slot, or answers BUSY and closes. */
  private async admit(stream: Stream): Promise<boolean> {
    if (this.active < this.cfg.maxConcurrentServes) {
      this.active++;
      return true;
    }
    this.stats.busy++;
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

  private failServe(protocol: string, stream: Stream, connection: Connection, e: unknown): void {
    this.count(e);
    this.opts.onError?.(protocol, connection.remotePeer, e);
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

  private async writeEvents(
    stream: Stream,
    envelopes: Iterable<Uint8Array> | AsyncIterable<Uint8Array>,
    signal: AbortSignal | undefined,
    onFrame?: () => void,
  ): Promise<number> {
    let batch: Uint8Array[] = [];
    let batchBytes = 0;
    let sent = 0;
    const flush = async (): Promise<void> => {
      if (batch.length === 0) return;
      await writeFrame(stream, encodeEvents(batch), signal);
      onFrame?.();
      sent += batch.length;
      batch = [];
      batchBytes = 0;
    };
    for await (const e of envelopes) {
      if (e.length === 0 || e.length > this.limits.maxEnvelopeBytes) {
        netFail(
          NetErrorCode.InvalidArgument,
          `An envelope of ${e.length} bytes cannot be synced; the limit is ${this.limits.maxEnvelopeBytes}.`,
        );
      }
      if (
        batch.length > 0 &&
        (batchBytes + e.length > this.cfg.eventsFrameBytes ||
          batch.length >= this.limits.maxEnvelopesPerFrame)
      ) {
        await flush();
      }
      batch.push(e);
      batchBytes += e.length;
    }
    await flush();
    return sent;
  }

  private async open(
    peer: PeerId | Multiaddr,
    protocol: string,
    signal: AbortSignal | undefined,
  ): Promise<Stream> {
    try {
      return await this.node.dialProtocol(peer, protocol, signal ? { signal } : {});
    } catch (e) {
      this.stats.failed++;
      throw e;
    }
  }

  private readSignal(signal: AbortSignal | undefined): AbortSignal {
    const idle = AbortSignal.timeout(this.cfg.idleTimeoutMs);
    return signal ? AbortSignal.any([signal, idle]) : idle;
  }

  private count(e: unknown): void {
    if (isNetError(e) && e.code === NetErrorCode.BadFrame) this.stats.badFrames++;
    else this.stats.failed++;
  }
}

/** Narrows a decoded frame to the expected type; an ERROR frame becomes the peer's error. */
function expectFrame<T extends WireFrame['type']>(
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
