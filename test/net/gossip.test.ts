// Gossip: the batch format, and real gossipsub between three loopback nodes (A linked to B and C).
import type { PeerId, PrivateKey } from '@libp2p/interface';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Writer } from '../../src/core/codec/index.js';
import { EventGossip, HeartbeatGossip, type VerifiedEvent } from '../../src/net/gossip.js';
import {
  decodeEventBatch,
  DEFAULT_EVENT_BATCH_LIMITS,
  encodeEventBatch,
  EVENTS_TOPIC,
  eventBatchBytes,
  gossipMessageId,
  HEARTBEAT_TOPIC,
} from '../../src/net/gossip-wire.js';
import { sealHeartbeat } from '../../src/net/heartbeat-frame.js';
import type { SmacNode } from '../../src/net/node.js';
import { codeOf, idOf, loopbackNode, newKey, signedEvent, stopAll, waitFor } from './helpers.js';

describe('event batch format', () => {
  it('round-trips any non-empty list of envelopes, with its nonce', () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ minLength: 1, maxLength: 300 }), { minLength: 1, maxLength: 40 }),
        fc.nat(),
        (envelopes, nonce) => {
          const bytes = encodeEventBatch(envelopes, nonce);
          expect(bytes.length).toBe(
            eventBatchBytes(
              envelopes.map((e) => e.length),
              nonce,
            ),
          );
          const back = decodeEventBatch(bytes);
          expect(back.nonce).toBe(nonce);
          expect(back.envelopes).toEqual(envelopes);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('refuses malformed and oversized batches with typed errors', async () => {
    const one = encodeEventBatch([new Uint8Array([1, 2, 3])]);
    expect(await codeOf(() => decodeEventBatch(new Uint8Array()))).toBe('DECODE_ERROR');
    expect(await codeOf(() => decodeEventBatch(new Uint8Array([2, 0, 1, 1, 0])))).toBe('UNSUPPORTED_VERSION');
    expect(await codeOf(() => decodeEventBatch(new Uint8Array([1, 0, 0])))).toBe('DECODE_ERROR');
    expect(await codeOf(() => decodeEventBatch(one.subarray(0, one.length - 1)))).toBe('DECODE_ERROR');
    expect(await codeOf(() => decodeEventBatch(new Uint8Array([...one, 9])))).toBe('DECODE_ERROR');
    const tooMany = new Writer()
      .u8(1)
      .varint(0)
      .varint(DEFAULT_EVENT_BATCH_LIMITS.maxEnvelopes + 1)
      .finish();
    expect(await codeOf(() => decodeEventBatch(tooMany))).toBe('TOO_LARGE');
    const small = { ...DEFAULT_EVENT_BATCH_LIMITS, maxBatchBytes: 4 };
    expect(await codeOf(() => decodeEventBatch(one, small))).toBe('TOO_LARGE');
    expect(await codeOf(() => encodeEventBatch([]))).toBe('INVALID_ARGUMENT');
  });

  it('names every message by a hash of topic and content, whatever the envelope fields say', () => {
    const base = { type: 'unsigned' as const };
    const data = new Uint8Array([1, 2, 3]);
    const e1 = gossipMessageId({ ...base, topic: EVENTS_TOPIC, data });
    expect(gossipMessageId({ ...base, topic: EVENTS_TOPIC, data: new Uint8Array([1, 2, 3]) })).toEqual(e1);
    expect(gossipMessageId({ ...base, topic: EVENTS_TOPIC, data: new Uint8Array([1, 2, 4]) })).not.toEqual(
      e1,
    );
    expect(gossipMessageId({ ...base, topic: HEARTBEAT_TOPIC, data })).not.toEqual(e1);
  });
});

