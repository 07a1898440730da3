/**
 * Gossip transport (DESIGN.md "Dissemination"; membership "Heartbeats are ephemeral gossip").
 *
 * EventGossip carries signed events on /smac/events/2, one message per group commit. Its
 * topic validator runs before gossipsub delivers or forwards anything: a batch that is
 * malformed, oversized, or holds a single envelope that fails openEnvelope is rejected whole
 * (gossipsub then lowers the score of the peer that sent it) and counted, and nothing in it
 * reaches the agent. Gossip is only the fast path: it loses messages at start-up and across
 * disconnects, and sync (sync-protocol.ts) repairs whatever it drops.
 *
 * Message ids are content hashes (gossip-wire.ts). Gossipsub refuses to publish an id it has
 * seen, so re-publishing the same envelopes (say, after an earlier publish reached nobody)
 * would throw PublishError.Duplicate and send nothing; publish() then re-frames the batch with
 * a fresh nonce, which changes the id but not the envelopes, and sends that.
 *
 * Messages carry no gossipsub signature (gossip-wire.ts): each envelope is signed by its
 * origin, so the validator's check (openEnvelopes, off the event loop) is the one signature
 * check per event. The `from`
 * handed to onEvents is the peer that delivered the batch, not necessarily its author.
 *
 * HeartbeatGossip (heartbeat-gossip.ts) carries signed heartbeat frames on /smac/heartbeat/2.
 */
import { randomInt } from 'node:crypto';
import { type GossipSub, type Message, TopicValidatorResult } from '@libp2p/gossipsub';
import type { PeerId } from '@libp2p/interface';
import { DEFAULT_EVENT_CODEC_LIMITS, type EventCodecLimits } from '../core/codec/index.js';
import { ErrorCode, isSmacError } from '../core/errors.js';
import type { Event } from '../core/event.js';
import { EnvelopeOpener, type OpenStats } from './envelope-batch.js';
import { isNetError, NetErrorCode } from './errors.js';
import {
  batchEntryBytes,
  decodeEventBatch,
  DEFAULT_EVENT_BATCH_LIMITS,
  encodeEventBatch,
  EVENTS_TOPIC,
  type EventBatchLimits,
  eventBatchBytes,
} from './gossip-wire.js';

export interface VerifiedEvent {
  readonly event: Event;
  readonly envelope: Uint8Array;
}

/** Why a batch was refused. `unsupported` batches are ignored, not rejected (see classify). */
export type BatchRejectReason =
  'malformed' | 'oversized' | 'invalidEvent' | 'badSignature' | 'badOrigin' | 'unsupported';

export interface EventGossipCounters {
  publishedMessages: number;
  publishedEnvelopes: number;
  publishedBytes: number;
  /** Publishes that hit PublishError.Duplicate and went out again under a fresh nonce. */
  republished: number;
  /** Envelopes too large for any gossip message; only sync can carry them. */
  skippedOversized: number;
  acceptedMessages: number;
  deliveredEvents: number;
  rejected: Record<BatchRejectReason, number>;
  /** onEvents threw; the events were verified but the callback lost them. */
  callbackErrors: number;
  /** Signatures the validator checked, and envelopes it accepted through a chain link instead. */
  opened: OpenStats;
}

export interface PublishReport {
  /** Gossip messages sent (more than one only when the batch exceeded a message's bounds). */
  readonly messages: number;
  readonly envelopes: number;
  /** Distinct peers at least one message was queued for; 0 means gossip reached nobody. */
  readonly recipients: number;
  /** Envelopes left out because no gossip message can hold them. */
  readonly skipped: number;
}

export interface EventGossipOptions {
  readonly pubsub: GossipSub;
  /** Verified events of one accepted batch, in batch order, and the peer that delivered it. */
  readonly onEvents: (items: VerifiedEvent[], from: PeerId) => void;
  /** Called for every refused batch, for logs. */
  readonly onReject?: (reason: BatchRejectReason, from: PeerId, error: unknown) => void;
  readonly onCallbackError?: (error: unknown) => void;
  readonly batchLimits?: EventBatchLimits;
  readonly eventLimits?: EventCodecLimits;
}

export class EventGossip {
  private readonly verified = new WeakMap<Message, { items: VerifiedEvent[]; from: PeerId }>();
  private readonly batchLimits: EventBatchLimits;
  private readonly eventLimits: EventCodecLimits;
  private readonly stats: EventGossipCounters = {
    publishedMessages: 0,
    publishedEnvelopes: 0,
    publishedBytes: 0,
    republished: 0,
    skippedOversized: 0,
    acceptedMessages: 0,
    deliveredEvents: 0,
    rejected: { malformed: 0, oversized: 0, invalidEvent: 0, badSignature: 0, badOrigin: 0, unsupported: 0 },
    callbackErrors: 0,
    opened: { verified: 0, covered: 0 },
  };
  private started = false;
  /** Opens the batches that arrive in one turn of the event loop together (envelope-batch.ts). */
  private readonly opener: EnvelopeOpener;

  constructor(private readonly opts: EventGossipOptions) {
    this.batchLimits = opts.batchLimits ?? DEFAULT_EVENT_BATCH_LIMITS;
    this.eventLimits = opts.eventLimits ?? DEFAULT_EVENT_CODEC_LIMITS;
    this.opener = new EnvelopeOpener(this.eventLimits, this.stats.opened);
  }

  start(): void {
    if (this.started) return;
    this.started = true;
    this.opts.pubsub.topicValidators.set(EVENTS_TOPIC, this.validate);
    this.opts.pubsub.addEventListener('message', this.onMessage);
    this.opts.pubsub.subscribe(EVENTS_TOPIC);
  }

