/**
 * Gossip wire contract (DESIGN.md "Dissemination"): the versioned topics, the one size limit
 * every node applies, the event batch format, and how message ids are derived. Every node must
 * agree on all of these; changing any of them means new topic names.
 *
 * Messages carry no gossipsub signature (StrictNoSign): event envelopes are signed by their
 * origins and heartbeat frames by their publishers (heartbeat-frame.ts), so a second signature
 * per message bought nothing but CPU. Builds that signed every message used the /1 topics; the
 * /2 topics are the unsigned wire. A node tracks the old topics' subscriptions only to notice
 * peers of an older build (LEGACY_TOPICS).
 *
 * Event batch v1, the data of one message on /smac/events/2 (varint = unsigned LEB128):
 *
 *   u8 version (= 1)
 *   varint nonce          (0, unless the publisher re-sends identical envelopes; see gossip.ts)
 *   varint count          (1 .. GOSSIP_MAX_ENVELOPES_PER_BATCH)
 *   count x (varint length, envelope bytes)      (envelope v1, src/net/envelope.ts)
 */
import { createHash } from 'node:crypto';
import type { Message } from '@libp2p/gossipsub';
import { Reader, varintSize, Writer } from '../core/codec/index.js';
import { ErrorCode, fail } from '../core/errors.js';
import { maxEnvelopeBytes } from './envelope.js';

export const EVENTS_TOPIC = '/smac/events/2';
export const HEARTBEAT_TOPIC = '/smac/heartbeat/2';
/** The topics this build publishes and subscribes to. */
export const SMAC_TOPICS: readonly string[] = Object.freeze([EVENTS_TOPIC, HEARTBEAT_TOPIC]);
/**
 * The topics of builds whose gossipsub signed every message (StrictSign). Never subscribed to:
 * a peer that subscribes to one runs such a build, and its gossip and ours do not mix.
 */
export const LEGACY_TOPICS: readonly string[] = Object.freeze(['/smac/events/1', '/smac/heartbeat/1']);
/** The only topics a node tracks for its peers (gossipsub `allowedTopics`). */
export const TRACKED_TOPICS: readonly string[] = Object.freeze([...SMAC_TOPICS, ...LEGACY_TOPICS]);

/**
 * Largest gossipsub RPC a node accepts (gossipsub `maxInboundDataLength`), the same on every
 * node. A bigger RPC makes the receiver drop its whole gossipsub session with the sender while
 * TCP stays up, and later messages vanish for seconds; gossipsub's own length-prefix encoder
 * also refuses to send more than 4 MiB. So the limit is that 4 MiB, set explicitly.
 */
export const GOSSIP_MAX_RPC_BYTES = 4 * 1024 * 1024;

/**
 * Room left in an RPC around one message's data: protobuf framing, topic, from, seqno,
 * signature and key (a few hundred bytes), plus the control messages gossipsub piggybacks on
 * the same RPC (up to 5000 IHAVE ids of 32-50 bytes each).
 */
export const GOSSIP_RPC_HEADROOM_BYTES = 512 * 1024;

/** Largest message data a node publishes or accepts: 3.5 MiB. */
export const GOSSIP_MAX_MESSAGE_BYTES = GOSSIP_MAX_RPC_BYTES - GOSSIP_RPC_HEADROOM_BYTES;

/**
 * Most envelopes in one event batch. Validation checks every signature before the message is
 * delivered or forwarded, and gossipsub wants validators to answer within about 100 ms; at
 * roughly 50-130 us per Ed25519 verification, 1024 envelopes stay near that bound. Larger
 * group commits are split into several messages.
 */
export const GOSSIP_MAX_ENVELOPES_PER_BATCH = 1024;

/**
 * Largest heartbeat payload (the frame adds its signature and publisher). It carries a vector
 * clock (about 60 bytes per member) and load figures.
 */
export const HEARTBEAT_MAX_BYTES = 256 * 1024;

export const EVENT_BATCH_VERSION = 1;

export interface EventBatchLimits {
  readonly maxBatchBytes: number;
  readonly maxEnvelopes: number;
  readonly maxEnvelopeBytes: number;
}

