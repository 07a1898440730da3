// Heartbeats on direct streams (src/agent/heartbeat-direct.ts, issue 8) between loopback nodes:
// each peer gets each beat once; an unchanged beat goes as a small reference and is delivered
// as the beat it names; a stream that broke makes the next send a whole beat again; and frames
// that are forged, relayed, unsigned or name a beat never received are refused.
import type { PeerId, PrivateKey } from '@libp2p/interface';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { BEAT_PROTOCOL, type DirectBeat, HeartbeatDirect } from '../../src/agent/heartbeat-direct.js';
import { Writer } from '../../src/core/codec/index.js';
import { writeFrame } from '../../src/net/frame-stream.js';
import { HeartbeatGossip } from '../../src/net/gossip.js';
import { sealHeartbeat } from '../../src/net/heartbeat-frame.js';
import type { SmacNode } from '../../src/net/node.js';
import { idOf, loopbackNode, newKey, stopAll, waitFor } from '../net/helpers.js';

const log = pino({ level: 'silent' });
const nodes: SmacNode[] = [];
const directs: HeartbeatDirect[] = [];
afterEach(async () => {
  await Promise.all(directs.splice(0).map((d) => d.stop(0)));
  await stopAll(nodes.splice(0));
});

interface Member {
  readonly key: PrivateKey;
  readonly id: string;
  readonly node: SmacNode;
  readonly direct: HeartbeatDirect;
  /** Payloads delivered, as text, with their publisher. */
  readonly got: [string, string][];
}

async function member(): Promise<Member> {
  const key = await newKey();
  const node = await loopbackNode({ privateKey: key });
  nodes.push(node);
  const got: [string, string][] = [];
  const onHeartbeat = (bytes: Uint8Array, from: PeerId) =>
    got.push([from.toString(), new TextDecoder().decode(bytes)]);
  const gossip = new HeartbeatGossip({ pubsub: node.services.pubsub, privateKey: key, onHeartbeat });
  const direct = new HeartbeatDirect({ node, log, gossip, onHeartbeat });
  await direct.start();
  directs.push(direct);
  return { key, id: idOf(key), node, direct, got };
}

function beat(content: string, peers = 'p'): DirectBeat {
  return {
    withPeers: new TextEncoder().encode(`${content}+${peers}`),
    bare: new TextEncoder().encode(content),
    contentKey: content,
    peersKey: peers,
  };
}

async function connected(a: Member, ...others: Member[]): Promise<void> {
  for (const o of others) await a.node.dial(o.node.getMultiaddrs()[0]!);
  await waitFor(
    async () => (await a.direct.targets()).length === others.length,
    'identify to show the beat protocol',
  );
}

