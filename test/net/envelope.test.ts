// Envelope v1 (v2, chained: envelope-chain.test.ts): round trip, exact layout, and every way a forged or damaged envelope is refused.
import { sign } from 'node:crypto';
import { createPrivateKey } from 'node:crypto';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import type { PrivateKey } from '@libp2p/interface';
import { encodeEvent, Writer } from '../../src/core/codec/index.js';
import {
  ED25519_SIGNATURE_BYTES,
  ENVELOPE_SIGNING_DOMAIN,
  maxEnvelopeBytes,
  openEnvelope,
  peekEnvelope,
  sealEvent,
} from '../../src/net/envelope.js';
import { openEnvelopes } from '../../src/net/envelope-batch.js';
import { codeOf, idOf, newKey, signedEvent } from './helpers.js';

let alice: PrivateKey;
let bob: PrivateKey;
beforeAll(async () => {
  alice = await newKey();
  bob = await newKey();
});

function eventBytes(origin: string, seq = 1): Uint8Array {
  return encodeEvent({
    origin,
    seq,
    deps: new Map(),
    hlc: { wall: 42, logical: 0 },
    ops: [{ op: 'set', key: 'k', value: 'v' }],
  });
}

/** Signs like sealEvent but with any key and domain, to forge envelopes. */
function forge(eventBytesIn: Uint8Array, signer: PrivateKey, domain = ENVELOPE_SIGNING_DOMAIN): Uint8Array {
  const key = createPrivateKey({
    format: 'jwk',
    key: {
      kty: 'OKP',
      crv: 'Ed25519',
      d: Buffer.from(signer.raw.subarray(0, 32)).toString('base64url'),
      x: Buffer.from(signer.publicKey.raw).toString('base64url'),
    },
  });
  const payload = Buffer.concat([Buffer.from(domain), eventBytesIn]);
  return new Writer()
    .u8(1)
    .lenBytes(eventBytesIn)
    .lenBytes(sign(null, payload, key))
    .finish();
}

