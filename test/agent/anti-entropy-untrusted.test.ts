// A new joiner takes its first state only from its join peer (snapshot-source.ts). When its
// first pull from the join peer stalled, automatic pulls avoided that peer for 6 × stallMs
// (30 s at the agent's default) while its heartbeats kept coming, and went to the other
// members it met meanwhile, whose snapshots it refuses as untrusted sources: it stayed without
// a state all that time (test/agent/losing-joiner.test.ts, docs/agent.md "A member that joined
// the losing side"). A peer whose snapshot was refused as untrusted is no alternative: the
// stalled peer is pulled from again, as when it is the only one connected.
import type { PeerId } from '@libp2p/interface';
import { peerIdFromString } from '@libp2p/peer-id';
import { afterEach, describe, expect, it } from 'vitest';
import { AntiEntropy } from '../../src/agent/anti-entropy.js';
import type { SyncFrame, SyncService } from '../../src/net/sync-protocol.js';
import type { Store } from '../../src/store/store.js';
import { idOf, newKey } from '../net/helpers.js';
import { quiet, waitFor } from './helpers.js';

/** Every pull serves a snapshot, except the first one from `stallsOnce`, which hangs. */
class SnapshotSync {
  readonly pulls: string[] = [];
  open = 0;
  constructor(private stallsOnce: string | undefined) {}

  async *pull(peer: PeerId, ...[, opts]: [unknown, { signal?: AbortSignal }]): AsyncGenerator<SyncFrame> {
    const id = String(peer);
    this.pulls.push(id);
    this.open++;
    try {
      if (id === this.stallsOnce) {
        this.stallsOnce = undefined;
        await new Promise((_, reject) => {
          opts.signal?.addEventListener('abort', () => {
            reject(new Error('aborted'));
          });
        });
      }
      yield { type: 'header', vc: new Map([['x', 5]]), compacted: new Map([['x', 5]]), snapshot: true };
      yield { type: 'snapshot', snapshot: new Uint8Array([1]) };
      yield { type: 'end', events: 0 };
    } finally {
      this.open--;
    }
  }
}

let client: AntiEntropy | undefined;
afterEach(() => {
  client?.stop();
  client = undefined;
});

describe('anti-entropy for a joiner whose join peer stalled once', () => {
  it('pulls from the join peer again rather than only from peers whose snapshots it refuses', async () => {
    const [joinPeer, other] = (await Promise.all(
      [0, 1].map(async () => peerIdFromString(idOf(await newKey()))),
    )) as [PeerId, PeerId];
    const sync = new SnapshotSync(joinPeer.toString());
    const installed: string[] = [];
    const ae = new AntiEntropy({
      sync: sync as unknown as SyncService,
      store: undefined as unknown as Store, // not read: nothing is served or pushed here
      log: quiet,
      counters: { syncsStarted: 0, syncsFailed: 0, syncsStalled: 0, rejectedEvents: 0, divergedPulls: 0 },
      config: { maxConcurrentPulls: 3, stallMs: 200, timeoutMs: 60_000 },
      now: Date.now,
      clock: () => new Map(),
      connectedPeers: () => [joinPeer, other],
      peerClock: () => undefined,
      // Both keep sending heartbeats: the join peer's stall makes it "slow", avoided 6 × stallMs.
      peerHeardAt: () => Date.now(),
      receive: () => Promise.resolve(),
      install: (_bytes, _keepNewer, from) => {
        if (from !== joinPeer.toString()) return Promise.resolve('untrusted');
        installed.push(from);
        return Promise.resolve(true);
      },
      halted: () => false,
    });
    client = ae;
    await ae.trigger(joinPeer); // the first pull stalls: the join peer is avoided now
    // Periodic rounds, well within the 1.2 s the join peer stays avoided.
    for (let i = 0; i < 4 && installed.length === 0; i++) {
      ae.round();
      await waitFor(() => sync.open === 0 && ae.pulling().length === 0, 'the round’s pull to end');
    }
    expect(sync.pulls.filter((p) => p === joinPeer.toString()).length).toBe(2);
    expect(installed).toEqual([joinPeer.toString()]);
  });
});
