/**
 * Signed heartbeat frames (docs/networking.md "Heartbeat frame v1"). Gossip messages carry no
 * gossipsub signature (StrictNoSign, gossip.ts): events are signed in their envelopes, and
 * heartbeats, which are not events, are signed here, once, by their publisher. The frame names
 * its publisher, so a receiver knows who a heartbeat is from whichever peer relayed it; the
 * sequence number lets it drop a replayed beat (HeartbeatGossip keeps the newest per publisher).
 *
 *   u8 version (= 1)
 *   varint length, publisher peer id   (UTF-8, canonical Ed25519 peer id)
 *   varint seqno                       (the wall clock in µs, above the publisher's previous beat)
 *   varint length, payload             (opaque bytes: membership's heartbeat encoding)
 *   varint length, signature           (64 bytes: Ed25519 over "smac-heartbeat-v1" || all above)
 */
import type { PrivateKey } from '@libp2p/interface';
import { Reader, utf8Decode, utf8Encode, Writer } from '../core/codec/index.js';
import { ErrorCode, fail } from '../core/errors.js';
import { NetErrorCode, netFail } from './errors.js';
import { signingKey, signWithDomain, verifyingKey, verifyWithDomain } from './signing.js';

export const HEARTBEAT_FRAME_VERSION = 1;
export const HEARTBEAT_SIGNING_DOMAIN = 'smac-heartbeat-v1';
const DOMAIN_BYTES = utf8Encode(HEARTBEAT_SIGNING_DOMAIN);
/** Longest peer id string accepted (an Ed25519 peer id is 52 characters). */
const MAX_PEER_ID_BYTES = 128;
/** Bytes a frame adds around its payload at most. */
export const HEARTBEAT_FRAME_OVERHEAD_BYTES = 1 + 2 + MAX_PEER_ID_BYTES + 8 + 4 + 1 + 64;

export interface HeartbeatFrame {
  readonly publisher: string;
  readonly seqno: number;
  readonly payload: Uint8Array;
}

/** Builds and signs a frame with the publisher's own key. */
export function sealHeartbeat(privateKey: PrivateKey, seqno: number, payload: Uint8Array): Uint8Array {
  const key = signingKey(privateKey);
  const w = new Writer(payload.length + HEARTBEAT_FRAME_OVERHEAD_BYTES)
    .u8(HEARTBEAT_FRAME_VERSION)
    .str(key.peerId, 'publisher')
    .varint(seqno)
    .lenBytes(payload);
  const signed = w.finish();
  return new Writer(signed.length + 66)
    .bytes(signed)
    .lenBytes(signWithDomain(key, DOMAIN_BYTES, signed))
    .finish();
}

/**
 * Decodes a frame from untrusted bytes and checks its signature. Throws SmacError
 * (UNSUPPORTED_VERSION, DECODE_ERROR, TOO_LARGE) for malformed bytes, NetError BAD_ORIGIN for a
 * publisher that is not a canonical Ed25519 peer id, NetError BAD_SIGNATURE for a bad signature.
 */
export function openHeartbeat(bytes: Uint8Array, maxPayloadBytes: number): HeartbeatFrame {
  const r = new Reader(bytes);
  const version = r.u8('heartbeat frame version');
  if (version !== HEARTBEAT_FRAME_VERSION) {
    fail(
      ErrorCode.UnsupportedVersion,
      `The heartbeat frame has version ${version}; this build reads version ${HEARTBEAT_FRAME_VERSION}.`,
      { version, supported: [HEARTBEAT_FRAME_VERSION] },
    );
  }
  const publisher = utf8Decode(r.lenBytes(MAX_PEER_ID_BYTES, 'heartbeat publisher'), 'heartbeat publisher');
  const seqno = r.varint('heartbeat seqno');
  const payload = new Uint8Array(r.lenBytes(maxPayloadBytes, 'heartbeat payload'));
  const signedEnd = r.offset;
  const signature = r.lenBytes(255, 'heartbeat signature');
  r.end('heartbeat frame');
  if (
    !verifyWithDomain(
      verifyingKey(publisher, 'heartbeat publisher'),
      DOMAIN_BYTES,
      bytes.subarray(0, signedEnd),
      signature,
    )
  ) {
    netFail(NetErrorCode.BadSignature, `The heartbeat of ${publisher} does not carry its signature.`, {
      details: { publisher },
    });
  }
  return { publisher, seqno, payload };
}
