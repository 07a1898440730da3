// The Joiner: retries a join address until its node is up, pauses while connected, resumes on drop.
import { createServer } from 'node:net';
import type { PrivateKey } from '@libp2p/interface';
import { peerIdFromString } from '@libp2p/peer-id';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { backoffDelayMs, Joiner } from '../../src/net/join.js';
import type { SmacNode } from '../../src/net/node.js';
import { codeOf, idOf, loopbackNode, newKey, stopAll, waitFor } from './helpers.js';

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

describe('backoff', () => {
  const opts = { initialBackoffMs: 100, maxBackoffMs: 1000, backoffFactor: 2 };
  it.each([
    [1, 0, 50],
    [1, 1, 100],
    [2, 0.5, 150],
    [3, 0, 200],
    [5, 1, 1000],
    [50, 0, 500],
  ])('after %i failures with random %f waits %i ms', (failures, r, ms) => {
    expect(backoffDelayMs(failures, opts, () => r)).toBe(ms);
  });
});

describe('joiner', () => {
  const nodes: (SmacNode | undefined)[] = [];
  let joiner: Joiner | undefined;
  afterEach(async () => {
    joiner?.stop();
    await stopAll(nodes.splice(0));
  });

  it('keeps retrying a node that starts late, connects, and reconnects after it restarts', async () => {
    const keyB: PrivateKey = await newKey();
    const port = await freePort();
    const address = `/ip4/127.0.0.1/tcp/${port}/p2p/${idOf(keyB)}`;
    const a = await loopbackNode();
    nodes.push(a);
    const errors: string[] = [];
    joiner = new Joiner(a, {
      addresses: [address],
      initialBackoffMs: 50,
      maxBackoffMs: 200,
      dialTimeoutMs: 1000,
      random: () => 0.5,
      onDialError: (_addr, e) => errors.push(String(e)),
    });
    joiner.start();
    await waitFor(() => joiner!.status()[0]!.failures >= 3, 'three failed dials');
    expect(joiner.status()[0]!.state).not.toBe('connected');

    let b = await loopbackNode({ privateKey: keyB, listen: [`/ip4/127.0.0.1/tcp/${port}`] });
    nodes.push(b);
    await waitFor(() => a.getConnections(b.peerId).length > 0, 'A to join B');
    await waitFor(() => joiner!.status()[0]!.state === 'connected', 'the joiner to see the connection');
    expect(joiner.status()[0]).toMatchObject({ failures: 0, peerId: idOf(keyB) });

    await b.stop();
    await waitFor(() => joiner!.status()[0]!.failures >= 1, 'a failed redial while B is down');
    b = await loopbackNode({ privateKey: keyB, listen: [`/ip4/127.0.0.1/tcp/${port}`] });
    nodes.push(b);
    await waitFor(() => joiner!.status()[0]!.state === 'connected', 'A to rejoin the restarted B');
    expect(errors.length).toBeGreaterThanOrEqual(4);
  });

  it('does not dial while already connected, and skips its own address', async () => {
    const [a, b] = [await loopbackNode(), await loopbackNode()];
    nodes.push(a, b);
    await b.dial(a.getMultiaddrs()[0]!);
    await waitFor(() => a.getConnections(b.peerId).length > 0, 'A to register the inbound connection');
    joiner = new Joiner(a, {
      addresses: [b.getMultiaddrs()[0]!.toString(), a.getMultiaddrs()[0]!.toString()],
    });
    joiner.start();
    await waitFor(() => joiner!.status()[1]!.state === 'self', 'the own address to be recognized');
    expect(joiner.status()[0]!.state).toBe('connected');
    expect(a.getConnections()).toHaveLength(1);
    joiner.stop();
    expect(joiner.status().map((s) => s.state)).toEqual(['idle', 'self']);
  });

  it('refuses addresses that are not multiaddrs and nonsensical options', async () => {
    const a = await loopbackNode();
    nodes.push(a);
    expect(await codeOf(() => new Joiner(a, { addresses: ['10.0.0.1:7946'] }))).toBe('INVALID_ARGUMENT');
    expect(await codeOf(() => new Joiner(a, { addresses: [], maxBackoffMs: 0 }))).toBe('INVALID_ARGUMENT');
    expect(await codeOf(() => new Joiner(a, { addresses: [], backoffFactor: 0.5 }))).toBe('INVALID_ARGUMENT');
  });
});

/**
 * A node whose dials fail at once (an address that refuses) or, `blackHoled`, hang until aborted
 * (SYNs dropped), with its events under test control.
 */
