/**
 * Mutual reaps (issue 7; docs/agent.md "Reaping"). Pure: no I/O, no clock.
 *
 * A split longer than `reapAfterMs` (or a force-leave on each side) makes each side agree a cut
 * that retires the other sides' epochs. Each member then sees its own epoch reaped and would
 * rebase, emptying its store for a peer's state that is itself to be given up: nobody keeps a
 * state. So exactly one side keeps its state, and the reaps of the others are *void*, the same
 * everywhere, by a rule computed from the reap records alone (`judge`):
 *
 * - Two reaps with a cut are **mutual** when each one's member reported on the other (the member
 *   of X's reap is on Y's side and the other way round) and no member reported on both. The
 *   *side* of a reap is the participants that reported on it (those that agreed the cut);
 *   participants excused (reaped themselves) are not part of it. Where the report sets' tags
 *   are known (a replica's state), each member must also have reported under the very epoch
 *   the other reap retired: a member reaped under an epoch it left (it rebased) that later
 *   reaps its reapers from its new epoch made the two reaps one after the other, not in one
 *   split (seed 1 with 4 agents lost writes so: test/core/mutual-reap-sequential). A reap
 *   mutual with some other is *contested*.
 * - The contested reaps whose sides share a member, transitively, are one **group** (one side
 *   of the split: its reaps of the different members of the other sides). Groups that a mutual
 *   pair links, transitively, are one **conflict**: with two sides, the two groups; with three
 *   sides that each reaped the others, all three.
 * - In each conflict the group with **more members wins**; on a tie, the group holding the
 *   **smallest member id** (groups are disjoint: never equal). Every contested reap of the
 *   other groups is void: it retires nothing, limits nothing, and no member rebases for it;
 *   the winner's reaps stand, and every member of the other groups is past a cut and rebases
 *   onto the winner's state, re-running its writes beyond the cut. A losing group's reaps of
 *   each other are void too, although pairwise one of them would win: with sides {a,b}, {c,d}
 *   and {e}, {c,d} beat {e}, but {c,d} lose to {a,b}; had e rebased onto {c,d}'s state, it
 *   would be given up with it (the seeded simulation forked so: test/core/mutual-reap-sides).
 * - A losing group's record of an epoch that the winner reaped too, at its own cut, is void
 *   even when it is not contested (the member of that epoch had moved to the winner's side).
 * - **Undecided.** A member learns the other sides' records one peer's state at a time. With
 *   only {c,d}'s and {e}'s records, a and b (reaped by both) may be a side whose records it has
 *   not seen, and that side would win. So when the members a conflict's groups reaped that no
 *   group holds would rank first as one side (`mayLoseTo`: any part of them ranks no better),
 *   the conflict is *undecided*: no member rebases for its reaps and every member keeps its
 *   state, until the records that decide it arrive. The price: should those members really be
 *   dead, the sides stay apart until they return (or are forgotten by an operator). Unless
 *   every one of them is seen writing under an epoch nobody reaped (`held`, the origins the
 *   caller's states hold): each rebased and emptied its store, so no member is left to hold
 *   records of theirs (seeds 9344 and 9346 of three sides and a mover: they took a state for
 *   reaps of them that no conflict touches, and the conflict stayed undecided for good).
 *
 * Why these are safe: a reap that stands retires a member whose side gives up its state; the
 * records of a side that gives up its state are events beyond cuts the winner agreed, so they
 * never reach the surviving state, and voiding them changes nothing there. A loser rebases only
 * for a reap of the winner, decided, and takes its state only from a member holding that reap
 * (src/agent/snapshot-exchange.ts): the winner, or a loser that rebased already. Two records
 * of one epoch (from two states) are judged each on its own.
 *
 * The decision reads only the records (their epochs, reporters and cuts), so it does not depend
 * on the order in which a member learned them, nor on who asks: a member that joins later
 * computes the same from the same records. In a state that holds several sides' records
 * (reaping.ts `reapStatesOf`) the void ones are dropped; an undecided reap keeps its cut there
 * (voiding it would lift its cut while the member it retires may lose). A member that sees the
 * other sides' records only in a peer's snapshot (their reports are events beyond the cut its
 * own side agreed, so they never reach its state) judges them with its own state's
 * (src/agent/snapshot-exchange.ts).
 *
 * A side that splits again after it agreed a reap (a member that reported with it moved away,
 * and the two parts reaped each other) is not decided here at once: a loser may rebase onto the
 * part that loses the second split, and then holds that part's epoch beyond a cut that stands;
 * it rebases again from that epoch (src/agent/rebase.ts), for a reap that `firmlyStands` only.
 * What is still open is in docs/agent.md ("Not covered yet").
 */
