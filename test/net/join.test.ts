// The Joiner: retries a join address until its node is up, pauses while connected, resumes on drop.
import { createServer } from 'node:net';
import type { PrivateKey } from '@libp2p/interface';
import { afterEach, describe, expect, it } from 'vitest';
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