  stop(): void {
    if (!this.started) return;
    this.started = false;
    this.opts.pubsub.unsubscribe(EVENTS_TOPIC);
    this.opts.pubsub.removeEventListener('message', this.onMessage);
    this.opts.pubsub.topicValidators.delete(EVENTS_TOPIC);
  }

  /** A copy of the counters. */
  counters(): EventGossipCounters {
    return { ...this.stats, rejected: { ...this.stats.rejected }, opened: { ...this.stats.opened } };
  }

  /** Peers known to subscribe to the events topic: publishing reaches only these. */
  subscribers(): PeerId[] {
    return this.opts.pubsub.getSubscribers(EVENTS_TOPIC);
  }

  /**
   * Publishes envelopes (one group commit) as one gossip message, split only when they exceed
   * a message's byte or count bound. Resolves once queued, which is all gossipsub promises.
   */
  async publish(envelopes: readonly Uint8Array[]): Promise<PublishReport> {
    const { groups, skipped } = this.split(envelopes);
    this.stats.skippedOversized += skipped;
    const recipients = new Set<string>();
    let sent = 0;
    for (const group of groups) {
      let data = encodeEventBatch(group);
      let result;
      try {
        result = await this.opts.pubsub.publish(EVENTS_TOPIC, data);
      } catch (e) {
        if (!(e instanceof Error && e.message === 'PublishError.Duplicate')) throw e;
        data = encodeEventBatch(group, randomInt(1, 2 ** 31));
        result = await this.opts.pubsub.publish(EVENTS_TOPIC, data);
        this.stats.republished++;
      }
      for (const peer of result.recipients) recipients.add(peer.toString());
      this.stats.publishedMessages++;
      this.stats.publishedEnvelopes += group.length;
      this.stats.publishedBytes += data.length;
      sent += group.length;
    }
    return { messages: groups.length, envelopes: sent, recipients: recipients.size, skipped };
  }

  private split(envelopes: readonly Uint8Array[]): { groups: Uint8Array[][]; skipped: number } {
    const { maxBatchBytes, maxEnvelopes, maxEnvelopeBytes } = this.batchLimits;
    // The nonce of a re-framed batch takes up to 5 bytes; reserve them up front.
    const budget = maxBatchBytes - 5;
    const groups: Uint8Array[][] = [];
    let skipped = 0;
    let current: Uint8Array[] = [];
    let size = eventBatchBytes([]);
    for (const e of envelopes) {
      const entry = batchEntryBytes(e.length);
      if (e.length > maxEnvelopeBytes || eventBatchBytes([e.length]) > budget) {
        skipped++;
        continue;
      }
      // The count varint grows by a byte at 128 entries; +2 keeps the estimate an upper bound.
      if (current.length > 0 && (current.length >= maxEnvelopes || size + entry + 2 > budget)) {
        groups.push(current);
        current = [];
        size = eventBatchBytes([]);
      }
      current.push(e);
      size += entry;
    }
    if (current.length > 0) groups.push(current);
    return { groups, skipped };
  }

  private readonly validate = async (from: PeerId, msg: Message): Promise<TopicValidatorResult> => {
    try {
      const batch = decodeEventBatch(msg.data, this.batchLimits);
      // Signatures are checked off the event loop, in parallel, one per run of an origin's
      // events across the batches that arrived together (EnvelopeOpener).
      const outcomes = await this.opener.open(batch.envelopes);
      const items: VerifiedEvent[] = [];
      for (const o of outcomes) {
        if (!o.ok) throw o.error;
        items.push({ event: o.opened.event, envelope: o.opened.envelope });
      }
      this.verified.set(msg, { items, from });
      return TopicValidatorResult.Accept;
    } catch (e) {
      const reason = classify(e);
      this.stats.rejected[reason]++;
      this.opts.onReject?.(reason, from, e);
      // A batch from a newer build is not an attack: drop it without penalizing the sender.
      return reason === 'unsupported' ? TopicValidatorResult.Ignore : TopicValidatorResult.Reject;
    }
  };

  private readonly onMessage = (evt: CustomEvent<Message>): void => {
    const msg = evt.detail;
    if (msg.topic !== EVENTS_TOPIC) return;
    const accepted = this.verified.get(msg);
    // Only messages our validator accepted reach this point; anything else is not delivered.
    if (accepted === undefined) return;
    this.verified.delete(msg);
    const { items, from } = accepted;
    this.stats.acceptedMessages++;
    this.stats.deliveredEvents += items.length;
    try {
      this.opts.onEvents(items, from);
    } catch (e) {
      // A throwing EventTarget listener becomes an uncaught exception; never let it.
      this.stats.callbackErrors++;
      this.opts.onCallbackError?.(e);
    }
  };
}

function classify(e: unknown): BatchRejectReason {
  if (isNetError(e)) return e.code === NetErrorCode.BadOrigin ? 'badOrigin' : 'badSignature';
  if (isSmacError(e)) {
    switch (e.code) {
      case ErrorCode.TooLarge:
        return 'oversized';
      case ErrorCode.UnsupportedVersion:
        return 'unsupported';
      case ErrorCode.InvalidEvent:
        return 'invalidEvent';
      default:
        return 'malformed';
    }
  }
  return 'malformed';
}

export {
  HeartbeatGossip,
  type HeartbeatGossipCounters,
  type HeartbeatGossipOptions,
} from './heartbeat-gossip.js';
