/**
 * Which members this agent starts reaping, and when stability stops waiting for them (issue 7;
 * compaction.ts runs it every step). An agent starts a reap when an operator removes a member
 * (`smac members force-leave`), when a member was silent and not alive for longer than
 * `reapAfterMs`, or, once the log passed `maxLogEvents`, for the longest-silent dead member;
 * it joins reaps others started (reaper.ts). A member is retired in the stability view only at
 * the cut every member agreed on.
 */
import type { Logger } from 'pino';
import type { ReadonlyVectorClock } from '../core/clock/vector-clock.js';
import type { Replica } from '../core/replica.js';
import { peerOfOrigin } from '../core/origin.js';
import type { Store } from '../store/store.js';
import { type ForceLeaveIntent, ForceLeaves } from './force-leaves.js';
import { Reaper } from './reaper.js';
import type { RetireReason, StabilityView } from './stability-view.js';

/** What reaping needs of the agent (compaction.ts's deps extend it). */
export interface ReapingDeps {
  readonly self: string;
  readonly store: Store;
  readonly replica: () => Replica;
  readonly log: Logger;
  readonly now: () => number;
  readonly reapAfterMs: number;
  readonly maxLogEvents: number;
  /** Alive or suspect in our failure detector (a member that is up is never reaped). */
  readonly isAlive: (peer: string) => boolean;
  /** A system write through the owner queue (reap markers and reports). */
  readonly write: (ops: readonly unknown[]) => Promise<unknown>;
  readonly counters: { reaps: number };
}

export interface ReapStartsDeps extends ReapingDeps {
  readonly view: StabilityView;
  /** Members reaping considers (the view, hearsay excluded). */
  readonly members: () => string[];
  /** Members stability waits for. */
  readonly stabilityMembers: () => string[];
}

export class ReapStarts {
  readonly reaper: Reaper;
  /** The operator's pending force-leaves, kept in the store's meta. */
  readonly forceLeaves: ForceLeaves;
  /** Reaps this agent started and why, until they are agreed (then the view records them). */
  private readonly reaping = new Map<string, RetireReason>();
  /** Peers retired by agreement, with the epochs they were retired for (since start). */
  private readonly agreed = new Map<string, string>();
  /** The epoch we write under and since when (a rebase restarts the silence clock). */
  private epochSince: { id: string; at: number };

  constructor(private readonly deps: ReapStartsDeps) {
    this.epochSince = { id: deps.replica().id, at: 0 };
    this.reaper = new Reaper({
      self: deps.self,
      replica: deps.replica,
      write: deps.write,
      members: () => deps.members(),
      log: deps.log,
    });
    this.forceLeaves = new ForceLeaves({ store: deps.store, log: deps.log });
    // Resumed: the first step writes their markers again where missing and reaps new epochs.
    for (const { peerId, at } of this.forceLeaves.list()) {
      this.reaping.set(peerId, 'force-left');
      deps.log.warn({ member: peerId, since: new Date(at).toISOString() }, 'resuming a pending force-leave');
    }
  }

  /**
   * Reaps what is due and retires what is agreed; before compaction, every step. Returns the
   * members as they were before this step retired any (what compaction's step then uses).
   */
  step(now: number): string[] {
    const forceDone = this.forceNewEpochs(now);
    this.noticeReturns(now);
    const members = this.deps.members();
    for (const id of members) this.deps.view.noticed(id, now);
    this.reapSilent(members, now);
    this.retireAgreed(now, forceDone);
    this.reapLeftParticipants();
    return members;
  }

  /**
   * An operator's removal of a member that will not come back (`smac members force-leave`).
   * False if no such member is known. Pending until the reap is agreed: recorded durably before
   * this returns (force-leaves.ts; throws TooManyForceLeaves, changing nothing, past the bound).
   * Given while this agent holds no epoch of the member (a fresh store before a peer's state
   * arrived, or a member that never wrote), the member is retired at once and the force-leave
   * waits for its first epoch, which is then reaped, not taken for a return (issue 7, nemesis
   * seed 12), or expires after `reapAfterMs` (forceNewEpochs).
   */
  forceLeave(peer: string): boolean {
    if (peer === this.deps.self) return false;
    const known = this.deps.stabilityMembers().includes(peer) || this.deps.view.isRetired(peer);
    if (!known) return false;
    const at = this.deps.now();
    if (this.reaper.knows(peer)) {
      const done = this.reaper.retiredEpochs(peer);
      this.forceLeaves.add({ peerId: peer, at, ...(done === undefined ? {} : { done }) });
    } else this.forceLeaves.add({ peerId: peer, at, awaiting: true });
    this.retire(peer, 'force-left', 'an operator removed the member: compaction no longer waits for it');
    // Retired at once if no epoch is here: still reaping it (noticeReturns skips it meanwhile).
    this.reaping.set(peer, 'force-left');
    return true;
  }

