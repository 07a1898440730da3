/**
 * What the sync service (sync-protocol.ts) is given and what it yields: the source a responder
 * serves from, the frames a pull yields, its counters and its options.
 */
import type { PeerId } from '@libp2p/interface';
import type { ReadonlyVectorClock, VectorClock } from '../core/clock/vector-clock.js';
import type { KeyspaceRows } from '../core/codec/snapshot-codec.js';
import type { KeyspaceSink } from '../core/codec/snapshot-decoder.js';
import type { PeerSnapshotInput } from './snapshot-proof.js';
import type { SyncWireLimits } from './sync-wire.js';

export type MaybePromise<T> = T | Promise<T>;

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
  /**
   * True when the requester should get the snapshot although the log could serve it: its clock
   * holds an epoch of its own beyond a cut this source agreed, so it may refuse the events that
   * carry the reaps, and the state shows them (agent/snapshot-exchange.ts).
   */
  wantsSnapshot?(requested: ReadonlyVectorClock, requester: PeerId): boolean;
}

export type SyncFrame =
  | {
      readonly type: 'header';
      readonly vc: VectorClock;
      readonly compacted: VectorClock;
      /** True when a snapshot frame follows: install it before applying the events. */
      readonly snapshot: boolean;
    }
  | {
      readonly type: 'snapshot';
      /** Decoded as it arrived, or refused (snapshot-proof.ts opens it); never the whole bytes. */
      readonly snapshot: PeerSnapshotInput;
    }
  | { readonly type: 'events'; readonly envelopes: Uint8Array[] }
  | { readonly type: 'end'; readonly events: number };

export interface PullOptions {
  readonly signal?: AbortSignal;
  /** Called for every frame received, snapshot chunks included (a progress watchdog resets on it). */
  readonly onFrame?: () => void;
  /** Called once the stream is open (its protocol negotiated), before the request goes out. */
  readonly onOpen?: () => void;
  /**
   * Called after each snapshot chunk was decoded: the snapshot bytes received so far, and those
   * the decoder holds undecoded (an incomplete field; never the whole snapshot).
   */
  readonly onSnapshotChunk?: (progress: { receivedBytes: number; bufferedBytes: number }) => void;
  /**
   * Why we take no snapshot from this peer (agent/snapshot-source.ts), or undefined: asked at
   * the header that announces one (`claims` undefined), then once its signed heads proved its
   * clock (`claims`, before the keyspace). A reason ends the pull there: the snapshot is handed
   * on refused UNTRUSTED_SNAPSHOT_SOURCE, and the rest of it is never read.
   */
  readonly snapshotSource?: (claims: ReadonlyVectorClock | undefined) => string | undefined;
}

export interface SyncCounters {
  /** Pulls served to completion, and the envelopes they carried. */
  served: number;
  servedEvents: number;
  /**
   * Envelopes written to sync responses, frame by frame, whether the response completed or
   * the requester ended it early (a pull that ended after its header still cost these).
   */
  servedEventsWritten: number;
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
  /**
   * Makes what a pulled snapshot's keyspace is built with, row by row as it arrives (the
   * agent: its replica's state, core/keyspace.ts `KeyspaceBuilder`), so that its JSON value is
   * never whole; without it, the keyspace is decoded to its JSON value (opaque here).
   */
  readonly snapshotKeyspace?: () => KeyspaceSink<KeyspaceRows>;
}