describe('envelope', () => {
  it('round-trips: the event, the exact signed bytes and the envelope come back', () => {
    const bytes = eventBytes(idOf(alice), 7);
    const envelope = sealEvent(alice, bytes);
    const opened = openEnvelope(envelope);
    expect(opened.event.origin).toBe(idOf(alice));
    expect(opened.event.seq).toBe(7);
    expect(opened.event.ops).toEqual([{ op: 'set', key: 'k', value: 'v' }]);
    expect(opened.eventBytes).toEqual(bytes);
    expect(opened.envelope).toBe(envelope);
    // u8 version | varint len | event | varint 64 | signature
    expect(envelope[0]).toBe(1);
    expect(envelope.length).toBe(1 + 1 + bytes.length + 1 + ED25519_SIGNATURE_BYTES);
    expect(envelope.length).toBeLessThanOrEqual(maxEnvelopeBytes());
  });

  it('is verifiable by anyone, forwarded verbatim: sealing is deterministic', () => {
    const bytes = eventBytes(idOf(alice));
    expect(sealEvent(alice, bytes)).toEqual(sealEvent(alice, bytes));
  });

  it('refuses to seal an event whose origin is another agent', async () => {
    expect(await codeOf(() => sealEvent(bob, eventBytes(idOf(alice))))).toBe('INVALID_ARGUMENT');
  });

  it('rejects a tampered event with BAD_SIGNATURE', async () => {
    const envelope = sealEvent(alice, eventBytes(idOf(alice)));
    // The last bytes of the event are the ops' JSON text: change one letter of the value.
    const at = envelope.indexOf('v'.charCodeAt(0), envelope.length - ED25519_SIGNATURE_BYTES - 10);
    const tampered = envelope.slice();
    tampered[at] = 'w'.charCodeAt(0);
    expect(await codeOf(() => openEnvelope(tampered))).toBe('BAD_SIGNATURE');
  });

  it('rejects a tampered signature with BAD_SIGNATURE', async () => {
    const envelope = sealEvent(alice, eventBytes(idOf(alice)));
    const tampered = envelope.slice();
    tampered[tampered.length - 1]! ^= 0x01;
    expect(await codeOf(() => openEnvelope(tampered))).toBe('BAD_SIGNATURE');
  });

  it("rejects an event naming A as origin but signed by B's key", async () => {
    expect(await codeOf(() => openEnvelope(forge(eventBytes(idOf(alice)), bob)))).toBe('BAD_SIGNATURE');
    // The same forgery with B's own origin is fine: the signature must match the origin.
    expect(openEnvelope(forge(eventBytes(idOf(bob)), bob)).event.origin).toBe(idOf(bob));
  });

  it('rejects a signature made for another domain', async () => {
    expect(await codeOf(() => openEnvelope(forge(eventBytes(idOf(alice)), alice, 'other-domain')))).toBe(
      'BAD_SIGNATURE',
    );
  });

  it('rejects a signature of the wrong length with BAD_SIGNATURE', async () => {
    const bytes = eventBytes(idOf(alice));
    const short = new Writer().u8(1).lenBytes(bytes).lenBytes(new Uint8Array(63)).finish();
    const long = new Writer().u8(1).lenBytes(bytes).lenBytes(new Uint8Array(65)).finish();
    expect(await codeOf(() => openEnvelope(short))).toBe('BAD_SIGNATURE');
    expect(await codeOf(() => openEnvelope(long))).toBe('BAD_SIGNATURE');
  });

  it('rejects origins that are not canonical Ed25519 peer ids with BAD_ORIGIN', async () => {
    const secp = await import('@libp2p/crypto/keys').then((m) => m.generateKeyPair('secp256k1'));
    const { peerIdFromPrivateKey } = await import('@libp2p/peer-id');
    for (const origin of [
      'not-a-peer-id',
      peerIdFromPrivateKey(secp).toString(),
      peerIdFromPrivateKey(alice).toCID().toString(),
    ]) {
      expect(await codeOf(() => openEnvelope(forge(eventBytes(origin), alice)))).toBe('BAD_ORIGIN');
    }
  });

  it('reports framing problems with the codec codes', async () => {
    const envelope = sealEvent(alice, eventBytes(idOf(alice)));
    const wrongVersion = envelope.slice();
    wrongVersion[0] = 3;
    expect(await codeOf(() => openEnvelope(wrongVersion))).toBe('UNSUPPORTED_VERSION');
    // A v1 envelope relabelled v2 lacks the link: refused, whatever its bytes read as.
    const relabelled = envelope.slice();
    relabelled[0] = 2;
    expect(await codeOf(() => openEnvelope(relabelled))).toMatch(/^(DECODE_ERROR|TOO_LARGE|BAD_SIGNATURE)$/);
    expect(await codeOf(() => openEnvelope(envelope.subarray(0, envelope.length - 1)))).toBe('DECODE_ERROR');
    expect(await codeOf(() => openEnvelope(new Uint8Array([...envelope, 0])))).toBe('DECODE_ERROR');
    expect(await codeOf(() => openEnvelope(new Uint8Array()))).toBe('DECODE_ERROR');
    const notAnEvent = forge(new Uint8Array([1, 0]), alice);
    expect(await codeOf(() => openEnvelope(notAnEvent))).toMatch(/^(DECODE_ERROR|INVALID_EVENT)$/);
  });

  it('peeks at the origin and seq without the signature, with the codec codes for bad framing', async () => {
    const key = await newKey();
    const envelope = signedEvent(key, 42);
    expect(peekEnvelope(envelope)).toEqual({ origin: idOf(key), seq: 42 });
    // A forged signature does not matter to a peek: openEnvelope is what checks it.
    const forged = envelope.slice();
    forged[forged.length - 1] = (forged[forged.length - 1] ?? 0) ^ 1;
    expect(peekEnvelope(forged)).toEqual({ origin: idOf(key), seq: 42 });
    expect(await codeOf(() => peekEnvelope(envelope.subarray(0, envelope.length - 1)))).toBe('DECODE_ERROR');
    expect(await codeOf(() => peekEnvelope(new Uint8Array()))).toBe('DECODE_ERROR');
  });

  it('never accepts a mutated envelope, and fails only with typed errors', () => {
    const envelope = signedEvent(alice, 3);
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: envelope.length - 1 }),
        fc.integer({ min: 1, max: 255 }),
        (at, xor) => {
          const bad = envelope.slice();
          bad[at]! ^= xor;
          try {
            openEnvelope(bad);
          } catch (e) {
            return typeof (e as { code?: unknown }).code === 'string';
          }
          return false;
        },
      ),
      { numRuns: 200 },
    );
  });

  it('openEnvelopes (signatures checked off the event loop) decides every envelope as openEnvelope does, in order', async () => {
    const good = sealEvent(alice, eventBytes(idOf(alice), 1));
    const forged = forge(eventBytes(idOf(alice), 2), bob);
    const tampered = sealEvent(alice, eventBytes(idOf(alice), 3));
    tampered[tampered.length - 1]! ^= 0x01;
    const short = new Writer()
      .u8(1)
      .lenBytes(eventBytes(idOf(alice)))
      .lenBytes(new Uint8Array(63))
      .finish();
    const badOrigin = forge(eventBytes('not-a-peer-id'), alice);
    const wrongVersion = good.slice();
    wrongVersion[0] = 9;
    const other = sealEvent(bob, eventBytes(idOf(bob), 9));
    const list = [good, forged, tampered, short, badOrigin, wrongVersion, new Uint8Array(), other];
    const outcomes = await openEnvelopes(list);
    const expected = await Promise.all(list.map((e) => codeOf(() => openEnvelope(e))));
    expect(expected).toEqual([
      undefined,
      'BAD_SIGNATURE',
      'BAD_SIGNATURE',
      'BAD_SIGNATURE',
      'BAD_ORIGIN',
      'UNSUPPORTED_VERSION',
      'DECODE_ERROR',
      undefined,
    ]);
    expect(outcomes.map((o) => (o.ok ? undefined : (o.error as { code: string }).code))).toEqual(expected);
    const opened = outcomes.flatMap((o) => (o.ok ? [o.opened] : []));
    expect(opened.map((o) => [o.event.origin, o.event.seq])).toEqual([
      [idOf(alice), 1],
      [idOf(bob), 9],
    ]);
    expect(opened[1]!.envelope).toBe(other);
  });
});
