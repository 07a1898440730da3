/**
 * Ed25519 signing and verification with domain separation, shared by signed events
 * (envelope.ts) and signed heartbeats (heartbeat-frame.ts). Both use node:crypto's native
 * Ed25519 on cached key objects: libp2p's generic path rebuilds a key object from JWK on every
 * call, which costs more than the signature itself. Every signature covers a domain prefix, so
 * a signature made for one purpose is never valid for another (libp2p signs its own records and
 * noise handshakes with the same key).
 */
import { createPrivateKey, createPublicKey, type KeyObject, sign, verify } from 'node:crypto';
import type { PrivateKey } from '@libp2p/interface';
import { peerIdFromPrivateKey, peerIdFromString } from '@libp2p/peer-id';
import { ErrorCode, fail } from '../core/errors.js';
import { NetErrorCode, netFail } from './errors.js';

export const ED25519_SIGNATURE_BYTES = 64;

export interface SigningKey {
  readonly key: KeyObject;
  /** The key's libp2p peer id, as a string. */
  readonly peerId: string;
}

const signingKeys = new WeakMap<PrivateKey, SigningKey>();

/** The node:crypto key object and peer id of a libp2p Ed25519 private key (cached). */
export function signingKey(privateKey: PrivateKey): SigningKey {
  const cached = signingKeys.get(privateKey);
  if (cached) return cached;
  if (privateKey.type !== 'Ed25519') {
    fail(ErrorCode.InvalidArgument, `SMAC signs with Ed25519 keys; this key is ${privateKey.type}.`);
  }
  // libp2p keeps Ed25519 private keys as seed (32 bytes) || public key (32 bytes).
  const seed = privateKey.raw.subarray(0, 32);
  const key = createPrivateKey({
    format: 'jwk',
    key: {
      kty: 'OKP',
      crv: 'Ed25519',
      d: Buffer.from(seed).toString('base64url'),
      x: Buffer.from(privateKey.publicKey.raw).toString('base64url'),
    },
  });
  const entry = { key, peerId: peerIdFromPrivateKey(privateKey).toString() };
  signingKeys.set(privateKey, entry);
  return entry;
}

/** `domain || bytes`, in a new array. */
export function prefixed(domain: Uint8Array, bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(domain.length + bytes.length);
  out.set(domain, 0);
  out.set(bytes, domain.length);
  return out;
}

/** Ed25519 signature over `domain || bytes`. */
export function signWithDomain(key: SigningKey, domain: Uint8Array, bytes: Uint8Array): Uint8Array {
  return sign(null, prefixed(domain, bytes), key.key);
}

/** True when `signature` is `key`'s Ed25519 signature over `domain || bytes`. */
export function verifyWithDomain(
  key: KeyObject,
  domain: Uint8Array,
  bytes: Uint8Array,
  signature: Uint8Array,
): boolean {
  return (
    signature.length === ED25519_SIGNATURE_BYTES && verify(null, prefixed(domain, bytes), key, signature)
  );
}

/**
 * verifyWithDomain on libuv's thread pool (node:crypto's callback form): the event loop only
 * queues the check and takes the answer, and several checks run in parallel on other cores.
 */
export function verifyWithDomainOffLoop(
  key: KeyObject,
  domain: Uint8Array,
  bytes: Uint8Array,
  signature: Uint8Array,
): Promise<boolean> {
  if (signature.length !== ED25519_SIGNATURE_BYTES) return Promise.resolve(false);
  return new Promise((resolve, reject) => {
    verify(null, prefixed(domain, bytes), key, signature, (err, ok) => {
      if (err) reject(err);
      else resolve(ok);
    });
  });
}

/** Public keys by peer id. Bounded: a cluster is small, but a hostile peer can name many. */
const VERIFYING_KEY_CACHE_SIZE = 4096;
const verifyingKeys = new Map<string, KeyObject>();

/**
 * The public key embedded in a canonical Ed25519 peer id string. Throws NetError BAD_ORIGIN for
 * anything else (`what` names the field in the message), including a non-canonical spelling (a
 * CID form, say), which would make one key two identities.
 */
export function verifyingKey(peerId: string, what: string): KeyObject {
  const cached = verifyingKeys.get(peerId);
  if (cached) return cached;
  let raw: Uint8Array | undefined;
  try {
    const id = peerIdFromString(peerId);
    if (id.type === 'Ed25519' && id.toString() === peerId) raw = id.publicKey.raw;
  } catch {
    raw = undefined;
  }
  if (raw === undefined) {
    netFail(
      NetErrorCode.BadOrigin,
      `The ${what} ${JSON.stringify(peerId.slice(0, 80))} is not a canonical Ed25519 libp2p peer id, so its signature cannot be checked.`,
      { details: { peerId } },
    );
  }
  const key = createPublicKey({
    format: 'jwk',
    key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(raw).toString('base64url') },
  });
  if (verifyingKeys.size >= VERIFYING_KEY_CACHE_SIZE) {
    const oldest = verifyingKeys.keys().next();
    if (oldest.done !== true) verifyingKeys.delete(oldest.value);
  }
  verifyingKeys.set(peerId, key);
  return key;
}