export const DEFAULT_EVENT_BATCH_LIMITS: Readonly<EventBatchLimits> = Object.freeze({
  maxBatchBytes: GOSSIP_MAX_MESSAGE_BYTES,
  maxEnvelopes: GOSSIP_MAX_ENVELOPES_PER_BATCH,
  maxEnvelopeBytes: maxEnvelopeBytes(),
});

export interface EventBatch {
  readonly nonce: number;
  readonly envelopes: Uint8Array[];
}

/** Encoded size of a batch: lets a publisher split a group commit before encoding it. */
export function eventBatchBytes(envelopeSizes: readonly number[], nonce = 0): number {
  let n = 1 + varintSize(nonce) + varintSize(envelopeSizes.length);
  for (const size of envelopeSizes) n += varintSize(size) + size;
  return n;
}

/** Size one envelope adds to a batch. */
export function batchEntryBytes(envelopeSize: number): number {
  return varintSize(envelopeSize) + envelopeSize;
}

export function encodeEventBatch(envelopes: readonly Uint8Array[], nonce = 0): Uint8Array {
  if (envelopes.length === 0)
    fail(ErrorCode.InvalidArgument, 'An event batch must carry at least one envelope.');
  const w = new Writer(
    eventBatchBytes(
      envelopes.map((e) => e.length),
      nonce,
    ),
  );
  w.u8(EVENT_BATCH_VERSION).varint(nonce).varint(envelopes.length);
  for (const e of envelopes) w.lenBytes(e);
  return w.finish();
}

/**
 * Decodes a batch from untrusted bytes. Checks the framing and bounds only, not the envelopes
 * inside (openEnvelope does). Each envelope is copied out, so keeping one does not pin the
 * whole message in memory. Throws SmacError UNSUPPORTED_VERSION, TOO_LARGE or DECODE_ERROR.
 */
export function decodeEventBatch(
  bytes: Uint8Array,
  limits: EventBatchLimits = DEFAULT_EVENT_BATCH_LIMITS,
): EventBatch {
  if (bytes.length > limits.maxBatchBytes) {
    fail(
      ErrorCode.TooLarge,
      `The event batch is ${bytes.length} bytes; the limit is ${limits.maxBatchBytes}.`,
      {
        bytes: bytes.length,
        limit: limits.maxBatchBytes,
      },
    );
  }
  const r = new Reader(bytes);
  const version = r.u8('event batch version');
  if (version !== EVENT_BATCH_VERSION) {
    fail(
      ErrorCode.UnsupportedVersion,
      `The event batch has version ${version}; this build reads version ${EVENT_BATCH_VERSION}.`,
      { version, supported: [EVENT_BATCH_VERSION] },
    );
  }
  const nonce = r.varint('event batch nonce');
  const count = r.varint('event batch count');
  if (count === 0) fail(ErrorCode.DecodeError, 'The event batch is empty.');
  if (count > limits.maxEnvelopes) {
    fail(ErrorCode.TooLarge, `The event batch has ${count} envelopes; the limit is ${limits.maxEnvelopes}.`, {
      envelopes: count,
      limit: limits.maxEnvelopes,
    });
  }
  const envelopes: Uint8Array[] = [];
  for (let i = 0; i < count; i++) {
    // new Uint8Array(view) copies; Buffer#slice (gossipsub hands us Buffers) would not.
    envelopes.push(new Uint8Array(r.lenBytes(limits.maxEnvelopeBytes, 'batched envelope')));
  }
  r.end('event batch');
  return { nonce, envelopes };
}

/**
 * Gossipsub message ids: a hash of topic and content, for every message. So:
 * - a batch that reaches a node by several paths, or from several publishers, is handled once,
 *   and a duplicate is dropped before the validator spends a signature check on it;
 * - a forged message can never shadow a genuine one. Gossipsub marks an id as seen before the
 *   validator runs, so an id built from claimed fields (an event's origin and seq, a publisher
 *   and seqno) would let anyone who sends a bogus message first under those numbers suppress
 *   the real one for the seen-cache lifetime.
 * Two heartbeats of one member differ in their seqno (heartbeat-frame.ts), so identical beats
 * of an idle member are not mistaken for duplicates.
 */
export function gossipMessageId(msg: Message): Uint8Array {
  return createHash('sha256').update(msg.topic).update('\0').update(msg.data).digest();
}
