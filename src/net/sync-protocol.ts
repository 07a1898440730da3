/**
 * Anti-entropy over libp2p streams (DESIGN.md "Anti-entropy (sync)", "Snapshots and
 * compaction"), the reliable path: convergence must hold with gossip switched off.
 *
 * /smac/sync/1 (pull). The requester sends its vector clock. The responder answers with its
 * clock and its compacted clock (the events its log no longer holds), then, if the requester
 * has not seen everything compacted away, a snapshot, then the envelopes the requester is
 * missing in causal order, then END. Envelopes stream with backpressure on both sides: the
 * responder waits for its send buffer to drain, and the requester's FrameReader pauses the
 * stream while the consumer lags, so neither side buffers a whole log. The requester decodes
 * the snapshot chunk by chunk as it arrives, so it never holds the encoded snapshot whole.
 *
 * /smac/push/1. A returning peer hands its own unsent events to a peer before it installs
 * that peer's snapshot (which would otherwise erase them locally). The receiver acknowledges
 * once its onPush callback has taken every batch.
 *
 * Both sides validate every frame (frame sizes, shapes, order, counts). A malformed frame
 * aborts that one stream and is counted; it never throws out of a stream handler. Envelope
 * signatures are not checked here: the consumer opens each envelope (envelope.ts), as it must
 * for gossip too.
 *
 * This file holds the service (options, start/stop, counters); the requesting side is in
 * sync-requester.ts, the serving side in sync-responder.ts, the stream handling both share in
 * sync-stream-io.ts, the frame codec in sync-wire.ts and the service's types in sync-types.ts.
 */
import type { PeerId } from '@libp2p/interface';
import type { Multiaddr } from '@multiformats/multiaddr';
import type { ReadonlyVectorClock } from '../core/clock/vector-clock.js';
import { NetErrorCode, netFail } from './errors.js';
import { pullFrames, pushEnvelopes } from './sync-requester.js';
import { servePush, serveSync } from './sync-responder.js';
import type { SyncContext, SyncNode, SyncSettings } from './sync-stream-io.js';
import type { PullOptions, SyncCounters, SyncFrame, SyncServiceOptions } from './sync-types.js';
import { DEFAULT_SYNC_WIRE_LIMITS, PUSH_PROTOCOL, SYNC_PROTOCOL, type SyncWireLimits } from './sync-wire.js';

export type {
  PullOptions,
  SyncCounters,
  SyncFrame,
  SyncHeader,
  SyncServiceOptions,
  SyncSnapshot,
  SyncSource,
} from './sync-types.js';

const DEFAULTS = {
  maxConcurrentServes: 8,
  maxInboundStreams: 2,
  maxOutboundStreams: 4,
  serveTimeoutMs: 120_000,
  idleTimeoutMs: 30_000,
  eventsFrameBytes: 256 * 1024,
} satisfies SyncSettings;

export class SyncService {
  private readonly ctx: SyncContext;

  constructor(
    private readonly node: SyncNode,
    private readonly opts: SyncServiceOptions = {},
  ) {
    const wire = opts.limits ?? DEFAULT_SYNC_WIRE_LIMITS;
    const limits: SyncWireLimits =
      opts.maxSnapshotBytes === undefined ? wire : { ...wire, maxSnapshotBytes: opts.maxSnapshotBytes };
    if (!Number.isSafeInteger(limits.maxSnapshotBytes) || limits.maxSnapshotBytes <= 0) {
      netFail(
        NetErrorCode.InvalidArgument,
        `maxSnapshotBytes must be a positive integer; got ${limits.maxSnapshotBytes}.`,
      );
    }
    const cfg: SyncSettings = {
      maxConcurrentServes: opts.maxConcurrentServes ?? DEFAULTS.maxConcurrentServes,
      maxInboundStreams: opts.maxInboundStreams ?? DEFAULTS.maxInboundStreams,
      maxOutboundStreams: opts.maxOutboundStreams ?? DEFAULTS.maxOutboundStreams,
      serveTimeoutMs: opts.serveTimeoutMs ?? DEFAULTS.serveTimeoutMs,
      idleTimeoutMs: opts.idleTimeoutMs ?? DEFAULTS.idleTimeoutMs,
      eventsFrameBytes: opts.eventsFrameBytes ?? DEFAULTS.eventsFrameBytes,
    };
    for (const [name, v] of Object.entries(cfg)) {
      if (!Number.isSafeInteger(v) || v <= 0) {
        netFail(
          NetErrorCode.InvalidArgument,
          `The sync option ${name} must be a positive integer; got ${v}.`,
        );
      }
    }
    this.ctx = {
      node,
      opts,
      limits,
      cfg,
      active: 0,
      stats: {
        served: 0,
        servedEvents: 0,
        servedEventsWritten: 0,
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
      },
    };
  }

  async start(): Promise<void> {
    const ctx = this.ctx;
    const streamOpts = {
      maxInboundStreams: ctx.cfg.maxInboundStreams,
      maxOutboundStreams: ctx.cfg.maxOutboundStreams,
    };
    if (this.opts.source) {
      const source = this.opts.source;
      await this.node.handle(
        SYNC_PROTOCOL,
        (stream, connection) => serveSync(ctx, source, stream, connection),
        streamOpts,
      );
    }
    if (this.opts.onPush) {
      const onPush = this.opts.onPush;
      await this.node.handle(
        PUSH_PROTOCOL,
        (stream, connection) => servePush(ctx, onPush, stream, connection),
        streamOpts,
      );
    }
  }

  async stop(): Promise<void> {
    if (this.opts.source) await this.node.unhandle(SYNC_PROTOCOL);
    if (this.opts.onPush) await this.node.unhandle(PUSH_PROTOCOL);
  }

  counters(): SyncCounters {
    return { ...this.ctx.stats };
  }

  /**
   * Pulls what `peer` has that `vc` does not cover. Yields the header, then the snapshot if
   * one is needed (decoded as its chunks arrived, or the SmacError that stopped its decoding:
   * the stream is then given up, and resuming throws BAD_FRAME), then batches of envelopes in
   * causal order, then the end. Throws NetError
   * BAD_FRAME if the peer breaks the protocol, BUSY or REMOTE_ERROR if it refuses, or the
   * abort reason. Breaking out of the loop early closes the stream. `onFrame` is called for
   * every frame received, snapshot chunks included (a progress watchdog resets on it);
   * `onOpen` once the stream is open (its protocol negotiated), before the request goes out.
   */
  pull(
    peer: PeerId | Multiaddr,
    vc: ReadonlyVectorClock,
    options: PullOptions = {},
  ): AsyncGenerator<SyncFrame, void, undefined> {
    return pullFrames(this.ctx, peer, vc, options);
  }

  /**
   * Pushes envelopes to `peer` and resolves to the number it acknowledged, once its onPush
   * has taken them all. Throws like pull. `onFrame` is called for every frame the peer took
   * (sent without waiting, or after its backpressure let up).
   */
  push(
    peer: PeerId | Multiaddr,
    envelopes: Iterable<Uint8Array> | AsyncIterable<Uint8Array>,
    options: { signal?: AbortSignal; onFrame?: () => void } = {},
  ): Promise<number> {
    return pushEnvelopes(this.ctx, peer, envelopes, options);
  }
}
