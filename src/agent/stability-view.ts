/**
 * Which members causal stability waits for (DESIGN.md "Snapshots and compaction"; issue 7).
 *
 * An event is stable only once every member that may still send concurrent events has
 * delivered it: every member in the membership view that has not left gracefully and has not
 * been reaped. "Heard from recently" is never the test: a member that is silent, partitioned,
 * paused or slow still counts, and holds compaction back until it reports again.
 *
 * The view is the union of everything that ever showed a peer to be a member, so that it
 * survives restarts without a table of its own: the origins in our vector clock (every agent
 * writes its member record when it starts, so every member is an origin), the records of
 * `_sys/members`, and heartbeat senders. Retirement (graceful leave, reaping, force-leave) is
 * persisted in the store's metadata, as are the last-seen times that reaping is measured by.
 *
 * A member that joined where we could not see it (on the far side of a partition, through a
 * member we cannot reach) is in none of these until its own heartbeats or events reach us, yet
 * it may have written ops concurrent with events we hold (issue 7, "A member that joined on the
 * far side of a partition"). Two more inputs close that window (`stabilityMembers`):
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
 *
 * What no rule can cover: ops a joiner makes before its first pull from a member is served
 * (its member record at start, say) are concurrent with everything, and nobody can know of it
 * yet; they are safe only for keys that nobody removes concurrently (its own member record is).

 * Pure bookkeeping: the agent feeds it heartbeats and times and asks for the frontier. It owns
 * no timer and does no I/O itself but for the two `persist` callbacks.
 */
import {
  type ReadonlyVectorClock,
  vcClone,
  vcGet,
  vcLeq,
  type VectorClock,
} from '../core/clock/vector-clock.js';
import { StabilityTracker } from '../core/stability.js';

export type RetireReason = 'left' | 'reaped' | 'force-left' | 'log-bound';

export interface Retirement {
  readonly reason: RetireReason;
  /** ms since the epoch. */
  readonly at: number;
}

export interface Blocker {
  readonly peerId: string;
  /**
   * `no-report`: no usable heartbeat clock yet; `behind`: its last report lacks our events;
   * `no-member-yet`: the agent expects peers and has reached none (compaction.ts), `peerId` is
   * then `(none yet)` and `pinnedEvents` the whole log.
   */
  readonly reason: 'no-report' | 'behind' | 'no-member-yet';
  /** Events in our clock that its last usable report does not cover (what it pins in the log). */
  readonly pinnedEvents: number;
  /** ms since we last heard from it (heartbeat), or undefined if never (since start). */
  readonly silentForMs: number | undefined;
}

export interface StabilityViewDeps {
  readonly self: string;
  /** Persisted retirements and last-seen times (store metadata), read once at start. */
  readonly load: () => { retired: Record<string, Retirement>; lastSeen: Record<string, number> };
  readonly persist: (state: {
    retired: Record<string, Retirement>;
    lastSeen: Record<string, number>;
  }) => void;
  /** How long a peer known only from its pulls or from another member's word stays a member. */
  readonly hearsayTtlMs?: number;
  /**
   * When this agent (re)started, ms since the epoch: `silentSince` never counts time before it
   * (this agent could not hear anyone while it was down). Default 0.
   */
  readonly startedAt?: number;
  /**
   * A reaped member an operator forgot (forgotten-members.ts): its heartbeats do not make it a
   * member again; only an epoch of it that no reap names does (`returned`: it rebased).
   */
  readonly forgotten?: (peer: string) => boolean;
}

/** Default of `hearsayTtlMs`: two minutes, many heartbeat intervals. */
export const DEFAULT_HEARSAY_TTL_MS = 120_000;

/** Peers known from their pulls remembered at most (past it, those whose time ran out go). */
const MAX_PULLERS = 4096;

/** Last-seen times are written at most this often (they only need to be right to the hour). */
const LAST_SEEN_PERSIST_MS = 30_000;