  /** Whether a force-leave of `peer` waits for its reap to be agreed. */
  forceLeavePending(peer: string): boolean {
    return this.forceLeaves.has(peer);
  }

  private reapSilent(members: readonly string[], now: number): void {
    // Our own epoch is being reaped: we are the one that was cut off (back from a long downtime,
    // or on the small side of a split). We rebase; we do not reap members we cannot hear
    // meanwhile. Once we write under a new epoch, silence counts from then (docs/chaos.md).
    const replica = this.deps.replica();
    if (replica.reapOf(replica.id)) return;
    if (this.epochSince.id !== replica.id) this.epochSince = { id: replica.id, at: now };
    // In id order, as every agent does: the members a marker names then depend less on timing.
    for (const id of [...members].sort()) {
      if (this.reaping.has(id)) continue;
      // Silence since we last heard it or since we started, whichever is later (never our downtime).
      const heard = this.deps.view.silentSince(id, now);
      const silent = heard === undefined ? undefined : Math.min(heard, now - this.epochSince.at);
      if (silent === undefined || silent < this.deps.reapAfterMs || this.deps.isAlive(id)) continue;
      this.retire(id, 'reaped', `the member was silent and not alive for ${String(silent)} ms (reapAfterMs)`);
    }
  }

  /** The log is past its bound: reap the longest-silent member that is not alive, if any. */
  reapForLogBound(clock: ReadonlyVectorClock, now: number): boolean {
    const candidates = this.deps.view
      .blockers(clock, this.deps.members(), now)
      .filter((b) => !this.deps.isAlive(b.peerId) && !this.reaping.has(b.peerId))
      .sort((a, b) => (b.silentForMs ?? 0) - (a.silentForMs ?? 0));
    const victim = candidates[0];
    if (!victim) {
      this.deps.log.warn(
        { maxLogEvents: this.deps.maxLogEvents },
        'the log is past maxLogEvents, but every member that holds compaction back is alive',
      );
      return false;
    }
    this.retire(
      victim.peerId,
      'log-bound',
      'the log passed maxLogEvents: reaped the longest-silent member early',
    );
    return true;
  }

  /**
   * Starts the agreed reap of `peer` (reaper.ts). Stability goes on waiting for it until the
   * cut is agreed; a member that never wrote an event has no epoch to cut and retires at once.
   */
  private retire(peer: string, reason: RetireReason, why: string): void {
    const pinned = this.deps.store.logStats().events;
    if (!this.reaper.initiate(peer)) {
      this.deps.view.retire(peer, reason, this.deps.now());
      this.deps.counters.reaps++;
      this.deps.log.error({ member: peer, reason, pinned }, why);
      return;
    }
    this.reaping.set(peer, reason);
    this.deps.log.error(
      { member: peer, reason, pinned },
      `${why}; reaping it once every member agrees on the cut`,
    );
  }

  /**
   * A participant of a reap that left gracefully before it reported would hold the reap open
   * for good (reaping.ts excuses only a participant an epoch of which is retired): reap its
   * epochs too, so that it is excused the way every replica computes alike. (Should it come back
   * with the same store, it rebases, as a force-left member does.)
   */
  private reapLeftParticipants(): void {
    const retired = this.deps.view.retirements();
    for (const s of this.deps.replica().reaps())
      for (const p of s.missing) if (retired[p]?.reason === 'left') this.reaper.initiate(p);
  }

