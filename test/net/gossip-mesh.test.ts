// Event gossip between three real loopback nodes, by topology: the agents of a cluster connect
// to every member (peer exchange), so the publisher's flood publish already reaches every
// receiver, and a copy forwarded by a third node is pure overhead (docs/performance.md,
// "Duplicate gossip in a full mesh"); a node that is not connected to the publisher still gets
// the batch through a node that is.
import type { PeerId, PrivateKey } from '@libp2p/interface';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EventGossip, type VerifiedEvent } from '../../src/net/gossip.js';
import { EVENTS_TOPIC } from '../../src/net/gossip-wire.js';
import type { SmacNode } from '../../src/net/node.js';
import { chainedEvents, loopbackNode, newKey, stopAll, waitFor } from './helpers.js';

interface RpcMessage {
  readonly topic?: string;
  readonly data?: Uint8Array;
}

interface IHave {
  readonly topicID?: string;
  readonly messageIDs: Uint8Array[];
}

describe('event gossip by topology', () => {
  const names = ['a', 'b', 'c'] as const;
  type Name = (typeof names)[number];
  const keys = new Map<Name, PrivateKey>();
  const nodes = new Map<Name, SmacNode>();
  const gossip = new Map<Name, EventGossip>();
  const got = new Map<Name, VerifiedEvent[][]>();
  /** Every event message a node's gossipsub received, duplicates included, by sender. */
  const arrived = new Map<Name, string[]>();
  /** Message ids offered to a node by IHAVE, as `sender id`. */
  const offered = new Map<Name, string[]>();

  const node = (n: Name): SmacNode => nodes.get(n)!;
  const seqs = (n: Name): number[] => got.get(n)!.flatMap((m) => m.map((i) => i.event.seq));

  beforeAll(async () => {
    for (const n of names) {
      const key = await newKey();
      keys.set(n, key);
      const sn = await loopbackNode({ privateKey: key, dialTimeoutMs: 10_000 });
      nodes.set(n, sn);
      got.set(n, []);
      arrived.set(n, []);
      offered.set(n, []);
      const g = new EventGossip({
        pubsub: sn.services.pubsub,
        onEvents: (items) => got.get(n)!.push(items),
      });
      g.start();
      gossip.set(n, g);
      // Gossipsub hands every message of every RPC to this method, before its duplicate check.
      const ps = sn.services.pubsub as unknown as {
        handleReceivedMessage: (from: PeerId, msg: RpcMessage) => Promise<void>;
        handleIHave: (from: string, ihave: IHave[]) => unknown;
      };
      const original = ps.handleReceivedMessage.bind(ps);
      ps.handleReceivedMessage = (from, msg) => {
        if (msg.topic === EVENTS_TOPIC) arrived.get(n)!.push(from.toString());
        return original(from, msg);
      };
      const originalIHave = ps.handleIHave.bind(ps);
      ps.handleIHave = (from, ihave) => {
        for (const { topicID, messageIDs } of ihave)
          if (topicID === EVENTS_TOPIC)
            for (const id of messageIDs) offered.get(n)!.push(`${from} ${Buffer.from(id).toString('hex')}`);
        return originalIHave(from, ihave);
      };
    }
    // A line first: B - A - C.
    await node('a').dial(node('b').getMultiaddrs()[0]!);
    await node('a').dial(node('c').getMultiaddrs()[0]!);
    await waitFor(
      () =>
        gossip.get('a')!.subscribers().length === 2 &&
        gossip.get('b')!.subscribers().length === 1 &&
        gossip.get('c')!.subscribers().length === 1,
      'the subscriptions along the line',
    );
  });

  afterAll(async () => {
    await stopAll([...nodes.values()]);
  });

  it('carries a batch to a node that is not connected to its publisher', async () => {
    await gossip.get('b')!.publish(chainedEvents(keys.get('b')!, 1, 3));
    await waitFor(() => seqs('c').length === 3, 'B’s batch to reach C through A', { timeoutMs: 20_000 });
    expect(seqs('c')).toEqual([1, 2, 3]);
  });

  it('in a full mesh, delivers each published batch to each receiver once, with no forwarded copy', async () => {
    await node('b').dial(node('c').getMultiaddrs()[0]!);
    await waitFor(
      () => names.every((n) => gossip.get(n)!.subscribers().length === 2),
      'every node to see both others subscribed',
    );
    for (const n of names) arrived.get(n)!.length = 0;
    const before = { b: seqs('b').length, c: seqs('c').length };
    // A small batch (under gossipsub's IDONTWANT size) and a large one (over it).
    await gossip.get('a')!.publish(chainedEvents(keys.get('a')!, 1, 1));
    await gossip.get('a')!.publish(chainedEvents(keys.get('a')!, 2, 40));
    await waitFor(
      () => seqs('b').length === before.b + 40 && seqs('c').length === before.c + 40,
      'A’s batches at B and C',
    );
    // A copy B or C forwards goes out as soon as they accepted the batch, ahead of anything
    // they publish later on the same stream: once each has the other's next batch, any
    // forwarded copy has arrived too.
    await gossip.get('b')!.publish(chainedEvents(keys.get('b')!, 4, 4));
    await gossip.get('c')!.publish(chainedEvents(keys.get('c')!, 1, 1));
    await waitFor(
      () => seqs('b').length === before.b + 41 && seqs('c').length === before.c + 41,
      'B’s and C’s batches at each other',
    );
    const idOf = (n: Name): string => node(n).peerId.toString();
    expect([...arrived.get('b')!].sort()).toEqual([idOf('a'), idOf('a'), idOf('c')].sort());
    expect([...arrived.get('c')!].sort()).toEqual([idOf('a'), idOf('a'), idOf('b')].sort());
    expect(arrived.get('a')!.sort()).toEqual([idOf('b'), idOf('c')].sort());
  });

  it('offers each message to each peer once by IHAVE, for a peer that missed it', async () => {
    for (const n of names) offered.get(n)!.length = 0;
    await gossip.get('a')!.publish(chainedEvents(keys.get('a')!, 41, 41));
    await waitFor(() => seqs('b').includes(41), 'A’s batch at B');
    // Gossipsub offers a message at the heartbeats after it arrived; four of A's are plenty.
    let beats = 0;
    const count = (): void => {
      beats++;
    };
    node('a').services.pubsub.addEventListener('gossipsub:heartbeat', count);
    try {
      await waitFor(() => beats >= 4, 'four heartbeats at A', { timeoutMs: 20_000 });
    } finally {
      node('a').services.pubsub.removeEventListener('gossipsub:heartbeat', count);
    }
    const fromA = offered.get('b')!.filter((o) => o.startsWith(`${node('a').peerId.toString()} `));
    expect(fromA.length).toBeGreaterThan(0);
    expect(new Set(fromA).size).toBe(fromA.length);
  });
});