export class StabilityView {
  private readonly tracker: StabilityTracker;
  private readonly retired: Map<string, Retirement>;
  private readonly lastSeen: Map<string, number>;
  /**
   * Members that said they leave before we held every event of their final clock: each with
   * that clock and the time it said so. Retired once we hold them (not persisted: after a
   * restart such a member is silent, and reaping retires it).
   */
  private readonly leaving = new Map<string, { final: VectorClock; at: number }>();
  private persistedAt = 0;
  /**
   * Peers known from their pulls, with when they first pulled (see `pulled`); kept past
   * `hearsayTtlMs` (then they no longer count) so that their later pulls are ignored.
   */
  private readonly pullers = new Map<string, number>();
  /** Per member, the members its latest heartbeat named (see `firstHandMembers`). */
  private readonly told = new Map<string, readonly string[]>();
  /** Peers we have had a heartbeat from since start (their pulls are no reports then). */
  private readonly beating = new Set<string>();
  private readonly hearsayTtlMs: number;
  private readonly startedAt: number;

  constructor(private readonly deps: StabilityViewDeps) {
    this.tracker = new StabilityTracker(deps.self);
    const loaded = deps.load();
    this.retired = new Map(Object.entries(loaded.retired));
    this.lastSeen = new Map(Object.entries(loaded.lastSeen));
    this.hearsayTtlMs = deps.hearsayTtlMs ?? DEFAULT_HEARSAY_TTL_MS;
    this.startedAt = deps.startedAt ?? 0;
  }

  /**
   * A heartbeat from `peer` with its delivered clock and, from releases that send them, the
   * members its stability waits for (`stabilityMembers` there).
   */
  heartbeat(
    peer: string,
    vc: ReadonlyVectorClock,
    leaving: boolean,
    localVc: ReadonlyVectorClock,
    now: number,
    members?: readonly string[],
  ): void {
    if (peer === this.deps.self) return;
    if (this.retired.has(peer) && this.deps.forgotten?.(peer) === true) return;
    this.lastSeen.set(peer, now);
    this.beating.add(peer);
    this.pullers.delete(peer);
    if (members) this.told.set(peer, members);
    if (leaving) {
      // Its final report counts: it delivered everything up to it and sends nothing after. But
      // until we hold every event of that report, one of them (its own, or one it may relay)
      // may still reach us, concurrent with what we would compact without it: it stays a
      // member until then (or until it is reaped).
      this.tracker.observe(peer, vc, localVc);
      this.leaving.set(peer, { final: vcClone(vc), at: now });
      this.settleLeavers(localVc);
      return;
    }
    this.leaving.delete(peer);
    const r = this.retired.get(peer);
    if (r) {
      // It is back. From here on it holds compaction back again.
      this.retired.delete(peer);
      this.save(now, true);
    }
    this.tracker.observe(peer, vc, localVc);
  }

  /**
   * `peer` pulled from us with clock `vc` (the sync request): it exists, and has delivered at
   * least `vc`. Until it heartbeats, that is its report (conservative: it only grows). A retired
   * peer does not come back by pulling, only by heartbeats; nor does one whose `hearsayTtlMs`
   * ran out.
   */
  pulled(peer: string, vc: ReadonlyVectorClock, localVc: ReadonlyVectorClock, now: number): void {
    if (peer === this.deps.self || this.retired.has(peer) || this.beating.has(peer)) return;
    const first = this.pullers.get(peer);
    if (first === undefined) {
      this.pullers.set(peer, now);
      this.boundPullers(now);
    } else if (now - first > this.hearsayTtlMs) return;
    this.tracker.observe(peer, vc, localVc);
  }

  /** At most MAX_PULLERS remembered: the oldest whose time ran out go first. */
  private boundPullers(now: number): void {
    for (const [id, at] of this.pullers) {
      if (this.pullers.size <= MAX_PULLERS) return;
      if (now - at > this.hearsayTtlMs) this.pullers.delete(id);
    }
  }

