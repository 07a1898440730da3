// Repair after a partition heals (issue 8): a pull that stalled or failed across the cut makes
// automatic pulls avoid the peer for a while, but a new connection to it ends that at once, so
// the first pull after the heal goes to the peer that was cut off.
import type { PeerId } from '@libp2p/interface';
import { peerIdFromString } from '@libp2p/peer-id';
import { afterEach, describe, expect, it } from 'vitest';
import { AntiEntropy } from '../../src/agent/anti-entropy.js';
import type { SyncFrame, SyncService } from '../../src/net/sync-protocol.js';
import type { Store } from '../../src/store/store.js';
import { idOf, newKey } from '../net/helpers.js';
import { quiet, waitFor } from './helpers.js';

/** A link that can be cut: pulls across a cut hang until aborted, or fail when it drops. */
class CuttableSync {
  readonly cut = new Set<string>();
  readonly pulls: string[] = [];
  readonly finished: string[] = [];
  private readonly drops = new Map<string, (() => void)[]>();

  /** The old connection to `id` closes: pulls hanging on it fail now. */
  drop(id: string): void {
    for (const fail of this.drops.get(id) ?? []) fail();
    this.drops.delete(id);
  }

  /** Resolves never: rejects when the pull is aborted or its connection drops. */
  private hang(id: string, signal: AbortSignal | undefined): Promise<never> {
    return new Promise((_, reject) => {
      signal?.addEventListener('abort', () => {
        reject(new Error('aborted'));
      });
      const fails = this.drops.get(id) ?? [];
      fails.push(() => {
        reject(new Error('connection closed'));
      });
      this.drops.set(id, fails);
    });
  }

  /** The sync service's pull: (peer, our clock, options); the clock does not matter here. */
  async *pull(peer: PeerId, ...[, opts]: [unknown, { signal?: AbortSignal }]): AsyncGenerator<SyncFrame> {
    this.pulls.push(String(peer));
    if (this.cut.has(String(peer))) await this.hang(String(peer), opts.signal);
    yield { type: 'header', vc: new Map(), compacted: new Map(), snapshot: false };
    yield { type: 'end', events: 0 };
    this.finished.push(String(peer));
  }
}

let client: AntiEntropy | undefined;
afterEach(() => {
  client?.stop();
  client = undefined;
});

/** When each peer's last heartbeat arrived (ms, Date.now). */
const heard = new Map<string, number>();

async function partitioned(
  stallMs: number,
  others: PeerId[] = [],
): Promise<{ ae: AntiEntropy; sync: CuttableSync; peer: PeerId }> {
  const peer = peerIdFromString(idOf(await newKey()));
  const sync = new CuttableSync();
  sync.cut.add(peer.toString());
  // Nothing is served, pushed, received or installed here: only which pulls run matters.
  const inert = {
    store: undefined as unknown as Store,
    receive: () => Promise.resolve(),
    install: () => Promise.resolve(true),
    halted: () => false,
    peerClock: () => undefined,
  };
  const ae = new AntiEntropy({
    ...inert,
    sync: sync as unknown as SyncService,
    log: quiet,
    counters: { syncsStarted: 0, syncsFailed: 0, syncsStalled: 0, rejectedEvents: 0, divergedPulls: 0 },
    config: { maxConcurrentPulls: 3, stallMs, timeoutMs: 60_000 },
    now: Date.now,
    peerHeardAt: (id) => heard.get(id),
    clock: () => new Map(),
    connectedPeers: () => [peer, ...others],
  });
  client = ae;
  return { ae, sync, peer };
}

describe('anti-entropy after a partition heals', () => {
  it('pulls at once from a peer that reconnects, though its pull stalled during the cut', async () => {
    const { ae, sync, peer } = await partitioned(200);
    await ae.trigger(peer); // stalls across the cut: the peer is avoided now
    expect(sync.finished).toEqual([]);
    sync.cut.clear();
    await ae.trigger(peer); // still avoided: a heartbeat-driven pull skips it
    expect(sync.pulls).toHaveLength(1);
    await ae.connected(peer);
    expect(sync.pulls).toHaveLength(2);
    expect(sync.finished).toEqual([peer.toString()]);
  });

  it('pulls again once a pull stuck on the old connection fails, when the peer reconnects meanwhile', async () => {
    const { ae, sync, peer } = await partitioned(60_000);
    const stuck = ae.trigger(peer);
    await waitFor(() => sync.pulls.length === 1, 'the pull across the cut to start');
    sync.cut.clear();
    const reconnected = ae.connected(peer); // the new connection is up; the old pull still hangs
    sync.drop(peer.toString()); // the old connection closes: its pull fails
    await stuck;
    await reconnected;
    expect(sync.pulls).toHaveLength(2);
    expect(sync.finished).toEqual([peer.toString()]);
  });

  it('pulls again from a peer heard from after its pull failed while it was silent (the connection survived)', async () => {
    const { ae, sync, peer } = await partitioned(200);
    heard.set(peer.toString(), Date.now() - 10_000); // silent since the cut began
    await ae.trigger(peer); // stalls: the link is down, not the peer slow
    sync.cut.clear();
    await ae.trigger(peer); // nothing heard yet: still avoided
    expect(sync.pulls).toHaveLength(1);
    heard.set(peer.toString(), Date.now() + 1); // a heartbeat over the healed link, after the failure
    await ae.trigger(peer);
    expect(sync.pulls).toHaveLength(2);
    expect(sync.finished).toEqual([peer.toString()]);
  });

  it('keeps avoiding a peer that stalled a pull while it kept sending heartbeats (slow or hostile)', async () => {
    // Another peer can serve: rounds go to it. (With no other peer connected, the avoided one
    // is pulled from all the same rather than going without repair: anti-entropy.test.ts.)
    const other = peerIdFromString(idOf(await newKey()));
    const { ae, sync, peer } = await partitioned(200, [other]);
    // Its heartbeats keep coming all along (every 20 ms, well within the 200 ms stall time).
    const beat = (): void => void heard.set(peer.toString(), Date.now());
    beat();
    const beats = setInterval(beat, 20);
    try {
      await ae.trigger(peer);
      await ae.trigger(peer);
      ae.round();
      await waitFor(() => sync.finished.includes(other.toString()), 'a pull from the other peer');
      expect(sync.pulls.filter((p) => p === peer.toString())).toHaveLength(1);
    } finally {
      clearInterval(beats);
    }
  });
});
