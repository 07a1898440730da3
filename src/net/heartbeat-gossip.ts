/**
 * Heartbeats over gossip (membership "Heartbeats are ephemeral gossip"): opaque, bounded
 * payloads, never CRDT ops, on /smac/heartbeat/2, each in a frame its publisher signs
 * (heartbeat-frame.ts). The validator checks the signature before gossipsub delivers or
 * forwards a beat, and drops a beat whose seqno is not above the newest one accepted from its
 * publisher within the last minute (a replay). The publisher handed to onHeartbeat is the one the frame proves, not
 * the peer that relayed it.
 *
 * Beats also travel on direct streams (src/agent/heartbeat-direct.ts), which seal their frames
 * here (`seal`) and share the replay check (`fresh`), so a beat that arrives both ways is
 * delivered once.
 *
 * It also watches for peers of builds that signed every gossip message (the /1 topics,
 * gossip-wire.ts LEGACY_TOPICS): their gossip and ours never meet, so such a peer is reported
 * once through onLegacyPeer; sync still carries events between us.
 */
import {
  type GossipSub,
  type Message,
  type SubscriptionChangeData,
  TopicValidatorResult,
} from '@libp2p/gossipsub';
import type { PeerId, PrivateKey } from '@libp2p/interface';
import { peerIdFromString } from '@libp2p/peer-id';
import { ErrorCode, fail, isSmacError } from '../core/errors.js';
import { HEARTBEAT_MAX_BYTES, HEARTBEAT_TOPIC, LEGACY_TOPICS } from './gossip-wire.js';
import {
  type HeartbeatFrame,
  HEARTBEAT_FRAME_OVERHEAD_BYTES,
  openHeartbeat,
  sealHeartbeat,
} from './heartbeat-frame.js';
import { signingKey } from './signing.js';

export interface HeartbeatGossipCounters {
  published: number;
  received: number;
  rejectedOversized: number;
  /** Frames that were malformed, unsigned or signed by someone other than their publisher. */
  rejectedInvalid: number;
  /** Beats not newer than the newest accepted from their publisher. */
  replayed: number;
  /** Distinct peers seen subscribing to the topics of an older build. */
  legacyPeers: number;
  callbackErrors: number;
}

export interface HeartbeatGossipOptions {
  readonly pubsub: GossipSub;
  /** The node's own key: it signs every heartbeat this node publishes. */
  readonly privateKey: PrivateKey;
  /** A verified heartbeat's payload and its publisher. */
  readonly onHeartbeat: (bytes: Uint8Array, from: PeerId) => void;
  readonly onCallbackError?: (error: unknown) => void;
  /** A peer runs a build whose gossip does not mix with ours (reported once per peer). */
  readonly onLegacyPeer?: (peer: PeerId) => void;
  /** Largest heartbeat payload sent or accepted (default HEARTBEAT_MAX_BYTES). Equal on every node. */
  readonly maxBytes?: number;
  /** Clock (ms) for seqnos and for forgetting publishers (default Date.now). */
  readonly now?: () => number;
  /**
   * A publisher whose newest beat is older than this (default 60 s) is forgotten, so its next
   * beat is accepted whatever its seqno: a member restarted with a clock set back is heard
   * again after at most this long instead of never.
   */
  readonly forgetAfterMs?: number;
}

/** Publishers whose newest seqno is remembered; the oldest entry goes first beyond this. */
const NEWEST_SEQNO_ENTRIES = 4096;
const DEFAULT_FORGET_AFTER_MS = 60_000;

export class HeartbeatGossip {
  private readonly maxBytes: number;
  private readonly self: string;
  private seqno = 0;
  private readonly now: () => number;
  private readonly forgetAfterMs: number;
  /** Per publisher: the newest seqno accepted, and when. */
  private readonly newest = new Map<string, { seqno: number; at: number }>();
  private readonly verified = new WeakMap<Message, HeartbeatFrame>();
  private readonly legacy = new Set<string>();
  private readonly stats: HeartbeatGossipCounters = {
    published: 0,
    received: 0,
    rejectedOversized: 0,
    rejectedInvalid: 0,
    replayed: 0,
    legacyPeers: 0,
    callbackErrors: 0,
  };
  private started = false;

  constructor(private readonly opts: HeartbeatGossipOptions) {
    this.maxBytes = opts.maxBytes ?? HEARTBEAT_MAX_BYTES;
    this.self = signingKey(opts.privateKey).peerId;
    this.now = opts.now ?? Date.now;
    this.forgetAfterMs = opts.forgetAfterMs ?? DEFAULT_FORGET_AFTER_MS;
  }

  start(): void {
    if (this.started) return;
    this.started = true;
    this.opts.pubsub.topicValidators.set(HEARTBEAT_TOPIC, this.validate);
    this.opts.pubsub.addEventListener('message', this.onMessage);
    this.opts.pubsub.addEventListener('subscription-change', this.onSubscriptions);
    this.opts.pubsub.subscribe(HEARTBEAT_TOPIC);
    for (const topic of LEGACY_TOPICS)
      for (const peer of this.opts.pubsub.getSubscribers(topic)) this.sawLegacy(peer);
  }