describe('heartbeats on direct streams', () => {
  it('sends each peer the beat once, then references to it while it is unchanged', async () => {
    const a = await member();
    const b = await member();
    const c = await member();
    await connected(a, b, c);
    const targets = await a.direct.targets();
    expect(targets).toEqual([b.id, c.id].sort());

    a.direct.send(beat('clock 1'), targets, true);
    await waitFor(() => b.got.length === 1 && c.got.length === 1, 'the first beat at b and c');
    // The first beat names our peers; the references deliver the beat the peer has.
    a.direct.send(beat('clock 1'), targets, true);
    a.direct.send(beat('clock 1'), targets, false); // not due: nothing at all
    a.direct.send(beat('clock 1'), targets, true);
    await waitFor(() => b.got.length === 3 && c.got.length === 3, 'two references delivered');
    expect(b.got).toEqual([
      [a.id, 'clock 1+p'],
      [a.id, 'clock 1+p'],
      [a.id, 'clock 1+p'],
    ]);
    expect(a.direct.counters()).toMatchObject({ sentBeats: 2, sentRefs: 4 });
    expect(a.direct.counters().sentBeatsFor).toEqual({ first: 2, lost: 0, content: 0, peers: 0 });
    expect(b.direct.counters()).toMatchObject({ received: 3, receivedRefs: 2, unknownRefs: 0 });

    // A change goes out whole, without the (unchanged) peer list; so does a new peer list.
    a.direct.send(beat('clock 2'), targets, true);
    a.direct.send(beat('clock 2', 'q'), targets, false);
    await waitFor(() => b.got.length === 5, 'the changed beats');
    expect(b.got.slice(3).map(([, p]) => p)).toEqual(['clock 2', 'clock 2+q']);
    expect(a.direct.counters().sentBeatsFor).toEqual({ first: 2, lost: 0, content: 2, peers: 2 });
  });

  it('sends the whole beat again after the stream to the peer broke', async () => {
    const a = await member();
    const b = await member();
    await connected(a, b);
    a.direct.send(beat('clock 1'), [b.id], true);
    await waitFor(() => b.got.length === 1, 'the first beat');
    // Break a's stream to b: whatever was in flight may be lost.
    for (const conn of a.node.getConnections())
      for (const s of conn.streams) if (s.protocol === BEAT_PROTOCOL) s.abort(new Error('test: broken'));
    await waitFor(
      () => a.node.getConnections().every((c) => c.streams.every((s) => s.protocol !== BEAT_PROTOCOL)),
      'the stream gone',
    );
    a.direct.send(beat('clock 1'), [b.id], true);
    await waitFor(() => b.got.length === 2, 'the beat after the break');
    expect(a.direct.counters()).toMatchObject({ sentBeats: 2, sentRefs: 0 });
    expect(a.direct.counters().sentBeatsFor).toMatchObject({ first: 1, lost: 1 });
    expect(b.direct.counters().unknownRefs).toBe(0);
  });

  it('refuses forged, relayed and unsigned frames and references to beats it never got', async () => {
    const a = await member();
    const b = await member();
    const cKey = await newKey(); // a third member's key, which b holds no stream from
    await connected(b, a);
    const stream = await b.node.dialProtocol(a.node.peerId, BEAT_PROTOCOL);
    const send = (kind: number, frame: Uint8Array) => {
      const out = new Uint8Array(frame.length + 1);
      out[0] = kind;
      out.set(frame, 1);
      return writeFrame(stream, out);
    };
    const ref = (seqno: number) => new Writer(8).varint(seqno).finish();
    // c's beat relayed by b: signed correctly, but not by the peer on the stream.
    await send(1, sealHeartbeat(cKey, 10, new TextEncoder().encode('from c')));
    // b's beat with a signature that does not verify.
    const forged = sealHeartbeat(b.key, 11, new TextEncoder().encode('from b'));
    forged[forged.length - 1]! ^= 1;
    await send(1, forged);
    // An unknown kind, and a reference to a beat b never sent.
    await send(7, sealHeartbeat(b.key, 12, new TextEncoder().encode('kind 7')));
    await send(2, sealHeartbeat(b.key, 13, ref(9)));
    await waitFor(() => {
      const c = a.direct.counters();
      return c.rejectedForged === 1 && c.rejectedInvalid === 2 && c.unknownRefs === 1;
    }, 'every bad frame counted');
    expect(a.got).toEqual([]);
    // A genuine beat and a reference to it, on the same stream, still arrive.
    await send(1, sealHeartbeat(b.key, 14, new TextEncoder().encode('genuine')));
    await send(2, sealHeartbeat(b.key, 15, ref(14)));
    // A replayed reference (an old seqno) is not delivered again.
    await send(2, sealHeartbeat(b.key, 15, ref(14)));
    await waitFor(() => a.got.length === 2, 'the genuine beat and its reference');
    expect(a.got).toEqual([
      [b.id, 'genuine'],
      [b.id, 'genuine'],
    ]);
    await waitFor(() => a.direct.counters().receivedRefs === 2, 'the replay read');
    expect(a.got).toHaveLength(2);
  });
});
