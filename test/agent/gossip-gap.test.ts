// New events go by a direct push to connected members that gossip does not reach yet
// (src/agent/gossip-gap.ts; issue 8: after a heal, gossipsub skips a peer until the
// subscription exchange has run on the new connection).
import type { PeerId } from '@libp2p/interface';
import { describe, expect, it } from 'vitest';
import { GossipGap, type GossipGapDeps } from '../../src/agent/gossip-gap.js';

const peer = (id: string): PeerId => ({ toString: () => id }) as unknown as PeerId;
const env = (n: number): Uint8Array => new Uint8Array([n]);

interface Pushed {
  readonly to: string;
  readonly envelopes: number[];
  readonly done: () => void;
  readonly fail: (e: Error) => void;
}

function setup(over: Partial<GossipGapDeps> = {}): { gap: GossipGap; pushes: Pushed[] } {
  const pushes: Pushed[] = [];
  const gap = new GossipGap({
    connectedPeers: () => [peer('a'), peer('b'), peer('b'), peer('stranger')],
    subscribers: () => [peer('a')],
    isMember: (id) => id !== 'stranger',
    push: (p, envelopes) =>
      new Promise((resolve, reject) => {
        pushes.push({
          to: p.toString(),
          envelopes: envelopes.map((e) => e[0] ?? -1),
          done: () => {
            resolve(envelopes.length);
          },
          fail: reject,
        });
      }),
    halted: () => false,
    timeoutMs: 10_000,
    maxPending: 3,
    log: { debug: () => undefined },
    ...over,
  });
  return { gap, pushes };
}

const settle = async (): Promise<void> => {
  for (let i = 0; i < 5; i++) await Promise.resolve();
};

describe('pushing new events to members gossip does not reach', () => {
  it('pushes a published batch to each connected member that is not a subscriber, once', () => {
    const { gap, pushes } = setup();
    gap.published([env(1), env(2)]);
    expect(pushes.map((p) => [p.to, p.envelopes])).toEqual([['b', [1, 2]]]);
    expect(gap.stats).toMatchObject({ pushes: 1, pushedEnvelopes: 2, dropped: 0 });
  });

  it('sends nothing when every connected member subscribes, or while halted', () => {
    const all = setup({ subscribers: () => [peer('a'), peer('b')] });
    all.gap.published([env(1)]);
    expect(all.pushes).toEqual([]);
    const halted = setup({ halted: () => true });
    halted.gap.published([env(1)]);
    expect(halted.pushes).toEqual([]);
  });

  it('runs one push per peer: batches published meanwhile go together next, bounded', async () => {
    const { gap, pushes } = setup();
    gap.published([env(1)]);
    gap.published([env(2), env(3)]);
    gap.published([env(4), env(5)]);
    expect(pushes).toHaveLength(1);
    pushes[0]?.done();
    await settle();
    expect(pushes.map((p) => p.envelopes)).toEqual([[1], [2, 3, 4]]);
    expect(gap.stats.dropped).toBe(1);
    pushes[1]?.done();
    await settle();
    expect(pushes).toHaveLength(2);
    // Idle again: the next batch starts a push at once.
    gap.published([env(6)]);
    expect(pushes.map((p) => p.envelopes)).toEqual([[1], [2, 3, 4], [6]]);
  });

  it('a failed push is counted and the next batch still goes', async () => {
    const { gap, pushes } = setup();
    gap.published([env(1)]);
    gap.published([env(2)]);
    pushes[0]?.fail(new Error('stream reset'));
    await settle();
    expect(pushes.map((p) => p.envelopes)).toEqual([[1], [2]]);
    expect(gap.stats.dropped).toBe(1);
  });
});