import { peerOfOrigin } from './origin.js';
import type { ReapState } from './reaping.js';

/** The members that agreed a reap's cut: its participants that reported, sorted. */
export function sideOf(s: ReapState): string[] {
  return s.participants.filter((p) => s.reports.has(p));
}

/**
 * Whether `x` and `y` are a mutual reap (see the module comment): besides the sides, the member
 * of each reported on the other under the epoch the other reaped. A member reaped under an epoch
 * it no longer writes under (it rebased) that later reaps its reapers is not: its new reap came
 * after the old one, not in the same split (test/core/mutual-reap-sequential.test.ts).
 */
export function isMutual(x: ReapState, y: ReapState): boolean {
  if (x.cut === undefined || y.cut === undefined || x.epoch === y.epoch) return false;
  const sx = sideOf(x);
  const sy = sideOf(y);
  if (!sx.includes(peerOfOrigin(y.epoch)) || !sy.includes(peerOfOrigin(x.epoch))) return false;
  if (!reportedUnder(x, y.epoch) || !reportedUnder(y, x.epoch)) return false;
  return !sx.some((p) => sy.includes(p));
}

/**
 * Whether the member of `epoch` reported on `s` under `epoch`: from the reports' tags (reaping.ts
 * `reportedUnder`); yes when they are not known (records without tags: the rule reads ids only).
 */
