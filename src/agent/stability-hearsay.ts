/**
 * Members of the stability view known by hearsay (issue 7, "A member that joined on the far
 * side of a partition"; stability-view.ts): a member that joined where we could not see it is
 * in none of the view's other inputs until its own heartbeats or events reach us, yet it may
 * have written ops concurrent with events we hold. Two inputs close that window:
 *
 * - **A pull is a report.** A peer that pulls from us (`pulled`) exists and holds at least the
 *   clock of its request: it becomes a member of our view with that clock as its report (until
 *   it heartbeats), so we never report a clock, nor compact, past what it lacks.
 * - **Members are told on.** Each heartbeat carries the members the sender knows first-hand
 *   (`firstHandMembers`: its view and the peers that pulled from it); every member the latest
 *   heartbeat of a member names is waited for here too, until it reports to us itself. A report
 *   and the members its sender knew travel in the same heartbeat, so by the time a report of
 *   `b` that covers E counts here, we know every peer that had pulled from `b` by then. A peer
 *   that pulled from `b` later got E with its pull (its later ops are causally after E). A peer
 *   that pulled from such a peer `c` before `c` had E is named by `c`'s report that covers E,
 *   which must count here too: so no relaying is needed, and none is done (relayed hearsay
 *   would circulate between members and never expire).
 *
 * A peer known only from its pulls, that never shows as a member itself (no heartbeat, no
 * event, no member record), counts for `hearsayTtlMs` after its first pull, and its later pulls
 * are ignored: a bare libp2p node that pulls (with any clock, however often) cannot pin
 * compaction for good. A real joiner heartbeats every second, so it shows as a member long
 * before that; a peer that never heartbeats nor writes sends no concurrent ops to wait for. The
 * members a member told us of go when its next heartbeat no longer names them, or when that
 * member is retired.
 */

/** Peers known from their pulls remembered at most (past it, those whose time ran out go). */
const MAX_PULLERS = 4096;

export class Hearsay {
  /**
   * Peers known from their pulls, with when they first pulled (see `pulled`); kept past
   * `ttlMs` (then they no longer count) so that their later pulls are ignored.
   */
  private readonly pullers = new Map<string, number>();
  /** Per member, the members its latest heartbeat named (see `firstHandMembers`). */
  private readonly told = new Map<string, readonly string[]>();

  constructor(
    private readonly ttlMs: number,
    private readonly isRetired: (peer: string) => boolean,
  ) {}

  /** A heartbeat from `peer`, naming `members` (from releases that send them). */
  heartbeat(peer: string, members: readonly string[] | undefined): void {
    this.pullers.delete(peer);
    if (members) this.told.set(peer, members);
  }

  /**
   * A pull from `peer`, which is neither retired nor heartbeating: whether its clock counts as
   * its report (not once `ttlMs` after its first pull has passed).
   */
  pulled(peer: string, now: number): boolean {
    const first = this.pullers.get(peer);
    if (first === undefined) {
      this.pullers.set(peer, now);
      this.boundPullers(now);
      return true;
    }
    return now - first <= this.ttlMs;
  }

  /** At most MAX_PULLERS remembered: the oldest whose time ran out go first. */
  private boundPullers(now: number): void {
    for (const [id, at] of this.pullers) {
      if (this.pullers.size <= MAX_PULLERS) return;
      if (now - at > this.ttlMs) this.pullers.delete(id);
    }
  }

  /** Whatever `peer` showed (its pulls, the members it named) goes. */
  forget(peer: string): void {
    this.pullers.delete(peer);
    this.told.delete(peer);
  }

  /** Whether the latest heartbeat of a member (not retired) named `peer`. */
  named(peer: string): boolean {
    for (const [lister, ids] of this.told)
      if (lister !== peer && !this.isRetired(lister) && ids.includes(peer)) return true;
    return false;
  }

  /** The peers that pulled from us, not retired, each until `ttlMs` after its first pull. */
  recentPullers(now: number): string[] {
    const out: string[] = [];
    for (const [id, at] of this.pullers) if (now - at <= this.ttlMs && !this.isRetired(id)) out.push(id);
    return out;
  }

  /** Every peer the latest heartbeat of a member (not retired) named. */
  toldOf(): string[] {
    const out: string[] = [];
    for (const [lister, ids] of this.told) if (!this.isRetired(lister)) out.push(...ids);
    return out;
  }
}
