// The libp2p node: private network by cluster key, allow-list, and the one-dialer tie-break.
import type { PeerId } from '@libp2p/interface';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { generateClusterKey } from '../../src/net/cluster-key.js';
import { createSmacNode, DiscoveryDialer, type SmacNode } from '../../src/net/node.js';
import { codeOf, idOf, loopbackNode, newKey, stopAll, waitFor } from './helpers.js';

const nodes: SmacNode[] = [];
async function node(opts: Parameters<typeof loopbackNode>[0] = {}): Promise<SmacNode> {
  const n = await loopbackNode({ dialTimeoutMs: 1_500, ...opts });
  nodes.push(n);
  return n;
}
afterEach(async () => {
  await stopAll(nodes.splice(0));
});

describe('private network (pnet)', () => {
  it('connects two nodes with the same cluster key, and they can talk', async () => {
    const key = generateClusterKey();
    const [a, b] = [await node({ clusterKey: key }), await node({ clusterKey: key })];
    await a.dial(b.getMultiaddrs()[0]!);
    const rtt = await a.services.ping.ping(b.peerId);
    expect(rtt).toBeGreaterThanOrEqual(0);
  });

  it('keeps out a node with a different key, or with none, in both directions', async () => {
    const a = await node({ clusterKey: generateClusterKey() });
    const other = await node({ clusterKey: generateClusterKey() });
    const open = await node();
    for (const n of [other, open]) {
      await expect(n.dial(a.getMultiaddrs()[0]!)).rejects.toThrow();
      await expect(a.dial(n.getMultiaddrs()[0]!)).rejects.toThrow();
    }
    expect(a.getConnections()).toHaveLength(0);
  });

  it('refuses a malformed cluster key before starting', async () => {
    expect(
      await codeOf(async () =>
        createSmacNode({ privateKey: await newKey(), listen: [], clusterKey: new Uint8Array(95) }),
      ),
    ).toBe('BAD_CLUSTER_KEY');
  });
});

describe('allow-list', () => {
  it('admits listed peers and refuses the rest, in both directions', async () => {
    const [keyA, keyB] = [await newKey(), await newKey()];
    const a = await node({ privateKey: keyA, allowPeers: [idOf(keyB)] });
    const b = await node({ privateKey: keyB });
    const stranger = await node();
    await b.dial(a.getMultiaddrs()[0]!);
    await expect(a.dial(stranger.getMultiaddrs()[0]!)).rejects.toThrow(/gater/);
    // A learns who dials it only at the end of the noise handshake, so the stranger's dial may
    // look done for a moment before A closes it.
    await stranger.dial(a.getMultiaddrs()[0]!).catch(() => undefined);
    await waitFor(() => stranger.getConnections().length === 0, 'A to drop the stranger');
    expect(a.getConnections().map((c) => c.remotePeer.toString())).toEqual([idOf(keyB)]);
    expect(a.getConnections()[0]!.remotePeer.toString()).toBe(idOf(keyB));
  });

  it('refuses an allow-list entry that is not a peer id', async () => {
    expect(
      await codeOf(async () =>
        createSmacNode({ privateKey: await newKey(), listen: [], allowPeers: ['nope'] }),
      ),
    ).toBe('INVALID_ARGUMENT');
  });
});

describe('discovery tie-break', () => {
  function fakeNode(self: PeerId) {
    const connected = new Set<string>();
    const dials: string[] = [];
    return {
      connected,
      dials,
      peerId: self,
      status: 'started',
      peerStore: { merge: () => Promise.resolve({} as never) },
      getConnections: (p?: PeerId) => (p && connected.has(p.toString()) ? [{}] : []),
      dial: (p: PeerId) => {
        dials.push(p.toString());
        return Promise.resolve({});
      },
    };
  }
  async function twoIds(): Promise<[PeerId, PeerId]> {
    const ids = [peerIdFromPrivateKey(await newKey()), peerIdFromPrivateKey(await newKey())];
    ids.sort((x, y) => (x.toString() < y.toString() ? -1 : 1));
    return [ids[0]!, ids[1]!];
  }

  it('the lower peer id dials at once; the higher one waits for it', async () => {
    vi.useFakeTimers();
    try {
      const [low, high] = await twoIds();
      const lowNode = fakeNode(low);
      const highNode = fakeNode(high);
      const lowDialer = new DiscoveryDialer(lowNode, {
        dialTimeoutMs: 1000,
        graceMs: 5000,
        allowed: () => true,
      });
      const highDialer = new DiscoveryDialer(highNode, {
        dialTimeoutMs: 1000,
        graceMs: 5000,
        allowed: () => true,
      });
      lowDialer.seen(high);
      highDialer.seen(low);
      await vi.advanceTimersByTimeAsync(0);
      expect(lowNode.dials).toEqual([high.toString()]);
      expect(highNode.dials).toEqual([]);
      // The connection forms; the grace period ends without a second dial.
      highNode.connected.add(low.toString());
      await vi.advanceTimersByTimeAsync(6000);
      expect(highNode.dials).toEqual([]);
      lowDialer.stop();
      highDialer.stop();
    } finally {
      vi.useRealTimers();
    }
  });

  it('the higher peer id dials after the grace period when the lower one never does', async () => {
    vi.useFakeTimers();
    try {
      const [low, high] = await twoIds();
      const highNode = fakeNode(high);
      const dialer = new DiscoveryDialer(highNode, {
        dialTimeoutMs: 1000,
        graceMs: 5000,
        allowed: () => true,
      });
      dialer.seen(low);
      dialer.seen(low);
      await vi.advanceTimersByTimeAsync(4999);
      expect(highNode.dials).toEqual([]);
      await vi.advanceTimersByTimeAsync(2);
      expect(highNode.dials).toEqual([low.toString()]);
      dialer.stop();
    } finally {
      vi.useRealTimers();
    }
  });

  it('ignores itself, peers outside the allow-list, and peers already connected', async () => {
    const [low, high] = await twoIds();
    const n = fakeNode(low);
    const dialer = new DiscoveryDialer(n, {
      dialTimeoutMs: 1000,
      graceMs: 5000,
      allowed: (id) => id !== high.toString(),
    });
    dialer.seen(low);
    dialer.seen(high);
    const [, third] = await twoIds();
    n.connected.add(third.toString());
    dialer.seen(third);
    await Promise.resolve();
    expect(n.dials).toEqual([]);
    dialer.stop();
  });
});
