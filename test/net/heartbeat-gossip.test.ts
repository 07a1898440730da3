// Heartbeat replay protection over real gossipsub: an older seqno from a publisher is dropped,
// until the publisher has been silent for forgetAfterMs (a member restarted with its clock set
// back is heard again, not ignored for ever).
import { afterAll, describe, expect, it } from 'vitest';
import { HeartbeatGossip } from '../../src/net/gossip.js';
import { HEARTBEAT_TOPIC } from '../../src/net/gossip-wire.js';
import { sealHeartbeat } from '../../src/net/heartbeat-frame.js';
import type { SmacNode } from '../../src/net/node.js';
import { idOf, loopbackNode, newKey, stopAll, waitFor } from './helpers.js';

describe('heartbeat replays', () => {
  const nodes: SmacNode[] = [];
  afterAll(async () => {
    await stopAll(nodes);
  });

  it('drops an older seqno, and accepts one again once the publisher was forgotten', async () => {
    const keyA = await newKey();
    const keyB = await newKey();
    const a = await loopbackNode({ privateKey: keyA });
    const b = await loopbackNode({ privateKey: keyB });
    nodes.push(a, b);
    let t = 1_000_000;
    const got: [string, number][] = [];
    const hb = new HeartbeatGossip({
      pubsub: b.services.pubsub,
      privateKey: keyB,
      onHeartbeat: (bytes, from) => got.push([from.toString(), bytes[0]!]),
      now: () => t,
      forgetAfterMs: 1_000,
    });
    hb.start();
    await a.dial(b.getMultiaddrs()[0]!);
    await waitFor(() => a.services.pubsub.getSubscribers(HEARTBEAT_TOPIC).length === 1, 'B subscribed');
    const send = (seqno: number, tag: number): Promise<unknown> =>
      a.services.pubsub.publish(HEARTBEAT_TOPIC, sealHeartbeat(keyA, seqno, new Uint8Array([tag])));

    await send(100, 1);
    await waitFor(() => got.length === 1, 'the first beat');
    await send(50, 2);
    await waitFor(() => hb.counters().replayed === 1, 'the older seqno dropped');
    t += 1_001; // A silent for longer than forgetAfterMs
    await send(60, 3);
    await waitFor(() => got.length === 2, 'the beat after the publisher was forgotten');
    expect(got).toEqual([
      [idOf(keyA), 1],
      [idOf(keyA), 3],
    ]);
  });
});
