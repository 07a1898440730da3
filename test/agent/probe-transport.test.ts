// The failure detector's probe transport (src/agent/probe-transport.ts) between two loopback
// nodes: many packets in both directions over one stream per direction (no stream per packet),
// a broken stream reopened by the next packet, an oversized frame refused, packets to an
// unreachable peer dropped without throwing, a dropped connection redialled, and a peer that
// cannot be redialled reported.
import { multiaddr } from '@multiformats/multiaddr';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { ProbeTransport } from '../../src/agent/probe-transport.js';
import type { SmacNode } from '../../src/net/node.js';
import { idOf, loopbackNode, newKey, stopAll, waitFor } from '../net/helpers.js';

const log = pino({ level: process.env.PT_LOG ?? 'silent' });
const nodes: SmacNode[] = [];
const transports: ProbeTransport[] = [];
afterEach(async () => {
  await Promise.all(transports.splice(0).map((t) => t.stop()));
  await stopAll(nodes.splice(0));
});

async function pair() {
  const got: { a: string[]; b: string[] } = { a: [], b: [] };
  const bad: string[] = [];
  const gone: { a: string[]; b: string[] } = { a: [], b: [] };
  const make = async (name: 'a' | 'b') => {
    const node = await loopbackNode();
    nodes.push(node);
    const t = new ProbeTransport({
      node,
      log,
      maxPacketBytes: 1024,
      writeTimeoutMs: () => 2_000,
      onPacket: (_from, bytes) => got[name].push(new TextDecoder().decode(bytes)),
      onBadStream: (from) => bad.push(from),
      onPeerGone: (peer) => gone[name].push(peer),
    });
    await t.start();
    transports.push(t);
    return { node, t };
  };
  const a = await make('a');
  const b = await make('b');
  await a.node.dial(b.node.getMultiaddrs()[0] ?? multiaddr('/ip4/127.0.0.1/tcp/1'));
  await waitFor(() => b.node.getConnections().length > 0, 'the connection at both ends');
  return { a, b, got, bad, gone };
}

describe('probe transport', () => {
  it('carries many packets each way on one stream per direction, in order', async () => {
    const { a, b, got } = await pair();
    const aId = a.node.peerId.toString();
    const bId = b.node.peerId.toString();
    // Within the 64 packets a peer's queue holds while its stream opens.
    for (let i = 0; i < 60; i++) {
      a.t.send(bId, new TextEncoder().encode(`ping ${i}`));
      b.t.send(aId, new TextEncoder().encode(`ack ${i}`));
    }
    await waitFor(() => got.a.length === 60 && got.b.length === 60, 'every packet');
    expect(got.b).toEqual(Array.from({ length: 60 }, (_, i) => `ping ${i}`));
    expect(got.a).toEqual(Array.from({ length: 60 }, (_, i) => `ack ${i}`));
    expect(a.t.stats()).toMatchObject({ streamsOpened: 1, packetsSent: 60, packetsDropped: 0 });
    expect(b.t.stats()).toMatchObject({ streamsOpened: 1, packetsReceived: 60 });
  });

  it('reopens a stream that broke, on the next packet', async () => {
    const { a, b, got } = await pair();
    const bId = b.node.peerId.toString();
    a.t.warm(bId);
    await waitFor(() => a.t.stats().outboundStreams === 1, 'the stream opened ahead');
    for (const conn of a.node.getConnections()) {
      for (const s of conn.streams) if (s.protocol === '/smac/probe/1') s.abort(new Error('test'));
    }
    await waitFor(() => a.t.stats().outboundStreams === 0, 'the broken stream forgotten');
    a.t.send(bId, new TextEncoder().encode('after'));
    await waitFor(() => got.b.includes('after'), 'the packet after the break');
    expect(a.t.stats().streamsOpened).toBe(2);
  });

  it('refuses an oversized frame and keeps going', async () => {
    const { a, b, got, bad } = await pair();
    const bId = b.node.peerId.toString();
    a.t.send(bId, new Uint8Array(4096));
    await waitFor(() => bad.length === 1, 'the bad stream reported');
    // The receiver reset the stream: the sender notices, and its next packet opens a new one.
    await waitFor(() => a.t.stats().outboundStreams === 0, 'the reset seen by the sender');
    a.t.send(bId, new TextEncoder().encode('fine'));
    await waitFor(() => got.b.includes('fine'), 'a packet after the bad one');
  });

  it('redials a peer whose connection dropped, and does not report it', async () => {
    const { a, b, gone } = await pair();
    const bId = b.node.peerId.toString();
    a.t.warm(bId);
    await waitFor(() => a.t.stats().outboundStreams === 1, 'the stream opened ahead');
    await Promise.all(a.node.getConnections(b.node.peerId).map((c) => c.close()));
    await waitFor(() => a.t.stats().streamsOpened === 2, 'a new stream over a new connection');
    expect(a.t.stats().redials).toBe(1);
    expect(gone.a).toEqual([]);
  });

  it('reports a peer that cannot be redialled (the detector probes it out of turn)', async () => {
    const { a, b, gone } = await pair();
    const bId = b.node.peerId.toString();
    a.t.warm(bId);
    await waitFor(() => a.t.stats().outboundStreams === 1, 'the stream opened ahead');
    await b.node.stop();
    await waitFor(() => gone.a.includes(bId), 'the lost peer reported', { timeoutMs: 10_000 });
  });

  it('drops packets for a peer it cannot reach, without throwing', async () => {
    const { a } = await pair();
    const nobody = idOf(await newKey());
    a.t.send(nobody, new TextEncoder().encode('lost'));
    await waitFor(() => a.t.stats().packetsDropped === 1, 'the packet dropped', { timeoutMs: 10_000 });
  });
});