  /**
   * An operator's force-leave covers the member whatever epoch it is in: one of its epochs that
   * reaches us while that reap is pending (it rebased where we could not see it, or restarted
   * under a new epoch) is reaped too. Whether every marked epoch's cut is agreed is checked
   * first: then the force-leave is done (returned, with those epochs, for retireAgreed), and an
   * epoch that reached us since is the member coming back after the reap (it learnt the cut and
   * rebased), not one to reap again. Reaps started by our own timers do not extend to new epochs:
   * a member that writes under a new epoch is up, and a member that is up is never reaped.
   */
  private forceNewEpochs(now: number): Map<string, string[]> {
    const done = new Map<string, string[]>();
    for (const given of this.forceLeaves.list()) {
      const intent = given.awaiting ? this.firstEpochs(given, now) : given;
      if (!intent) continue;
      const agreed = this.reaper.agreedEpochs(intent.peerId);
      if (agreed && agreed.join(' ') !== intent.done) done.set(intent.peerId, agreed);
      else this.reaper.initiate(intent.peerId);
    }
    return done;
  }

  /**
   * A force-leave given while no epoch of the member was here: once one is, it goes on as if it
   * were given now (the member's epochs already retired at an agreed cut, if all are, are the
   * reap it must get past: `done`). None after `reapAfterMs`: it expires (from then on the
   * silence timer covers the member, and an epoch that arrives is a return). Undefined while
   * it waits.
   */
  private firstEpochs(given: ForceLeaveIntent, now: number): ForceLeaveIntent | undefined {
    const peer = given.peerId;
    if (!this.reaper.knows(peer)) {
      if (now - given.at < this.deps.reapAfterMs) return undefined;
      this.forceLeaves.clear(peer);
      this.reaping.delete(peer);
      this.deps.log.warn(
        { member: peer, since: new Date(given.at).toISOString(), reapAfterMs: this.deps.reapAfterMs },
        'force-leave expired: no epoch of the member reached this agent within reapAfterMs',
      );
      return undefined;
    }
    const done = this.reaper.retiredEpochs(peer);
    const intent: ForceLeaveIntent = { peerId: peer, at: given.at, ...(done === undefined ? {} : { done }) };
    this.forceLeaves.update(intent);
    this.deps.log.warn({ member: peer, done }, 'an epoch of a force-left member arrived: reaping it');
    return intent;
  }

  /**
   * A reaped member that rebased writes under an epoch no reap names: once one of its events is
   * here it is a member again (stability waits for it, force-leave finds it, its snapshots are
   * taken), even if its heartbeats do not reach us (docs/chaos.md: they stalled for a minute).
   */
  private noticeReturns(now: number): void {
    const replica = this.deps.replica();
    for (const origin of replica.clock().keys()) {
      const peer = peerOfOrigin(origin);
      if (!this.deps.view.isRetired(peer) || replica.reapOf(origin) || this.reaping.has(peer)) continue;
      if (this.deps.view.returned(peer, now))
        this.deps.log.warn({ member: peer, epoch: origin }, 'a reaped member came back under a new epoch');
    }
  }

  /**
   * Peers whose every epoch is retired at an agreed cut, and force-left ones whose every marked
   * epoch is (`forceDone`): stability stops waiting for them.
   */
  private retireAgreed(now: number, forceDone: ReadonlyMap<string, string[]>): void {
    for (const [peer, epochs] of new Map([...this.reaper.step(), ...forceDone])) {
      // Once per set of retired epochs: a reaped member that came back (heartbeats) is a member
      // again, and is retired again only if a later epoch of it is reaped too.
      const signature = epochs.join(' ');
      const intent = this.forceLeaves.get(peer);
      if (intent && intent.done !== signature) {
        this.forceLeaves.clear(peer);
        this.deps.log.warn({ member: peer, epochs }, 'force-leave done: every member agreed on the cut');
      }
      if (this.agreed.get(peer) === signature) continue;
      this.agreed.set(peer, signature);
      // Once the cut is agreed, waiting for the member gains nothing: whatever it sends of the
      // cut epochs is refused everywhere, and when it rebases (a new epoch) its heartbeats make
      // it a member again (stability-view.ts).
      if (this.deps.view.isRetired(peer)) {
        this.reaping.delete(peer);
        continue;
      }
      const reason = this.reaping.get(peer) ?? (intent ? 'force-left' : 'reaped');
      this.reaping.delete(peer);
      this.deps.view.retire(peer, reason, now);
      this.deps.counters.reaps++;
      this.deps.log.error({ member: peer, reason }, 'reaped at the cut every member agreed on');
    }
  }
}
