/**
 * New events for connected peers that gossip does not reach yet (issue 8, "after a partition
 * heals"; docs/networking.md). Gossipsub sends to a peer only once identify and the
 * subscription exchange have run over its connection, so for the first second or two of a new
 * connection (a partition healing, a member restarting) a write would reach that peer only by
 * repair: two heartbeats showing us ahead, or the periodic round. So every batch the owner
 * publishes is also pushed (/smac/push/1) to each connected member that gossip does not list
 * as a subscriber of the events topic.
 *
 * One push at a time per peer: batches published meanwhile wait and go together in the next
 * push, at most `maxPending` envelopes per peer (beyond that, repair carries the rest). A push
 * that fails is logged and dropped; repair carries its events too.
 */
import type { PeerId } from '@libp2p/interface';
import type { Logger } from 'pino';

export interface GossipGapDeps {
  readonly connectedPeers: () => readonly PeerId[];
  /** Peers gossip knows to subscribe to the events topic: a publish reaches these. */
  readonly subscribers: () => readonly PeerId[];
  /** Whether a peer is a member (only members take pushes). */
  readonly isMember: (peer: string) => boolean;
  readonly push: (peer: PeerId, envelopes: readonly Uint8Array[], signal: AbortSignal) => Promise<unknown>;
  /** True while nothing may be sent (the agent is isolated or stopping). */
  readonly halted: () => boolean;
  readonly timeoutMs: number;
  readonly maxPending: number;
  readonly log: Pick<Logger, 'debug'>;
}

export interface GossipGapStats {
  /** Pushes started to peers gossip did not reach. */
  pushes: number;
  pushedEnvelopes: number;
  /** Envelopes left to repair because a peer's queue was full, or its push failed. */
  dropped: number;
}

export class GossipGap {
  /** Per peer with a push in flight: the envelopes waiting for the next one. */
  private readonly waiting = new Map<string, Uint8Array[]>();
  readonly stats: GossipGapStats = { pushes: 0, pushedEnvelopes: 0, dropped: 0 };

  constructor(private readonly d: GossipGapDeps) {}

  /** The owner published `envelopes` by gossip: push them to the members gossip misses. */
  published(envelopes: readonly Uint8Array[]): void {
    if (envelopes.length === 0 || this.d.halted()) return;
    const subscribed = new Set(this.d.subscribers().map((p) => p.toString()));
    const seen = new Set<string>();
    for (const peer of this.d.connectedPeers()) {
      const id = peer.toString();
      if (seen.has(id) || subscribed.has(id)) continue;
      seen.add(id);
      if (!this.d.isMember(id)) continue;
      const queue = this.waiting.get(id);
      if (queue === undefined) {
        this.waiting.set(id, []);
        void this.run(peer, envelopes);
        continue;
      }
      const room = Math.max(0, this.d.maxPending - queue.length);
      queue.push(...envelopes.slice(0, room));
      this.stats.dropped += envelopes.length - Math.min(room, envelopes.length);
    }
  }

  /** Pushes `first`, then whatever queued up for the peer meanwhile, until nothing waits. */
  private async run(peer: PeerId, first: readonly Uint8Array[]): Promise<void> {
    const id = peer.toString();
    let batch: readonly Uint8Array[] = first;
    try {
      while (batch.length > 0 && !this.d.halted()) {
        this.stats.pushes++;
        this.stats.pushedEnvelopes += batch.length;
        try {
          await this.d.push(peer, batch, AbortSignal.timeout(this.d.timeoutMs));
        } catch (e) {
          this.stats.dropped += batch.length;
          this.d.log.debug({ peer: id, err: e }, 'could not push new events to a peer gossip misses');
        }
        batch = this.waiting.get(id) ?? [];
        this.waiting.set(id, []);
      }
    } finally {
      this.waiting.delete(id);
    }
  }
}
