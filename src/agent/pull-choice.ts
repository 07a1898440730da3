/**
 * Which connected peer an automatic pull goes to (docs/agent.md "Repair", "Which peer"): one
 * not pulled from now (nor waiting for another pull to end: pull-overlap.ts) and not avoided,
 * preferring one whose last heartbeat shows events we lack. Pure: anti-entropy.ts holds the
 * state it reads.
 */
import type { PeerId } from '@libp2p/interface';
import { type ReadonlyVectorClock, vcLeq } from '../core/clock/vector-clock.js';

export interface PullChoiceInput {
  readonly connected: readonly PeerId[];
  /** Our delivered clock. */
  readonly mine: ReadonlyVectorClock;
  /** A peer pulled from now, or whose pull waits for another to end. */
  readonly busy: (id: string) => boolean;
  /** A peer refused as a member of another cluster (peer-refusals.ts). */
  readonly refused: (id: string) => boolean;
  /** Until when automatic pulls avoid the peer; undefined when they do not. */
  readonly avoidedUntil: (id: string) => number | undefined;
  /** The clock of the peer's last heartbeat, if any. */
  readonly peerClock: (id: string) => ReadonlyVectorClock | undefined;
  /** When every peer we may pull from is avoided, the one avoided the shortest. */
  readonly orAvoided: boolean;
  /** Also a peer whose heartbeat shows nothing we lack. */
  readonly inSyncOk: boolean;
}

/**
 * A peer to pull from: one whose last heartbeat shows events we lack if there is one, else any
 * (random). Avoiding steers pulls to other peers; when every connected peer is avoided, the
 * one avoided the shortest is returned all the same (`orAvoided`): avoiding the only peer left,
 * whose pull stalled while a network cut lasted, would leave us without repair long after the
 * cut healed. Without `inSyncOk`, a peer is returned only if it may be ahead (its heartbeat
 * shows events we lack, or we never heard one); `inSync` says the chosen peer showed nothing
 * we lack.
 */
export function choosePeer(c: PullChoiceInput): { peer: PeerId; inSync: boolean } | undefined {
  const seen = new Set<string>();
  const free: PeerId[] = [];
  let soonest: { peer: PeerId; until: number } | undefined;
  let unavoided = false; // a peer we may pull from, maybe being pulled from now
  for (const p of c.connected) {
    const id = p.toString();
    if (seen.has(id)) continue;
    seen.add(id);
    if (c.refused(id)) continue;
    const until = c.avoidedUntil(id);
    if (until === undefined) unavoided = true;
    if (c.busy(id)) continue;
    if (until === undefined) free.push(p);
    else if (until < (soonest?.until ?? Infinity)) soonest = { peer: p, until };
  }
  if (free.length === 0) {
    const peer = c.orAvoided && !unavoided ? soonest?.peer : undefined;
    return peer ? { peer, inSync: false } : undefined;
  }
  const ahead: PeerId[] = [];
  let unheard = 0;
  for (const p of free) {
    const vc = c.peerClock(p.toString());
    if (vc === undefined) unheard++;
    else if (!vcLeq(vc, c.mine)) ahead.push(p);
  }
  if (ahead.length === 0 && unheard === 0 && !c.inSyncOk) return undefined;
  const from = ahead.length > 0 ? ahead : free;
  const peer = from[Math.floor(Math.random() * from.length)];
  return peer ? { peer, inSync: ahead.length === 0 && unheard === 0 } : undefined;
}

/**
 * Peers automatic pulls avoid for a while after their pull stalled or failed, unless the pull
 * failed while the peer was silent (a cut link rather than a slow peer) and it has been heard
 * from since. A new connection clears it (anti-entropy.ts `connected`).
 */
export class PeerAvoidance {
  /** Avoided until `until`; the pull failed at `at`; `silent`: the peer was not heard then. */
  private readonly avoid = new Map<string, { until: number; at: number; silent: boolean }>();

  constructor(
    private readonly now: () => number,
    /** When a peer's last heartbeat arrived, if any. */
    private readonly heardAt: (id: string) => number | undefined,
  ) {}

  /** A pull from `id` failed: avoid it for `forMs`; it was silent if not heard for `silentMs`. */
  failed(id: string, forMs: number, silentMs: number): void {
    const now = this.now();
    const heardAt = this.heardAt(id);
    this.avoid.set(id, {
      until: now + forMs,
      at: now,
      silent: heardAt === undefined || now - heardAt >= silentMs,
    });
  }

  delete(id: string): void {
    this.avoid.delete(id);
  }

  /** Forgets what expired (gone peers too). */
  sweep(now: number): void {
    for (const [id, a] of this.avoid) if (now >= a.until) this.avoid.delete(id);
  }

  /** Until when `id` is avoided; undefined when it is not (any more). */
  until(id: string): number | undefined {
    const a = this.avoid.get(id);
    if (a === undefined) return undefined;
    const heardAt = this.heardAt(id);
    const back = a.silent && heardAt !== undefined && heardAt > a.at;
    if (this.now() < a.until && !back) return a.until;
    this.avoid.delete(id);
    return undefined;
  }
}
