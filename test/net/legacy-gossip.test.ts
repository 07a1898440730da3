// A peer of a build that signed every gossip message (StrictSign on the /1 topics) next to this
// build (StrictNoSign on the /2 topics): the pair stays connected, neither side's gossip reaches
// the other's handlers or costs it a penalty, and the new side reports the old peer once.
import { StrictSign } from '@libp2p/gossipsub';
import { afterAll, describe, expect, it } from 'vitest';
import { EventGossip, HeartbeatGossip, type VerifiedEvent } from '../../src/net/gossip.js';
import { encodeEventBatch, LEGACY_TOPICS } from '../../src/net/gossip-wire.js';
import type { SmacNode } from '../../src/net/node.js';
import { idOf, loopbackNode, newKey, signedEvent, stopAll, waitFor } from './helpers.js';

describe('gossip next to a peer of the StrictSign build', () => {
  const nodes: SmacNode[] = [];
  afterAll(async () => {
    await stopAll(nodes);
  });

  it('reports the old peer once, delivers none of its gossip, and keeps the connection', async () => {
    const keyNew = await newKey();
    const keyOld = await newKey();
    const fresh = await loopbackNode({ privateKey: keyNew });
    // The old build's gossip settings: publisher signatures on its own topics.
    const old = await loopbackNode({
      privateKey: keyOld,
      gossipsub: { globalSignaturePolicy: StrictSign, allowedTopics: [...LEGACY_TOPICS] },
    });
    nodes.push(fresh, old);
    const legacy: string[] = [];
    const beats: Uint8Array[] = [];
    const events: VerifiedEvent[] = [];
    const hb = new HeartbeatGossip({
      pubsub: fresh.services.pubsub,
      privateKey: keyNew,
      onHeartbeat: (bytes) => beats.push(bytes),
      onLegacyPeer: (peer) => legacy.push(peer.toString()),
    });
    const eg = new EventGossip({ pubsub: fresh.services.pubsub, onEvents: (items) => events.push(...items) });
    hb.start();
    eg.start();
    for (const t of LEGACY_TOPICS) old.services.pubsub.subscribe(t);

    await old.dial(fresh.getMultiaddrs()[0]!);
    await waitFor(() => legacy.length === 1, 'the new node to notice the old build');
    expect(legacy).toEqual([idOf(keyOld)]);
    expect(hb.counters().legacyPeers).toBe(1);

    // The old node publishes on its topics as it always did; nothing of it reaches the new one.
    const [eventsTopic, heartbeatTopic] = LEGACY_TOPICS;
    for (let i = 1; i <= 3; i++) {
      await old.services.pubsub.publish(eventsTopic!, encodeEventBatch([signedEvent(keyOld, i)]));
      await old.services.pubsub.publish(heartbeatTopic!, new Uint8Array([i]));
    }
    // The old node never learns of a subscriber on its topics, so it sent nothing: the new
    // node's validators saw nothing, and the connection is still up after a gossipsub heartbeat.
    expect(old.services.pubsub.getSubscribers(eventsTopic!)).toEqual([]);
    let rounds = 0;
    fresh.services.pubsub.addEventListener('gossipsub:heartbeat', () => rounds++);
    await waitFor(() => rounds >= 2, 'two gossipsub heartbeats (scoring and pruning run in them)');
    expect(fresh.services.pubsub.getPeers().map(String)).toEqual([idOf(keyOld)]);
    expect(fresh.getConnections(old.peerId).length).toBeGreaterThan(0);
    expect(beats).toEqual([]);
    expect(events).toEqual([]);
    expect(hb.counters()).toMatchObject({ rejectedInvalid: 0, received: 0 });
    expect(Object.values(eg.counters().rejected).every((n) => n === 0)).toBe(true);
    // Reported once, however many subscription updates follow.
    old.services.pubsub.unsubscribe(heartbeatTopic!);
    old.services.pubsub.subscribe(heartbeatTopic!);
    await waitFor(
      () => fresh.services.pubsub.getSubscribers(heartbeatTopic!).length === 1,
      'the re-subscription to arrive',
    );
    expect(legacy).toHaveLength(1);
  });
});