function reportedUnder(s: ReapState, epoch: string): boolean {
  const under = s.reportedUnder?.get(peerOfOrigin(epoch));
  return under === undefined || under.includes(epoch);
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

/** Where a reap stands among the records it is judged with (`judge`). */
export type Standing = 'stands' | 'void' | 'undecided';

interface Group {
  /** The members of the group's sides, sorted. */
  members: string[];
  reaps: ReapState[];
}

/**
 * Where every agreed reap among `states` stands (see the module comment): `void` for a contested
 * reap of a group that is not its conflict's winner, `undecided` for a contested reap of a
 * conflict whose winner could still lose to members it reaped that no record shows as a side,
 * `stands` otherwise. Reaps without a cut are left out. Computed from the records alone: the
 * same for any order of `states`, and two records of one epoch (from two states) are judged
 * each on its own. `held` (origins the caller's states hold) only turns an undecided conflict
 * into its decision (see the module comment), never one decision into another.
 */
export function judge(states: Iterable<ReapState>, held: Iterable<string> = []): Map<ReapState, Standing> {
  const records = [...states];
  const all = records.filter((s) => s.cut !== undefined);
  const reapedEpochs = new Set(records.map((s) => s.epoch));
  // Peers seen writing in an epoch nobody reaped: they gave up the state they were reaped in.
  const movedOn = new Set([...held].filter((o) => !reapedEpochs.has(o)).map(peerOfOrigin));
  const out = new Map<ReapState, Standing>(all.map((s) => [s, 'stands']));
  const contested = all.filter((x) => all.some((y) => isMutual(x, y)));
  // Groups: contested reaps whose sides share a member, transitively (one side of the split).
  const groups = mergeWhile(
    contested.map((s): Group => ({ members: sideOf(s), reaps: [s] })),
    (a, b) => a.members.some((m) => b.members.includes(m)),
    (a, b) => ({
      members: [...new Set([...a.members, ...b.members])].sort(),
      reaps: [...a.reaps, ...b.reaps],
    }),
  );
  // Conflicts: groups a mutual reap links, transitively.
  const conflicts = mergeWhile(
    groups.map((g) => [g]),
    (a, b) => a.some((g) => b.some((h) => g.reaps.some((x) => h.reaps.some((y) => isMutual(x, y))))),
    (a, b) => [...a, ...b],
  );
  const inGroups = new Set(groups.flatMap((g) => g.members));
  for (const conflict of conflicts) {
    const ranked = [...conflict].sort((a, b) => compareSides(a.members, b.members));
    const winner = ranked[0];
    if (!winner) continue;
    // Members that one group of the conflict reaped (by any of its reaps, contested or not)
    // and that no group holds: they may be a side whose records we have not seen.
    const unseen = new Set<string>();
    const byOne = new Map<ReapState, Group>();
    for (const s of all) {
      const [by, ...more] = conflict.filter((g) => sideOf(s).some((m) => g.members.includes(m)));
      if (by === undefined || more.length > 0) continue;
      byOne.set(s, by);
      const member = peerOfOrigin(s.epoch);
      if (!inGroups.has(member)) unseen.add(member);
    }
    // Every one of them runs an epoch nobody reaped (held: origins in the caller's clock): each
    // rebased, emptying its store, so no member is left to hold their records (seed 9344).
    if ([...unseen].every((m) => movedOn.has(m))) unseen.clear();
    const open = mayLoseTo(winner.members, [...unseen]);
    for (const g of conflict)
      for (const s of g.reaps) out.set(s, open ? 'undecided' : g === winner ? 'stands' : 'void');
    // A losing group's record of an epoch the winner reaped too (at its own cut): void.
    const won = new Set([...byOne].filter(([, g]) => g === winner).map(([s]) => s.epoch));
    for (const [s, g] of byOne)
      if (g !== winner && won.has(s.epoch) && out.get(s) === 'stands')
        out.set(s, open ? 'undecided' : 'void');
  }
  return out;
}

/** Merges items two at a time while `linked` finds a pair, to a fixpoint. */
function mergeWhile<T>(items: readonly T[], linked: (a: T, b: T) => boolean, merge: (a: T, b: T) => T): T[] {
  const out: T[] = [];
  for (let item of items) {
    // Every earlier one it links, merged into it (they are not linked to each other).
    for (let k = out.findIndex((o) => linked(o, item)); k >= 0; k = out.findIndex((o) => linked(o, item)))
      item = merge(out.splice(k, 1)[0] as T, item);
    out.push(item);
  }
  return out;
}

/** Where reap `x` stands judged with `others` (its own records and a peer's, say). */
export function standingOf(x: ReapState, others: Iterable<ReapState>, held: Iterable<string> = []): Standing {
  return judge([x, ...[...others].filter((s) => s !== x)], held).get(x) ?? 'stands';
}

/**
 * Whether reap `x` stands judged with `others`, and so does every other reap of a side sharing
 * a member with its side. A member rebases from another member's epoch (one it holds beyond a
 * cut: src/agent/rebase.ts) only for such a reap: a side whose other reaps are void or
 * undecided may give up its state in turn, and the state the rebase waits for (one holding
 * that reap) would then never come (the seeded simulation, three sides and a mover, seed 9331:
 * a member rebased for a lone member's reap that the others later voided, and waited for good).
 */
export function firmlyStands(
  x: ReapState,
  others: Iterable<ReapState>,
  held: Iterable<string> = [],
): boolean {
  const standing = judge([x, ...[...others].filter((s) => s !== x)], held);
  if (standing.get(x) !== 'stands') return false;
  const side = sideOf(x);
  for (const [s, st] of standing)
    if (st !== 'stands' && sideOf(s).some((m) => side.includes(m))) return false;
  return true;
}

/**
 * The epochs among `states` (one replica's reaps) whose reap is void. An undecided reap stands
 * in a state: voiding it there would lift its cut while the member it retires may be a loser.
 */
export function voidEpochs(states: Iterable<ReapState>): Set<string> {
  const out = new Set<string>();
  for (const [s, standing] of judge(states)) if (standing === 'void') out.add(s.epoch);
  return out;
}

/**
 * Whether a side `side` that reaped the members `reaped` could lose a mutual reap to them: the
 * reaped members, as a side of their own (or any part of them), would rank first. Any part of
 * `reaped` ranks no better than the whole: a smaller part loses on size, and a part of equal
 * size is the whole. (An agent no longer keeps its client batches by this: the reaped side may
 * have grown by joiners it never saw; src/agent/compaction.ts `mayLoseMutualReap`.)
 */
export function mayLoseTo(side: readonly string[], reaped: readonly string[]): boolean {
  return reaped.length > 0 && compareSides(reaped, side) < 0;
}

/**
 * Whether a member whose membership holds `reaped` reaped (not left, not forgotten) could lose a
 * mutual reap to them, as its own side sees it. Its side is the members that agreed the cuts
 * retiring them among `reaps` (its state's: what `judge` compares), not the members it knows now
 * (one that joined since is in neither), and without the members it holds reaped: a side that
 * split again after it agreed a reap (a member that reported with it moved away, and the two
 * parts reaped each other) is only the part we are in. `fallback` (itself and the members it
 * waits for) where no other member agreed such a cut. Not what an agent keeps its client
 * batches by (src/agent/compaction.ts keeps them while it holds any member reaped: the reaped
 * side may have grown by joiners it never saw); the seeded simulation's `ownOps: 'sides'`
 * mutation (test/core/sim/mutual-cluster.ts), which loses writes to such joiners.
 */
export function mayLoseMutualReap(
  reaped: readonly string[],
  reaps: Iterable<ReapState>,
  fallback: () => readonly string[],
): boolean {
  if (reaped.length === 0) return false;
  const side = new Set<string>();
  for (const s of reaps)
    if (s.cut !== undefined && reaped.includes(peerOfOrigin(s.epoch)))
      for (const p of sideOf(s)) if (!reaped.includes(p)) side.add(p);
  return mayLoseTo(side.size > 0 ? [...side] : fallback(), reaped);
}
