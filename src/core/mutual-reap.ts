/**
 * Mutual reaps (issue 7; docs/agent.md "Reaping"). Pure: no I/O, no clock.
 *
 * A split longer than `reapAfterMs` (or a force-leave on each side) makes each side agree a cut
 * that retires the other side's epochs: side X reaps Y's members and Y reaps X's. Each member
 * then sees its own epoch reaped and would rebase, emptying its store for a peer's state that
 * is itself to be given up: nobody keeps a state. So of two such reaps one is *void*, the same
 * everywhere, by a rule computed from the two reap records alone:
 *
 * - Two reaps with a cut are **mutual** when each one's member reported on the other (the member
 *   of X's reap is on Y's side and the other way round) and no member reported on both (the
 *   sides are disjoint: a member that reported on both saw both and keeps its state anyway).
 *   The *side* of a reap is the participants that reported on it: those that agreed the cut.
 *   Participants excused (reaped themselves) are not part of it.
 * - The side with **more members wins**; on a tie, the side holding the **smallest member id**.
 *   The losing reap is void: it retires nothing, limits nothing, and no member rebases for it.
 *   The winning reap stands: the losing side's members are past its cut and rebase (re-running
 *   their writes beyond the cut).
 *
 * The decision reads only the two records (their epochs, reporters and cuts), so it does not
 * depend on the order in which a member learned them, nor on who asks: a member that joins
 * later computes the same from the same records. In a state that holds both records
 * (reaping.ts `reapStatesOf`) the void one is dropped; a member that sees the other side's
 * record only in a peer's snapshot (the other side's reports are events beyond the cut its own
 * side agreed, so they never reach its state) compares it with its own state's reaps
 * (src/agent/snapshot-exchange.ts).
 */
import { peerOfOrigin } from './origin.js';
import type { ReapState } from './reaping.js';

/** The members that agreed a reap's cut: its participants that reported, sorted. */
export function sideOf(s: ReapState): string[] {
  return s.participants.filter((p) => s.reports.has(p));
}

/** Whether `x` and `y` are a mutual reap (see the module comment). */
export function isMutual(x: ReapState, y: ReapState): boolean {
  if (x.cut === undefined || y.cut === undefined || x.epoch === y.epoch) return false;
  const sx = sideOf(x);
  const sy = sideOf(y);
  if (!sx.includes(peerOfOrigin(y.epoch)) || !sy.includes(peerOfOrigin(x.epoch))) return false;
  return !sx.some((p) => sy.includes(p));
}

/**
 * Negative when side `a` ranks before side `b` (wins), positive when after: more members first,
 * then the side holding the smallest member id. Disjoint non-empty sides never compare equal.
 */
export function compareSides(a: readonly string[], b: readonly string[]): number {
  if (a.length !== b.length) return b.length - a.length;
  const minA = [...a].sort()[0] ?? '';
  const minB = [...b].sort()[0] ?? '';
  return minA < minB ? -1 : minA > minB ? 1 : 0;
}

/** Whether reap `x` is void: it is mutual with a reap among `others` whose side wins. */
export function isVoidAgainst(x: ReapState, others: Iterable<ReapState>): boolean {
  for (const y of others) if (isMutual(x, y) && compareSides(sideOf(y), sideOf(x)) < 0) return true;
  return false;
}

/** The epochs among `states` whose reap is void: each loses a mutual reap to another of them. */
export function voidEpochs(states: Iterable<ReapState>): Set<string> {
  const all = [...states].filter((s) => s.cut !== undefined);
  return new Set(all.filter((s) => isVoidAgainst(s, all)).map((s) => s.epoch));
}

/**
 * Whether a side `side` that reaped the members `reaped` could lose a mutual reap to them: the
 * reaped members, as a side of their own (or any part of them), would rank first. A member of
 * such a side keeps the client batches of its writes beyond what the reaped members hold, so it
 * can re-run them should it rebase (src/agent/compaction.ts). Any part of `reaped` ranks no
 * better than the whole: a smaller part loses on size, and a part of equal size is the whole.
 */
export function mayLoseTo(side: readonly string[], reaped: readonly string[]): boolean {
  return reaped.length > 0 && compareSides(reaped, side) < 0;
}
