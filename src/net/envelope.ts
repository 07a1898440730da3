/**
 * Signed events (DESIGN.md "Authenticity"). The origin signs every event it makes with its
 * libp2p Ed25519 key; the envelope (event bytes + signature) is stored and forwarded verbatim,
 * so any peer can check an event it got from a third party, by gossip or by sync. The key
 * needs no distribution: an Ed25519 peer id embeds its public key, and the event names its
 * origin's peer id.
 *
 * Envelope v1 (varint = unsigned LEB128, as in src/core/codec/binary.ts):
 *
 *   u8 version (= 1)
 *   varint length, event bytes      (the event codec's encoding, src/core/codec/event-codec.ts)
 *   varint length, signature        (64 bytes: Ed25519 over "smac-event-v1" || event bytes)
 *
 * Envelope v2, chained (issue 8, "Receiving is not the bottleneck"), for events of wire
 * version CHAINED_ENVELOPE_WIRE_VERSION and later (an agent emits those only once every member
 * reads them: src/core/wire-version.ts):
 *
 *   u8 version (= 2)
 *   varint length, event bytes
 *   32 bytes prev                   (SHA-256 of the whole envelope of the origin's event seq - 1,
 *                                    or 32 zero bytes: no link)
 *   varint length, signature        (64 bytes: Ed25519 over "smac-event-v2" || prev || event bytes)
 *
 * Every v2 envelope is still signed on its own, so any single event stays verifiable by
 * anyone (openEnvelope). But a signed event also vouches for its predecessor's exact bytes,
 * and so, link by link, for a whole run of its origin's events: a receiver of many events at
 * once checks one signature per run and a hash per event (envelope-batch.ts).
 *
 * The domain prefix keeps a signature over an event from being valid for anything else the
 * same key signs (libp2p signs its own records, gossipsub messages and noise handshakes with
 * it), and the version in the prefix retires old signatures with the format.
 *
 * Signing and verifying use node:crypto on cached key objects: libp2p's generic path rebuilds
 * a key object from JWK on every call, which costs more than the signature itself.
 */
import { isWellFormedOrigin, peerOfOrigin } from '../core/origin.js';
import { createHash, type KeyObject } from 'node:crypto';
import type { PrivateKey } from '@libp2p/interface';
import {
  decodeEvent,
  DEFAULT_EVENT_CODEC_LIMITS,
  type EventCodecLimits,
  Reader,
  utf8Decode,
  utf8Encode,
  Writer,
} from '../core/codec/index.js';
import { ErrorCode, fail } from '../core/errors.js';
import type { Event } from '../core/event.js';
import { NetErrorCode, netFail } from './errors.js';
import {
  ED25519_SIGNATURE_BYTES,
  prefixed,
  signingKey,
  signWithDomain,
  verifyingKey,
  verifyWithDomain,
} from './signing.js';

export { ED25519_SIGNATURE_BYTES } from './signing.js';
export const ENVELOPE_VERSION = 1;
export const ENVELOPE_SIGNING_DOMAIN = 'smac-event-v1';
/** The chained envelope (v2), its signing domain, and the event wire version that selects it. */
export const CHAINED_ENVELOPE_VERSION = 2;
export const CHAINED_ENVELOPE_SIGNING_DOMAIN = 'smac-event-v2';
export const CHAINED_ENVELOPE_WIRE_VERSION = 5;
/** Bytes of an envelope's link to its predecessor (SHA-256). */
export const ENVELOPE_LINK_BYTES = 32;
/** The link of an envelope that names no predecessor. */
export const NO_LINK: Uint8Array = new Uint8Array(ENVELOPE_LINK_BYTES);

const DOMAIN_BYTES = utf8Encode(ENVELOPE_SIGNING_DOMAIN);
const CHAINED_DOMAIN_BYTES = utf8Encode(CHAINED_ENVELOPE_SIGNING_DOMAIN);

/**
 * Bytes an envelope adds around its event at most: version (1), event length varint (at most
 * 4 while events stay under 256 MiB), the link (32, v2), signature length (1) and signature (64).
 */
export const ENVELOPE_OVERHEAD_BYTES = 1 + 4 + ENVELOPE_LINK_BYTES + 1 + ED25519_SIGNATURE_BYTES;

/** The hash a successor's link names: SHA-256 of the whole envelope. */
export function envelopeLink(envelope: Uint8Array): Uint8Array {
  return createHash('sha256').update(envelope).digest();
}