describe('gossip between loopback nodes', () => {
  let a: SmacNode, b: SmacNode, c: SmacNode;
  let keyA: PrivateKey, keyB: PrivateKey;
  const keys = new Map<string, PrivateKey>();
  const beatsFrom = new Map<string, string[]>();
  const got = new Map<string, { items: VerifiedEvent[]; from: PeerId }[]>();
  const beats = new Map<string, Uint8Array[]>();
  const gossip = new Map<string, EventGossip>();
  const heartbeats = new Map<string, HeartbeatGossip>();

  beforeAll(async () => {
    keyA = await newKey();
    keyB = await newKey();
    keys
      .set('a', keyA)
      .set('b', keyB)
      .set('c', await newKey());
    a = await loopbackNode({ privateKey: keyA });
    b = await loopbackNode({ privateKey: keyB });
    c = await loopbackNode({ privateKey: keys.get('c')! });
    for (const [name, node] of [
      ['a', a],
      ['b', b],
      ['c', c],
    ] as const) {
      got.set(name, []);
      beats.set(name, []);
      beatsFrom.set(name, []);
      const g = new EventGossip({
        pubsub: node.services.pubsub,
        onEvents: (items, from) => got.get(name)!.push({ items, from }),
      });
      const h = new HeartbeatGossip({
        pubsub: node.services.pubsub,
        privateKey: keys.get(name)!,
        onHeartbeat: (bytes, from) => {
          beats.get(name)!.push(bytes);
          beatsFrom.get(name)!.push(from.toString());
        },
        maxBytes: 1024,
      });
      g.start();
      h.start();
      gossip.set(name, g);
      heartbeats.set(name, h);
    }
    await a.dial(b.getMultiaddrs()[0]!);
    await a.dial(c.getMultiaddrs()[0]!);
    // Publishing before A knows the subscriptions would reach nobody.
    await waitFor(
      () => gossip.get('a')!.subscribers().length === 2,
      'A to learn the subscriptions of B and C',
    );
    await waitFor(() => heartbeats.get('a')!.subscribers().length === 2, 'heartbeat subscriptions');
  });

  afterAll(async () => {
    await stopAll([a, b, c]);
  });

  it('delivers one published batch, verified and in order, to B and C', async () => {
    const envelopes = [1, 2, 3].map((seq) => signedEvent(keyA, seq));
    const report = await gossip.get('a')!.publish(envelopes);
    expect(report).toEqual({ messages: 1, envelopes: 3, recipients: 2, skipped: 0 });
    for (const name of ['b', 'c']) {
      await waitFor(() => got.get(name)!.length === 1, `the batch to reach ${name}`);
      const { items, from } = got.get(name)![0]!;
      expect(from.toString()).toBe(idOf(keyA));
      expect(items.map((i) => i.event.seq)).toEqual([1, 2, 3]);
      expect(items.map((i) => i.envelope)).toEqual(envelopes);
    }
    expect(got.get('a')).toEqual([]);
  });

  it('re-publishes identical envelopes under a fresh nonce instead of dropping them', async () => {
    const envelopes = [signedEvent(keyA, 10)];
    await gossip.get('a')!.publish(envelopes);
    await waitFor(() => got.get('b')!.length === 2, 'the first copy');
    const again = await gossip.get('a')!.publish(envelopes);
    expect(again.recipients).toBe(2);
    expect(gossip.get('a')!.counters().republished).toBe(1);
    await waitFor(() => got.get('b')!.length === 3, 'the re-published copy');
    expect(got.get('b')![2]!.items[0]!.envelope).toEqual(envelopes[0]);
  });

  it('splits a group commit only when it exceeds the per-message envelope bound', async () => {
    const envelopes = Array.from({ length: 1100 }, (_, i) => signedEvent(keyA, 100 + i));
    const report = await gossip.get('a')!.publish(envelopes);
    expect(report.messages).toBe(2);
    await waitFor(
      () => got.get('c')!.reduce((n, m) => n + m.items.length, 0) === 3 + 1 + 1 + 1100,
      'both halves at C',
    );
  });

  it('carries heartbeats, identical ones included, signed by and attributed to their publisher', async () => {
    const beat = new Uint8Array([7, 7, 7]);
    await heartbeats.get('a')!.publish(beat);
    await heartbeats.get('a')!.publish(beat);
    await waitFor(() => beats.get('b')!.length === 2 && beats.get('c')!.length === 2, 'two heartbeats');
    expect(beats.get('b')!.map((x) => [...x])).toEqual([
      [7, 7, 7],
      [7, 7, 7],
    ]);
    expect(beatsFrom.get('c')).toEqual([idOf(keyA), idOf(keyA)]);
    expect(await codeOf(() => heartbeats.get('a')!.publish(new Uint8Array(1025)))).toBe('TOO_LARGE');
  });

  it('refuses oversized, unsigned, forged and replayed heartbeats without delivering them', async () => {
    const before = beats.get('b')!.length;
    const pubsub = a.services.pubsub;
    // A peer that skips the size check.
    await pubsub.publish(HEARTBEAT_TOPIC, sealHeartbeat(keyA, 10 ** 15, new Uint8Array(2000)));
    // Raw bytes with no frame, as a build that relied on gossipsub signatures would send.
    await pubsub.publish(HEARTBEAT_TOPIC, new Uint8Array([7, 7, 7]));
    // A frame naming A as publisher, signed by B: A's payload swapped in after signing.
    const forged = sealHeartbeat(keyB, 10 ** 15 + 1, new Uint8Array([1, 2, 3]));
    const aFrame = sealHeartbeat(keyA, 10 ** 15 + 1, new Uint8Array([1, 2, 3]));
    const spliced = new Uint8Array(aFrame);
    spliced.set(forged.subarray(forged.length - 64), aFrame.length - 64);
    await pubsub.publish(HEARTBEAT_TOPIC, spliced);
    await waitFor(() => {
      const r = heartbeats.get('b')!.counters();
      return r.rejectedOversized === 1 && r.rejectedInvalid === 2;
    }, 'B to refuse all three');
    // A genuine beat, then the same publisher's older seqno in a different frame: a replay.
    // Above every seqno A's own HeartbeatGossip has used (it counts from the clock in µs).
    const ahead = Date.now() * 1000 + 10 ** 12;
    await pubsub.publish(HEARTBEAT_TOPIC, sealHeartbeat(keyA, ahead, new Uint8Array([5])));
    await pubsub.publish(HEARTBEAT_TOPIC, sealHeartbeat(keyA, ahead - 1, new Uint8Array([6])));
    await waitFor(() => heartbeats.get('b')!.counters().replayed === 1, 'B to drop the replay');
    expect(
      beats
        .get('b')!
        .slice(before)
        .map((x) => [...x]),
    ).toEqual([[5]]);
  });

  // Last: rejections lower A's score at B and C, which could slow later deliveries.
  it('rejects forged and malformed batches, counts them, and never delivers them', async () => {
    const before = got.get('b')!.length;
    const pubsub = a.services.pubsub;
    // Origin A, signed by B: a forgery only the validator can catch (the transport is genuine).
    const genuine = signedEvent(keyA, 5000);
    const forged = signedEvent(keyB, 1);
    const forgedEnvelope = new Uint8Array(genuine.length);
    forgedEnvelope.set(genuine.subarray(0, genuine.length - 64));
    forgedEnvelope.set(forged.subarray(forged.length - 64), genuine.length - 64);
    await pubsub.publish(EVENTS_TOPIC, encodeEventBatch([signedEvent(keyA, 5001), forgedEnvelope]));
    await pubsub.publish(EVENTS_TOPIC, new Uint8Array([1, 0, 5, 0xff]));
    await pubsub.publish(EVENTS_TOPIC, encodeEventBatch([new Uint8Array([1, 5, 1])]));
    // An envelope version from a newer build is ignored (no penalty), but not delivered either.
    await pubsub.publish(EVENTS_TOPIC, encodeEventBatch([new Uint8Array([9, 9, 9])]));
    for (const name of ['b', 'c']) {
      await waitFor(() => {
        const r = gossip.get(name)!.counters().rejected;
        return r.badSignature === 1 && r.malformed === 2 && r.unsupported === 1;
      }, `${name} to refuse all four`);
    }
    expect(got.get('b')).toHaveLength(before);
    const delivered = got.get('b')!.flatMap((m) => m.items.map((i) => i.event.seq));
    expect(delivered).not.toContain(5001);
  });
});