  /** Marks `peer` as no longer holding compaction back. */
  retire(peer: string, reason: RetireReason, now: number): void {
    if (peer === this.deps.self) return;
    this.retired.set(peer, { reason, at: now });
    this.leaving.delete(peer);
    this.pullers.delete(peer);
    this.told.delete(peer);
    this.tracker.forget(peer);
    this.save(now, true);
  }

  /**
   * A peer retired by a reap came back under a new epoch (it rebased: our state holds an epoch
   * of it that no reap names), whether or not its heartbeats reach us: it holds compaction back
   * again, and its silence is measured from now. A member that left gracefully comes back only
   * by a heartbeat (its epoch was never reaped, so its events show nothing new).
   */
  returned(peer: string, now: number): boolean {
    const r = this.retired.get(peer);
    if (!r || r.reason === 'left') return false;
    this.retired.delete(peer);
    this.lastSeen.set(peer, now);
    this.save(now, true);
    return true;
  }

  /** Whether the latest heartbeat of a member (not retired) named `peer`. */
  named(peer: string): boolean {
    for (const [lister, ids] of this.told)
      if (lister !== peer && !this.retired.has(lister) && ids.includes(peer)) return true;
    return false;
  }

  /**
   * `peer` was refused as a member of another cluster (peer-refusals.ts): whatever it showed
   * here (its pulls, the members it named) goes, without a retirement (it was never a member).
   */
  forgetStranger(peer: string): void {
    if (this.retired.has(peer)) return;
    this.pullers.delete(peer);
    this.told.delete(peer);
    this.beating.delete(peer);
    this.leaving.delete(peer);
    this.tracker.forget(peer);
  }

  isRetired(peer: string): boolean {
    return this.retired.has(peer);
  }

  retirements(): Record<string, Retirement> {
    return Object.fromEntries(this.retired);
  }

  /** Every peer that may still send concurrent events: the view minus self and the retired. */
  members(candidates: Iterable<string>): string[] {
    const out = new Set<string>();
    for (const id of candidates) if (id !== this.deps.self && !this.retired.has(id)) out.add(id);
    return [...out].sort();
  }

  /**
   * The members we know first-hand, what our heartbeats name: `members(candidates)` and the
   * peers that pulled from us (each until `hearsayTtlMs` after its first pull).
   */
  firstHandMembers(candidates: Iterable<string>, now: number): string[] {
    const out = new Set(this.members(candidates));
    for (const [id, at] of this.pullers)
      if (now - at <= this.hearsayTtlMs && !this.retired.has(id)) out.add(id);
    return [...out].sort();
  }

  /**
   * Every member stability waits for (issue 7: a member that joined on the far side of a
   * partition): `firstHandMembers`, plus every member the latest heartbeat of a member (not
   * retired) named. Reaping, the wire version and hand-over keep to `members`: a peer known by
   * hearsay only is not asked to take part in a reap, nor does it pin the wire version.
   */
  stabilityMembers(candidates: Iterable<string>, now: number): string[] {
    const out = new Set(this.firstHandMembers(candidates, now));
    for (const [lister, ids] of this.told) {
      if (this.retired.has(lister)) continue;
      for (const id of ids) if (id !== this.deps.self && !this.retired.has(id)) out.add(id);
    }
    return [...out].sort();
  }

  /** The stable frontier over `members` (empty while one of them has no usable report). */
  stable(localVc: ReadonlyVectorClock, members: readonly string[]): VectorClock {
    this.settleLeavers(localVc);
    return this.tracker.stable(
      localVc,
      members.filter((m) => !this.retired.has(m)),
    );
  }

  /** Retires the leaving members whose final clocks we now cover. */
  private settleLeavers(localVc: ReadonlyVectorClock): void {
    for (const [peer, { final, at }] of this.leaving) {
      if (!vcLeq(final, localVc)) continue;
      this.leaving.delete(peer);
      this.retire(peer, 'left', at);
    }
  }