/** Largest envelope an event within `limits` can make. */
export function maxEnvelopeBytes(limits: EventCodecLimits = DEFAULT_EVENT_CODEC_LIMITS): number {
  return limits.maxEventBytes + ENVELOPE_OVERHEAD_BYTES;
}

export interface OpenedEnvelope {
  readonly event: Event;
  /** The signed event bytes, exactly as the origin encoded them. */
  readonly eventBytes: Uint8Array;
  /** The whole envelope, to store and forward verbatim. */
  readonly envelope: Uint8Array;
  /** A v2 envelope's link: envelopeLink of the origin's event seq - 1 (absent: v1 or NO_LINK). */
  readonly prev?: Uint8Array;
}

/**
 * Signs encoded event bytes into an envelope. The event's origin must be the peer id of
 * `privateKey` (SmacError INVALID_ARGUMENT otherwise): an envelope signed by anyone else is
 * one every peer would reject. An event of wire version CHAINED_ENVELOPE_WIRE_VERSION or later
 * gets a chained (v2) envelope linking to `prev`, the envelopeLink of the origin's event
 * seq - 1 (NO_LINK when the caller does not have it); older events get v1, which every
 * release reads.
 */
export function sealEvent(
  privateKey: PrivateKey,
  eventBytes: Uint8Array,
  prev: Uint8Array = NO_LINK,
): Uint8Array {
  const key = signingKey(privateKey);
  const origin = key.peerId;
  const claimed = readOrigin(eventBytes);
  // An origin is (peer id, store epoch): the peer id part is the key's (src/core/origin.ts).
  if (peerOfOrigin(claimed) !== origin || !isWellFormedOrigin(claimed)) {
    fail(
      ErrorCode.InvalidArgument,
      `The event's origin is ${claimed}, but this key belongs to ${origin}; an agent signs only its own events.`,
    );
  }
  if ((eventBytes[0] ?? 0) >= CHAINED_ENVELOPE_WIRE_VERSION) {
    if (prev.length !== ENVELOPE_LINK_BYTES)
      fail(
        ErrorCode.InvalidArgument,
        `An envelope link is ${ENVELOPE_LINK_BYTES} bytes, not ${prev.length}.`,
      );
    const signature = signWithDomain(key, CHAINED_DOMAIN_BYTES, prefixed(prev, eventBytes));
    return new Writer(eventBytes.length + ENVELOPE_OVERHEAD_BYTES)
      .u8(CHAINED_ENVELOPE_VERSION)
      .lenBytes(eventBytes)
      .bytes(prev)
      .lenBytes(signature)
      .finish();
  }
  const signature = signWithDomain(key, DOMAIN_BYTES, eventBytes);
  return new Writer(eventBytes.length + ENVELOPE_OVERHEAD_BYTES)
    .u8(ENVELOPE_VERSION)
    .lenBytes(eventBytes)
    .lenBytes(signature)
    .finish();
}

/** The origin field of encoded event bytes, without decoding the rest. */
function readOrigin(eventBytes: Uint8Array): string {
  const r = new Reader(eventBytes);
  r.u8('event version');
  return utf8Decode(
    r.lenBytes(DEFAULT_EVENT_CODEC_LIMITS.maxOriginBytes, "event's origin"),
    "event's origin",
  );
}

/**
 * Decodes an envelope from untrusted bytes and verifies its signature. Throws SmacError with
 * the codec's codes (UNSUPPORTED_VERSION, DECODE_ERROR, TOO_LARGE, INVALID_EVENT) for
 * malformed bytes, NetError BAD_ORIGIN when the origin is not a canonical Ed25519 peer id,
 * and NetError BAD_SIGNATURE when the signature does not verify.
 */
export function openEnvelope(
  bytes: Uint8Array,
  limits: EventCodecLimits = DEFAULT_EVENT_CODEC_LIMITS,
): OpenedEnvelope {
  const p = prepareEnvelope(bytes, limits);
  if (!verifyWithDomain(p.key, p.domain, p.signed, p.signature)) badSignature(p.opened.event);
  return p.opened;
}

/** An envelope decoded and checked up to its signature (envelope-batch.ts verifies that). */
export interface PreparedEnvelope {
  readonly opened: OpenedEnvelope;
  readonly key: KeyObject;
  readonly domain: Uint8Array;
  /** What the signature covers after the domain. */
  readonly signed: Uint8Array;
  readonly signature: Uint8Array;
}

