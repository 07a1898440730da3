/**
 * Where a rebase from a foreign epoch (src/agent/rebase.ts `rebaseFromForeign`) splits our own
 * events: those before the point are kept (handed over, and carried across the emptied store:
 * rebase-carry.ts), the client writes from the point on are re-run.
 */
import { vcGet } from '../core/clock/vector-clock.js';
import { peerOfOrigin } from '../core/origin.js';
import type { Replica } from '../core/replica.js';
import type { Store } from '../store/store.js';
import { firstOwnBeyond } from './rebase-ops.js';

export interface ForeignPoint {
  /** Our first event to re-run (of any epoch of ours), or undefined when none is. */
  readonly first: { origin: string; seq: number } | undefined;
  /** Our current epoch's events up to here are handed over. */
  readonly safe: number;
  /** Our current epoch's cut, when it is reaped too. */
  readonly ownCut: number | undefined;
}

/**
 * The point for a rebase from `epoch`, retired at `cut`, with `also` (other epochs a peer's
 * state showed retired below what we hold).
 */
export function foreignPoint(
  d: { readonly peerId: string; readonly store: Store; readonly replica: () => Replica },
  epoch: string,
  cut: number,
  also: ReadonlyMap<string, number>,
): ForeignPoint {
  const replica = d.replica();
  const self = replica.id;
  // Every foreign epoch we hold past a cut (the state's, and `also`: those the peer's state
  // showed): an event of ours that follows any of them is held by no other replica.
  const cuts = new Map<string, number>();
  const pastCuts = [...also, ...replica.pastCut().map((p): [string, number] => [p.epoch, p.cut])];
  for (const [e, c] of pastCuts) if (peerOfOrigin(e) !== d.peerId) cuts.set(e, c);
  cuts.set(epoch, cut);
  // Our own epoch reaped too (two members reaped together, one holding the other's events
  // beyond its cut: the nemesis's opposite-reaps fault): every replica refuses our events
  // beyond our own cut, so those are re-run as well, and none is handed over
  // (test/agent/rebase-foreign-own-cut.test.ts lost the writes in between before).
  const ownCut = replica.reapOf(self)?.cut;
  // Our older epochs too (an unclean restart took a new one): the first event of ours, of any
  // epoch, after the point (test/agent/rebase-older-epoch.test.ts).
  const clock = replica.clock();
  const mine = new Set([...clock.keys()].filter((o) => peerOfOrigin(o) === d.peerId));
  mine.add(self);
  const beyond = firstOwnBeyond(d.store, mine, self, clock, cuts);
  const first =
    ownCut !== undefined && (beyond === undefined || (beyond.origin === self && beyond.seq > ownCut + 1))
      ? { origin: self, seq: ownCut + 1 }
      : beyond;
  const safe = first === undefined ? vcGet(clock, self) : first.origin === self ? first.seq - 1 : 0;
  return { first, safe, ownCut };
}