async function refusingNode(blackHoled = false) {
  const events = new EventTarget();
  const node = {
    peerId: peerIdFromString(idOf(await newKey())),
    dials: 0,
    signals: [] as AbortSignal[],
    dial: (_ma: unknown, opts: { signal: AbortSignal }) => {
      node.dials++;
      node.signals.push(opts.signal);
      if (!blackHoled) return Promise.reject(new Error('connection refused'));
      return new Promise((_, reject) => {
        opts.signal.addEventListener('abort', () => {
          reject(new Error('aborted'));
        });
      });
    },
    getConnections: () => [],
    addEventListener: events.addEventListener.bind(events),
    removeEventListener: events.removeEventListener.bind(events),
    connect: (peer: string) => {
      events.dispatchEvent(new CustomEvent('peer:connect', { detail: peerIdFromString(peer) }));
    },
  };
  return { node, asJoinNode: node as unknown as ConstructorParameters<typeof Joiner>[0] };
}

const downAddress = async (): Promise<string> => `/ip4/10.0.0.9/tcp/7946/p2p/${idOf(await newKey())}`;

describe('joiner after a long outage', () => {
  let joiner: Joiner | undefined;
  afterEach(() => {
    joiner?.stop();
    vi.useRealTimers();
  });

  it('keeps the wait between tries short with the default options, however long the address is down', async () => {
    const { node, asJoinNode } = await refusingNode();
    joiner = new Joiner(asJoinNode, { addresses: [await downAddress()], random: () => 0.999 });
    vi.useFakeTimers();
    joiner.start();
    // Ten minutes down: the backoff has grown as far as it will.
    for (let i = 0; i < 600; i++) await vi.advanceTimersByTimeAsync(1000);
    expect(joiner.status()[0]).toMatchObject({ state: 'waiting' });
    // Were the link back now, the next try would come within half a second (issue 8: the
    // join is the first connection back after a partition heals), not after 15-30 s.
    const at: number[] = [];
    for (let i = 0; i < 5_000 && at.length < 5; i++) {
      const before = node.dials;
      await vi.advanceTimersByTimeAsync(10);
      if (node.dials > before) at.push(Date.now());
    }
    const gaps = at.slice(1).map((t, i) => t - at[i]!);
    expect(gaps).toHaveLength(4);
    expect(Math.max(...gaps)).toBeLessThanOrEqual(500);
  });

  it('redials a waiting address at once when any connection comes up', async () => {
    const { node, asJoinNode } = await refusingNode();
    const other = idOf(await newKey());
    joiner = new Joiner(asJoinNode, {
      addresses: [await downAddress()],
      initialBackoffMs: 60_000,
      maxBackoffMs: 60_000,
      random: () => 0.5,
    });
    vi.useFakeTimers();
    joiner.start();
    await vi.advanceTimersByTimeAsync(1000);
    expect(node.dials).toBe(1);
    expect(joiner.status()[0]).toMatchObject({ state: 'waiting', failures: 1 });
    // Another peer reached us: the network is back, so the join address is worth a try now.
    node.connect(other);
    await vi.advanceTimersByTimeAsync(0);
    expect(node.dials).toBe(2);
    expect(joiner.status()[0]).toMatchObject({ state: 'waiting', failures: 2 });
    // A connection right after a try does not make a hot loop: tries stay apart.
    node.connect(other);
    await vi.advanceTimersByTimeAsync(0);
    expect(node.dials).toBe(2);
  });

  it('gives up a dial stuck in a black hole and dials again when another connection comes up', async () => {
    const { node, asJoinNode } = await refusingNode(true);
    joiner = new Joiner(asJoinNode, { addresses: [await downAddress()], dialTimeoutMs: 60_000 });
    vi.useFakeTimers();
    joiner.start();
    // The cut heals while the dial's SYNs are still being dropped; another peer reaches us.
    await vi.advanceTimersByTimeAsync(3000);
    expect(joiner.status()[0]).toMatchObject({ state: 'dialing' });
    node.connect(idOf(await newKey()));
    await vi.advanceTimersByTimeAsync(10);
    // The stuck dial would wait out its timeout; a fresh one goes out now.
    expect(node.signals[0]!.aborted).toBe(true);
    expect(node.dials).toBe(2);
    expect(joiner.status()[0]).toMatchObject({ state: 'dialing', failures: 0 });
    // A dial just started is left alone: it may be handshaking over a slow link.
    node.connect(idOf(await newKey()));
    await vi.advanceTimersByTimeAsync(10);
    expect(node.dials).toBe(2);
    expect(node.signals[1]!.aborted).toBe(false);
    // Nor is the replacement replaced in turn, however old: a slow handshake in a cluster where
    // connections keep coming up must not be restarted forever.
    await vi.advanceTimersByTimeAsync(3000);
    node.connect(idOf(await newKey()));
    await vi.advanceTimersByTimeAsync(10);
    expect(node.dials).toBe(2);
    expect(node.signals[1]!.aborted).toBe(false);
  });
});