/** Everything openEnvelope checks before the signature itself. */
export function prepareEnvelope(bytes: Uint8Array, limits: EventCodecLimits): PreparedEnvelope {
  const { eventBytes, prev, signature } = readFraming(bytes, limits);
  const event = decodeEvent(eventBytes, limits);
  if (signature.length !== ED25519_SIGNATURE_BYTES) {
    netFail(
      NetErrorCode.BadSignature,
      `The signature of event ${event.origin}:${event.seq} is ${signature.length} bytes; Ed25519 signatures are ${ED25519_SIGNATURE_BYTES}.`,
    );
  }
  const linked = prev?.some((b) => b !== 0) === true;
  return {
    opened: { event, eventBytes, envelope: bytes, ...(linked ? { prev } : {}) },
    key: originKey(event.origin),
    domain: prev === undefined ? DOMAIN_BYTES : CHAINED_DOMAIN_BYTES,
    signed: prev === undefined ? eventBytes : prefixed(prev, eventBytes),
    signature,
  };
}

/** NetError BAD_SIGNATURE for `event`. */
export function badSignature(event: Event): never {
  netFail(
    NetErrorCode.BadSignature,
    `The signature of event ${event.origin}:${event.seq} does not verify against its origin's key.`,
    { details: { origin: event.origin, seq: event.seq } },
  );
}

/**
 * Decodes an envelope WITHOUT verifying its signature: only for bytes this agent verified when
 * it received them and then stored itself (recovery replay reads back its own log). Anything
 * from a peer goes through openEnvelope.
 */
export function readTrustedEnvelope(
  bytes: Uint8Array,
  limits: EventCodecLimits = DEFAULT_EVENT_CODEC_LIMITS,
): OpenedEnvelope {
  const { eventBytes } = readFraming(bytes, limits);
  return { event: decodeEvent(eventBytes, limits), eventBytes, envelope: bytes };
}

/**
 * The origin and seq an envelope claims, read without decoding the rest of the event nor
 * checking its signature: enough to drop a copy of an event we hold before paying for either.
 * Throws what openEnvelope throws for a malformed frame or header.
 */
export function peekEnvelope(
  bytes: Uint8Array,
  limits: EventCodecLimits = DEFAULT_EVENT_CODEC_LIMITS,
): { readonly origin: string; readonly seq: number } {
  const r = new Reader(readFraming(bytes, limits).eventBytes);
  r.u8('event version');
  const origin = r.str(limits.maxOriginBytes, "event's origin");
  return { origin, seq: r.varint("event's seq") };
}

/**
 * The envelope's framing: version, the signed event bytes, the link (v2 only) and the
 * signature (not yet checked).
 */
function readFraming(
  bytes: Uint8Array,
  limits: EventCodecLimits,
): { eventBytes: Uint8Array; prev?: Uint8Array; signature: Uint8Array } {
  const r = new Reader(bytes);
  const version = r.u8('envelope version');
  if (version !== ENVELOPE_VERSION && version !== CHAINED_ENVELOPE_VERSION) {
    fail(
      ErrorCode.UnsupportedVersion,
      `The envelope has version ${version}; this build reads versions ${ENVELOPE_VERSION} and ${CHAINED_ENVELOPE_VERSION}.`,
      { version, supported: [ENVELOPE_VERSION, CHAINED_ENVELOPE_VERSION] },
    );
  }
  const eventBytes = r.lenBytes(limits.maxEventBytes, 'enveloped event');
  const prev =
    version === CHAINED_ENVELOPE_VERSION ? r.bytes(ENVELOPE_LINK_BYTES, "envelope's link") : undefined;
  // Read a wrong-sized signature in full, so it is reported as BAD_SIGNATURE, not as framing.
  const signature = r.lenBytes(255, "envelope's signature");
  r.end('envelope');
  return { eventBytes, ...(prev ? { prev } : {}), signature };
}

/** The key that must have signed an origin's events: its peer id's (NetError BAD_ORIGIN if none). */
function originKey(origin: string): KeyObject {
  if (!isWellFormedOrigin(origin)) {
    netFail(
      NetErrorCode.BadOrigin,
      `The event origin ${JSON.stringify(origin.slice(0, 80))} is not a canonical Ed25519 libp2p peer id (with an optional ~epoch), so its signature cannot be checked.`,
      { details: { origin } },
    );
  }
  return verifyingKey(peerOfOrigin(origin), 'event origin');
}