  stop(): void {
    if (!this.started) return;
    this.started = false;
    this.opts.pubsub.unsubscribe(HEARTBEAT_TOPIC);
    this.opts.pubsub.removeEventListener('message', this.onMessage);
    this.opts.pubsub.removeEventListener('subscription-change', this.onSubscriptions);
    this.opts.pubsub.topicValidators.delete(HEARTBEAT_TOPIC);
  }

  counters(): HeartbeatGossipCounters {
    return { ...this.stats };
  }

  subscribers(): PeerId[] {
    return this.opts.pubsub.getSubscribers(HEARTBEAT_TOPIC);
  }

  /** Signs and publishes one heartbeat; resolves to the number of peers it was queued for. */
  async publish(bytes: Uint8Array): Promise<number> {
    return this.publishFrame(this.seal(bytes).frame);
  }

  /** Publishes a frame made by `seal`; resolves to the number of peers it was queued for. */
  async publishFrame(frame: Uint8Array): Promise<number> {
    const result = await this.opts.pubsub.publish(HEARTBEAT_TOPIC, frame);
    this.stats.published++;
    return result.recipients.length;
  }

  /** Signs one heartbeat payload in a frame with the next seqno (throws TOO_LARGE past the bound). */
  seal(bytes: Uint8Array): { frame: Uint8Array; seqno: number } {
    if (bytes.length === 0 || bytes.length > this.maxBytes) {
      fail(
        ErrorCode.TooLarge,
        `A heartbeat must be 1 to ${this.maxBytes} bytes; this one is ${bytes.length}.`,
        { bytes: bytes.length, limit: this.maxBytes },
      );
    }
    // The wall clock in µs, and never below the previous beat's: a restarted node starts above
    // its last beat unless its clock was set back (then forgetAfterMs bounds the silence).
    this.seqno = Math.max(this.seqno + 1, Math.floor(this.now() * 1000));
    return { frame: sealHeartbeat(this.opts.privateKey, this.seqno, bytes), seqno: this.seqno };
  }

  /**
   * True for a verified frame newer than every beat accepted from its publisher (within
   * `forgetAfterMs`), which it then becomes; false for a replay or a reordered beat (counted).
   */
  fresh(frame: HeartbeatFrame): boolean {
    const now = this.now();
    const newest = this.newest.get(frame.publisher);
    if (newest !== undefined && frame.seqno <= newest.seqno && now - newest.at < this.forgetAfterMs) {
      this.stats.replayed++;
      return false;
    }
    this.newest.delete(frame.publisher);
    this.newest.set(frame.publisher, { seqno: frame.seqno, at: now });
    if (this.newest.size > NEWEST_SEQNO_ENTRIES) {
      const oldest = this.newest.keys().next();
      if (oldest.done !== true) this.newest.delete(oldest.value);
    }
    return true;
  }

  private readonly validate = (_from: PeerId, msg: Message): TopicValidatorResult => {
    if (msg.data.length > this.maxBytes + HEARTBEAT_FRAME_OVERHEAD_BYTES) {
      this.stats.rejectedOversized++;
      return TopicValidatorResult.Reject;
    }
    let frame: HeartbeatFrame;
    try {
      frame = openHeartbeat(msg.data, this.maxBytes);
    } catch (e) {
      if (isSmacError(e) && e.code === ErrorCode.TooLarge) this.stats.rejectedOversized++;
      else this.stats.rejectedInvalid++;
      return TopicValidatorResult.Reject;
    }
    if (frame.payload.length === 0) {
      this.stats.rejectedInvalid++;
      return TopicValidatorResult.Reject;
    }
    if (frame.publisher === this.self) return TopicValidatorResult.Ignore;
    // A replay, or beats reordered on the way (or already delivered on a direct stream): not
    // forwarded, not delivered, not penalized.
    if (!this.fresh(frame)) return TopicValidatorResult.Ignore;
    this.verified.set(msg, frame);
    return TopicValidatorResult.Accept;
  };

  private readonly onMessage = (evt: CustomEvent<Message>): void => {
    const msg = evt.detail;
    if (msg.topic !== HEARTBEAT_TOPIC) return;
    const frame = this.verified.get(msg);
    if (frame === undefined) return;
    this.verified.delete(msg);
    this.stats.received++;
    try {
      this.opts.onHeartbeat(frame.payload, peerIdFromString(frame.publisher));
    } catch (e) {
      this.stats.callbackErrors++;
      this.opts.onCallbackError?.(e);
    }
  };

  private readonly onSubscriptions = (evt: CustomEvent<SubscriptionChangeData>): void => {
    const { peerId, subscriptions } = evt.detail;
    if (subscriptions.some((s) => s.subscribe && LEGACY_TOPICS.includes(s.topic))) this.sawLegacy(peerId);
  };

  private sawLegacy(peer: PeerId): void {
    const id = peer.toString();
    if (this.legacy.has(id)) return;
    if (this.legacy.size >= NEWEST_SEQNO_ENTRIES) this.legacy.clear();
    this.legacy.add(id);
    this.stats.legacyPeers++;
    try {
      this.opts.onLegacyPeer?.(peer);
    } catch (e) {
      this.stats.callbackErrors++;
      this.opts.onCallbackError?.(e);
    }
  }
}
