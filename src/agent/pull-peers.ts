/**
 * Which connected peer an automatic anti-entropy pull goes to (anti-entropy.ts; docs/agent.md
 * "Repair"), and which peers it leaves alone for a while:
 *
 * - A peer whose pull stalled or failed is avoided for a while (6 × stallMs after a stall, one
 *   stallMs after a failure), unless it reconnects, or the pull failed while the peer was silent
 *   and it has been heard from since. One that stalls while its heartbeats keep coming is slow
 *   or hostile, and stays avoided.
 * - A peer whose snapshot we refused because we take no state from it (a new joiner takes its
 *   first one from a join peer only: snapshot-source.ts) is no alternative for one stallMs: it
 *   will serve the same snapshot again.
 * - Avoiding steers pulls to other peers that can help. When none can (every connected peer is
 *   avoided, or serves a snapshot we refuse), the avoided one with the shortest wait left is
 *   pulled from all the same: avoiding the only peer whose state we can take left a joiner
 *   without a state for 30 s (test/agent/anti-entropy-untrusted.test.ts), as avoiding the only
 *   peer left after a network cut left a node without repair (anti-entropy.test.ts, seed 2).
 */
import type { PeerId } from '@libp2p/interface';
import { type ReadonlyVectorClock, type VectorClock, vcLeq } from '../core/clock/vector-clock.js';

export interface PullPeersDeps {
  readonly now: () => number;
  /** A pull whose peer sends nothing for this long is abandoned (anti-entropy.ts). */
  readonly stallMs: number;
  readonly maxConcurrentPulls: number;
  readonly connectedPeers: () => PeerId[];
  /** Our delivered clock (read only). */
  readonly clock: () => VectorClock;
  /** The clock of a peer's last heartbeat, if any. */
  readonly peerClock: (id: string) => ReadonlyVectorClock | undefined;
  /** When a peer's last heartbeat arrived (same clock as `now`), if any. */
  readonly peerHeardAt?: (id: string) => number | undefined;
  /** A peer refused as a member of another cluster: never pulled from (peer-refusals.ts). */
  readonly refused?: (id: string) => boolean;
}

export class PullPeers {
  /**
   * Peers automatic pulls avoid until `until` (their pull stalled or failed at `at`); `silent`:
   * we had not heard from the peer for stallMs then (a cut link rather than a slow peer).
   */
  private readonly avoid = new Map<string, { until: number; at: number; silent: boolean }>();
  /** Peers whose snapshot we refused as an untrusted source, until when (ms). */
  private readonly untrusted = new Map<string, number>();

  constructor(private readonly deps: PullPeersDeps) {}

  /** Forgets what has expired (gone peers too). */
  expire(): void {
    const now = this.deps.now();
    for (const [id, a] of this.avoid) if (now >= a.until) this.avoid.delete(id);
    for (const [id, until] of this.untrusted) if (now >= until) this.untrusted.delete(id);
  }

  /** A pull from `id` ended well, or `id` reconnected: it is not avoided. */
  clear(id: string): void {
    this.avoid.delete(id);
  }

  /** A pull from `id` failed (`stalled`: its peer sent nothing for stallMs): avoid it a while. */
  failed(id: string, stalled: boolean): void {
    const now = this.deps.now();
    const heardAt = this.deps.peerHeardAt?.(id);
    this.avoid.set(id, {
      until: now + (stalled ? 6 : 1) * this.deps.stallMs,
      at: now,
      silent: heardAt === undefined || now - heardAt >= this.deps.stallMs,
    });
  }

  /** We refused `id`'s snapshot: we take no state from it (snapshot-source.ts). */
  refusedState(id: string): void {
    this.untrusted.set(id, this.deps.now() + this.deps.stallMs);
  }

  /** We installed a snapshot: who we take a state from may have changed. */
  installed(): void {
    this.untrusted.clear();
  }

  avoided(id: string): boolean {
    const a = this.avoid.get(id);
    if (a === undefined) return false;
    const heardAt = this.deps.peerHeardAt?.(id);
    const back = a.silent && heardAt !== undefined && heardAt > a.at;
    if (this.deps.now() < a.until && !back) return true;
    this.avoid.delete(id);
    return false;
  }

  /** Whether a pull triggered by an event about `id` (a heartbeat ahead of us) skips it. */
  skips(id: string): boolean {
    return this.avoided(id) || this.distrusted(id);
  }

  private distrusted(id: string): boolean {
    const until = this.untrusted.get(id);
    if (until === undefined) return false;
    if (this.deps.now() < until) return true;
    this.untrusted.delete(id);
    return false;
  }

  /**
   * A connected peer to pull from, not pulled from now (`running` pulls run; `busy`: pulled
   * from now, or its pull waits for another to end: pull-overlap.ts), not avoided, and not one
   * whose snapshot we just refused: one whose last heartbeat shows events we lack if there is
   * one, else any (random). When no such peer exists, nor one being pulled from now, the one
   * avoided the shortest is pulled from all the same (`orAvoided`), else one whose snapshot we
   * refused. Without `inSyncOk`, a peer is returned only if it may be ahead (its heartbeat shows
   * events we lack, or we never heard one); `inSync` says the chosen peer showed nothing we lack.
   */
  choose(
    running: number,
    busy: (id: string) => boolean,
    orAvoided = true,
    inSyncOk = true,
  ): { peer: PeerId; inSync: boolean } | undefined {
    if (running >= this.deps.maxConcurrentPulls) return undefined;
    const seen = new Set<string>();
    const free: PeerId[] = [];
    let soonest: { peer: PeerId; until: number } | undefined;
    let distrusted: PeerId | undefined;
    let unavoided = false; // a peer that may help, maybe being pulled from now
    for (const p of this.deps.connectedPeers()) {
      const id = p.toString();
      if (seen.has(id)) continue;
      seen.add(id);
      if (this.deps.refused?.(id) === true) continue;
      const until = this.avoided(id) ? (this.avoid.get(id)?.until ?? 0) : undefined;
      const untrusted = this.distrusted(id);
      if (until === undefined && !untrusted) unavoided = true;
      if (busy(id)) continue;
      if (until !== undefined) {
        if (until < (soonest?.until ?? Infinity)) soonest = { peer: p, until };
      } else if (untrusted) distrusted ??= p;
      else free.push(p);
    }
    if (free.length === 0) {
      const peer = orAvoided && !unavoided ? (soonest?.peer ?? distrusted) : undefined;
      return peer ? { peer, inSync: false } : undefined;
    }
    const mine = this.deps.clock();
    const ahead: PeerId[] = [];
    let unheard = 0;
    for (const p of free) {
      const vc = this.deps.peerClock(p.toString());
      if (vc === undefined) unheard++;
      else if (!vcLeq(vc, mine)) ahead.push(p);
    }
    if (ahead.length === 0 && unheard === 0 && !inSyncOk) return undefined;
    const from = ahead.length > 0 ? ahead : free;
    const peer = from[Math.floor(Math.random() * from.length)];
    return peer ? { peer, inSync: ahead.length === 0 && unheard === 0 } : undefined;
  }
}