  /** Members whose reports keep the frontier below our clock, with what each pins. */
  blockers(localVc: ReadonlyVectorClock, members: readonly string[], now: number): Blocker[] {
    const out: Blocker[] = [];
    for (const id of members) {
      const report = this.tracker.usableReport(id, localVc);
      const seen = this.lastSeen.get(id);
      const silentForMs = seen === undefined ? undefined : Math.max(0, now - seen);
      if (!report) {
        out.push({ peerId: id, reason: 'no-report', pinnedEvents: countEvents(localVc), silentForMs });
        continue;
      }
      const pinned = lag(localVc, report);
      if (pinned > 0) out.push({ peerId: id, reason: 'behind', pinnedEvents: pinned, silentForMs });
    }
    return out.sort((a, b) => b.pinnedEvents - a.pinnedEvents || a.peerId.localeCompare(b.peerId));
  }

  /**
   * ms since `peer` was last heard from, or undefined if never (persisted across restarts, so it
   * includes any time this agent was down: what status shows the operator).
   */
  silentFor(peer: string, now: number): number | undefined {
    const seen = this.lastSeen.get(peer);
    return seen === undefined ? undefined : Math.max(0, now - seen);
  }

  /**
   * ms this agent, running, has gone without hearing from `peer`: since the later of its last
   * heartbeat and this agent's start (undefined if never noticed). What `reapAfterMs` is
   * measured by: a restarted agent never reaps a member for the time it was down itself, when
   * it could not have heard the member (issue 7).
   */
  silentSince(peer: string, now: number): number | undefined {
    const seen = this.lastSeen.get(peer);
    return seen === undefined ? undefined : Math.max(0, now - Math.max(seen, this.startedAt));
  }

  /** First sight of a member that never sent a heartbeat: its silence is measured from here. */
  noticed(peer: string, now: number): void {
    if (peer !== this.deps.self && !this.lastSeen.has(peer)) {
      this.lastSeen.set(peer, now);
      this.save(now, false);
    }
  }

  /** Persists last-seen times now and then (retirements always at once). */
  tick(now: number): void {
    this.save(now, false);
  }

  private save(now: number, force: boolean): void {
    if (!force && now - this.persistedAt < LAST_SEEN_PERSIST_MS) return;
    this.persistedAt = now;
    this.deps.persist({
      retired: Object.fromEntries(this.retired),
      lastSeen: Object.fromEntries(this.lastSeen),
    });
  }
}

function lag(mine: ReadonlyVectorClock, theirs: ReadonlyVectorClock): number {
  let n = 0;
  for (const [id, seq] of mine) n += Math.max(0, seq - vcGet(theirs, id));
  return n;
}

function countEvents(vc: ReadonlyVectorClock): number {
  let n = 0;
  for (const [, seq] of vc) n += seq;
  return n;
}

/** The view's stored state (the store's meta), parsed defensively: a damaged record reads as empty. */
export function parseViewState(raw: string | undefined): {
  retired: Record<string, Retirement>;
  lastSeen: Record<string, number>;
} {
  const empty = { retired: {}, lastSeen: {} };
  if (raw === undefined) return empty;
  try {
    const v = JSON.parse(raw) as { retired?: unknown; lastSeen?: unknown };
    const retired: Record<string, Retirement> = {};
    const lastSeen: Record<string, number> = {};
    if (typeof v.retired === 'object' && v.retired !== null)
      for (const [k, r] of Object.entries(v.retired as Record<string, unknown>)) {
        const rr = r as { reason?: unknown; at?: unknown };
        if (typeof rr.at === 'number' && typeof rr.reason === 'string')
          retired[k] = { reason: rr.reason as RetireReason, at: rr.at };
      }
    if (typeof v.lastSeen === 'object' && v.lastSeen !== null)
      for (const [k, t] of Object.entries(v.lastSeen as Record<string, unknown>))
        if (typeof t === 'number') lastSeen[k] = t;
    return { retired, lastSeen };
  } catch {
    return empty;
  }
}
