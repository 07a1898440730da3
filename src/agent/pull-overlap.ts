/**
 * Concurrent pulls that would bring the same events (issue 8, "after a partition heals";
 * docs/agent.md "Repair"). A member coming back from a partition connects to every member of
 * the other side within a second or so and pulls from each at once (anti-entropy.ts
 * `connected`); they hold the same backlog, so each sends all of it, and the returning member,
 * the one with the most to catch up, received and decoded every copy (dropping the repeats
 * only after reading them) while its CPU was what the catch-up waited for.
 *
 * So a pull's header (the responder's clock: the response brings nothing beyond it) is checked
 * against the headers of the other pulls running now. When another pull brings nearly all of
 * what this one would (all but a quarter at most: the other side's members each write a few
 * membership records as they reconnect, so their clocks rarely match exactly), this pull ends
 * after its header and is due again once that pull ends, however it ends (`ended` returns
 * it): asked with the clock that pull brought us to, the responder then sends only the rest.
 * A pull that still runs after `waitMs` lets the deferred ones go (`due`), so a responder that
 * trickles its answer holds the others back no longer than a silent one could. Pulls that
 * bring a snapshot take no part (installing one may need a push first).
 */
import type { PeerId } from '@libp2p/interface';
import { type ReadonlyVectorClock, vcGet } from '../core/clock/vector-clock.js';

/**
 * True when a response up to `vc` would bring us something, and at most a quarter of it is
 * neither ours already (`mine`) nor on its way up to `theirs`.
 */
export function mostlyCovered(
  vc: ReadonlyVectorClock,
  theirs: ReadonlyVectorClock,
  mine: ReadonlyVectorClock,
): boolean {
  let lacking = 0;
  let beyond = 0;
  for (const [origin, seq] of vc) {
    const have = vcGet(mine, origin);
    lacking += Math.max(0, seq - have);
    beyond += Math.max(0, seq - Math.max(have, vcGet(theirs, origin)));
  }
  return lacking > 0 && beyond * 4 <= lacking;
}

export interface PullOverlapDeps {
  /**
   * How long a deferred pull waits for the pull it deferred to: past this, while that one still
   * runs (a responder trickling its answer), the deferred pull is due anyway (`due`).
   */
  readonly waitMs: number;
  /** A deferred pull is due now: pull from `peer` without deferring again. */
  readonly due: (peer: PeerId) => void;
}

export class PullOverlap {
  /** Per peer pulled from now whose header came: the responder's clock. */
  private readonly heads = new Map<string, ReadonlyVectorClock>();
  /** Per peer pulled from now: the peers whose pulls ended deferring to it, with their timers. */
  private readonly deferred = new Map<string, Map<string, { peer: PeerId; timer: NodeJS.Timeout }>>();

  constructor(private readonly deps: PullOverlapDeps) {}

  /**
   * The pull from `peer` read its header. Returns the peer whose running pull brings nearly
   * every event this one would (this pull may end now, and is due again when that one ends),
   * or undefined (read on). With `mayDefer` false the pull reads on whatever runs, and only
   * serves as a cover for later ones.
   */
  header(
    peer: PeerId,
    vc: ReadonlyVectorClock,
    snapshot: boolean,
    mine: ReadonlyVectorClock,
    mayDefer = true,
  ): string | undefined {
    const id = peer.toString();
    if (snapshot) return undefined;
    for (const [other, theirs] of mayDefer ? this.heads : []) {
      if (other === id || !mostlyCovered(vc, theirs, mine)) continue;
      const waiting = this.deferred.get(other) ?? new Map<string, { peer: PeerId; timer: NodeJS.Timeout }>();
      clearTimeout(waiting.get(id)?.timer);
      const timer = setTimeout(() => {
        if (this.deferred.get(other)?.get(id)?.timer !== timer) return;
        this.deferred.get(other)?.delete(id);
        this.deps.due(peer);
      }, this.deps.waitMs);
      timer.unref();
      waiting.set(id, { peer, timer });
      this.deferred.set(other, waiting);
      return other;
    }
    this.heads.set(id, vc);
    return undefined;
  }

  /** The pull from `peer` ended: the peers that deferred to it, due now. */
  ended(peer: PeerId): PeerId[] {
    const id = peer.toString();
    this.heads.delete(id);
    const waiting = [...(this.deferred.get(id)?.values() ?? [])];
    this.deferred.delete(id);
    for (const w of waiting) clearTimeout(w.timer);
    return waiting.map((w) => w.peer);
  }
}
