// A pull that ends apart from the peer (src/agent/divergence.ts): counted as diverged only when
// no member known to both may still bring the gap (`bridged`), and a peer refused as a member
// of another cluster is never pulled from (`refused`). Fake sync: the peer's snapshot lacks the
// 40 events we folded into ours (our log holds none of them), and holds its own 40.
import type { PeerId } from '@libp2p/interface';
import { peerIdFromString } from '@libp2p/peer-id';
import { describe, expect, it } from 'vitest';
import { AntiEntropy } from '../../src/agent/anti-entropy.js';
import type { SyncFrame, SyncService } from '../../src/net/sync-protocol.js';
import type { Store } from '../../src/store/store.js';
import { idOf, newKey } from '../net/helpers.js';
import { quiet } from './helpers.js';

function setup(peer: PeerId, opts: { bridged?: boolean; refused?: boolean }) {
  const pulls: string[] = [];
  const sync = {
    // eslint-disable-next-line @typescript-eslint/require-await
    async *pull(p: PeerId): AsyncGenerator<SyncFrame> {
      pulls.push(p.toString());
      const vc = new Map([['peer~1', 40]]);
      yield { type: 'header', vc, compacted: vc, snapshot: true };
      yield { type: 'snapshot', snapshot: new Uint8Array([1]) };
      yield { type: 'end', events: 0 };
    },
    push: () => Promise.resolve(0),
  };
  const counters = { syncsStarted: 0, syncsFailed: 0, syncsStalled: 0, rejectedEvents: 0, divergedPulls: 0 };
  const ae = new AntiEntropy({
    sync: sync as unknown as SyncService,
    store: { eventsSince: () => [][Symbol.iterator]() } as unknown as Store, // holds none we folded
    log: quiet,
    counters,
    config: { maxConcurrentPulls: 3, stallMs: 5_000, timeoutMs: 60_000 },
    now: Date.now,
    clock: () => new Map([['self~1', 40]]),
    connectedPeers: () => [peer],
    peerClock: () => undefined,
    refused: () => opts.refused === true,
    bridged: () => opts.bridged === true,
    receive: () => Promise.resolve(),
    install: () => Promise.resolve(false), // it lacks our events: never installed
    halted: () => false,
  });
  return { ae, counters, pulls };
}

describe('a pull that ends apart from the peer', () => {
  it('is counted as diverged when no member known to both can bring the gap', async () => {
    const peer = peerIdFromString(idOf(await newKey()));
    const { ae, counters, pulls } = setup(peer, {});
    await ae.trigger(peer);
    expect(pulls).toHaveLength(2); // pulled, pushed, pulled again
    expect(counters.divergedPulls).toBe(1);
    expect(ae.divergence.list()).toEqual([peer.toString()]);
  });

  it('is not counted when we share a member with the peer (a false report before)', async () => {
    const peer = peerIdFromString(idOf(await newKey()));
    const { ae, counters, pulls } = setup(peer, { bridged: true });
    await ae.trigger(peer);
    expect(pulls).toHaveLength(2);
    expect(counters.divergedPulls).toBe(0);
    expect(ae.divergence.list()).toEqual([]);
  });

  it('never happens with a peer refused as a member of another cluster', async () => {
    const peer = peerIdFromString(idOf(await newKey()));
    const { ae, counters, pulls } = setup(peer, { refused: true });
    await ae.trigger(peer);
    ae.round();
    await ae.syncAll();
    expect(pulls).toEqual([]);
    expect(counters.syncsStarted).toBe(0);
  });
});
