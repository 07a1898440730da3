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
 * far side of a partition"). Two more inputs close that window (`stabilityMembers`): a peer
 * that pulls from us, and the members each heartbeat names (stability-hearsay.ts).
 *
 * What no rule can cover: ops a joiner makes before its first pull from a member is served
 * (its member record at start, say) are concurrent with everything, and nobody can know of it
 * yet; they are safe only for keys that nobody removes concurrently (its own member record is).
 *
 * Pure bookkeeping: the agent feeds it heartbeats and times and asks for the frontier. It owns
 * no timer and does no I/O itself but for the two `persist` callbacks. What the view persists
 * is in stability-view-state.ts, what holds the frontier back in stability-blockers.ts.
 */
import { type ReadonlyVectorClock, vcClone, vcLeq, type VectorClock } from '../core/clock/vector-clock.js';
import { StabilityTracker } from '../core/stability.js';
import { type Blocker, blockersOf } from './stability-blockers.js';
import { Hearsay } from './stability-hearsay.js';
import type { Retirement, RetireReason, ViewState } from './stability-view-state.js';

export type { Blocker } from './stability-blockers.js';
export { parseViewState, type Retirement, type RetireReason } from './stability-view-state.js';

export interface StabilityViewDeps {
  readonly self: string;
  /** Persisted retirements and last-seen times (store metadata), read once at start. */
  readonly load: () => ViewState;
  readonly persist: (state: ViewState) => void;
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
  /** Peers known from their pulls and members other members named (stability-hearsay.ts). */
  private readonly hearsay: Hearsay;
  /** Peers we have had a heartbeat from since start (their pulls are no reports then). */
  private readonly beating = new Set<string>();
  private readonly startedAt: number;

  constructor(private readonly deps: StabilityViewDeps) {
    this.tracker = new StabilityTracker(deps.self);
    const loaded = deps.load();
    this.retired = new Map(Object.entries(loaded.retired));
    this.lastSeen = new Map(Object.entries(loaded.lastSeen));
    this.hearsay = new Hearsay(deps.hearsayTtlMs ?? DEFAULT_HEARSAY_TTL_MS, (peer) => this.retired.has(peer));
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
    this.hearsay.heartbeat(peer, members);
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
    if (this.hearsay.pulled(peer, now)) this.tracker.observe(peer, vc, localVc);
  }

  /** Marks `peer` as no longer holding compaction back. */
  retire(peer: string, reason: RetireReason, now: number): void {
    if (peer === this.deps.self) return;
    this.retired.set(peer, { reason, at: now });
    this.leaving.delete(peer);
    this.hearsay.forget(peer);
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
    return this.hearsay.named(peer);
  }

  /**
   * `peer` was refused as a member of another cluster (peer-refusals.ts): whatever it showed
   * here (its pulls, the members it named) goes, without a retirement (it was never a member).
   */
  forgetStranger(peer: string): void {
    if (this.retired.has(peer)) return;
    this.hearsay.forget(peer);
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
    return [...new Set([...this.members(candidates), ...this.hearsay.recentPullers(now)])].sort();
  }

  /**
   * Every member stability waits for (issue 7: a member that joined on the far side of a
   * partition): `firstHandMembers`, plus every member the latest heartbeat of a member (not
   * retired) named. Reaping, the wire version and hand-over keep to `members`: a peer known by
   * hearsay only is not asked to take part in a reap, nor does it pin the wire version.
   */
  stabilityMembers(candidates: Iterable<string>, now: number): string[] {
    const out = new Set(this.firstHandMembers(candidates, now));
    for (const id of this.hearsay.toldOf()) if (id !== this.deps.self && !this.retired.has(id)) out.add(id);
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
    return blockersOf(this.tracker, localVc, members, (peer) => this.silentFor(peer, now));
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
