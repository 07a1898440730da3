/**
 * Divergence after a pull (docs/chaos.md "Merged now (refused before)"):
 * a peer sent a snapshot we cannot install, because it lacks events we hold, and we pushed it
 * what our log holds, and its snapshot still lacks them. When some of those events are no longer
 * in our log (folded into our own snapshot), we can never hand them over by events, and the
 * peer's snapshot, which holds events we lack, can never be installed here: unless a third
 * member still holds the missing events in its log, the two replicas stay apart for good.
 *
 * This does not heal anything. It makes the split loud: a counter (`divergedPulls`, metric
 * `smac_syncs_diverged_total`) and one error line per peer while it lasts.
 */
import type { Logger } from 'pino';
import { type ReadonlyVectorClock, vcGet } from '../core/clock/vector-clock.js';
import type { Store } from '../store/store.js';

/** How many events `clock` holds beyond `peerVc` that `store`'s log no longer holds. */
export function foldedBeyond(
  clock: ReadonlyVectorClock,
  peerVc: ReadonlyVectorClock,
  store: Pick<Store, 'eventsSince'>,
): number {
  let lacking = 0;
  for (const [origin, seq] of clock) lacking += Math.max(0, seq - vcGet(peerVc, origin));
  if (lacking === 0) return 0;
  let held = 0;
  for (const e of store.eventsSince(peerVc)) {
    if (e.seq <= vcGet(clock, e.origin)) held++;
    if (held >= lacking) return 0;
  }
  return lacking - held;
}

/** Tracks the peers we diverged from, so that each gets one error line while it lasts. */
export class DivergenceLog {
  private readonly peers = new Set<string>();

  constructor(
    private readonly log: Logger,
    private readonly counters: { divergedPulls: number },
  ) {}

  /** A pull from `peer` ended with its snapshot still lacking `folded` events we folded away. */
  diverged(peer: string, folded: number): void {
    this.counters.divergedPulls++;
    if (this.peers.has(peer)) return;
    this.peers.add(peer);
    this.log.error(
      { code: 'REPLICAS_DIVERGED', peer, foldedEvents: folded },
      "this agent and the peer each hold events the other lacks that neither log still holds (each folded them into its snapshot): unless another member holds them, the two replicas stay apart; restart one of them with an empty data directory (docs/chaos.md, 'two single nodes joined after both compacted')",
    );
  }

  /** A pull from `peer` ended without divergence: a later one logs again. */
  clear(peer: string): void {
    this.peers.delete(peer);
  }

  /** Peers currently diverged from. */
  list(): string[] {
    return [...this.peers];
  }
}
