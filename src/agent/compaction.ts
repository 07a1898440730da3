/**
 * Snapshots, compaction and reaping (DESIGN.md "Snapshots and compaction"; issue 7).
 *
 * Once the log grew by `snapshotEveryEvents`, the agent folds what is causally stable over the
 * membership view (stability-view.ts) into compact state, saves a snapshot and drops the
 * stable prefix of the log. Stability also waits for the peers that pulled from us and for the
 * members other members' heartbeats name (a member that joined on the far side of a partition,
 * unknown here until the heal; stability-view.ts). A member that is down holds compaction
 * back, and the log grows meanwhile: `status()` names the members that block it and how many
 * events each pins.
 *
 * A member stops holding compaction back when it leaves gracefully, or once it is reaped by
 * agreement (reaper.ts, src/core/reaping.ts): an agent starts a reap when an operator removes
 * the member (`smac members force-leave`), when it was silent and not alive for longer than
 * `reapAfterMs`, or, once the log passed `maxLogEvents`, for the longest-silent dead member
 * (a loud log line and a counter); any agent also joins a reap another started. Stability stops
 * waiting for the member only when every epoch of it is retired at the cut all agree on. See
 * docs/agent.md for what reaping costs its writes.
 */
import type { Logger } from 'pino';
import { type ReadonlyVectorClock, vcToRecord } from '../core/clock/vector-clock.js';
import { encodeSnapshot } from '../core/codec/index.js';
import type { Replica } from '../core/replica.js';
import { peerOfOrigin } from '../core/origin.js';
import type { Store } from '../store/store.js';
import { type ForceLeaveIntent, ForceLeaves } from './force-leaves.js';
import { mayLoseTo } from '../core/mutual-reap.js';
import { Reaper, type ReapStatus } from './reaper.js';
import {
  type Blocker,
  parseViewState,
  type RetireReason,
  type Retirement,
  StabilityView,
} from './stability-view.js';

const META_KEY = 'stability-view';

/** The `peerId` of the blocker `status()` shows while compaction waits for a first member. */
export const NO_MEMBER_YET = '(none yet)';

export interface CompactionStatus {
  /**
   * Members that stability waits for (not left, not reaped), self excluded: the view, the peers
   * that pulled from us lately, and the members other members' heartbeats name.
   */
  readonly members: string[];
  readonly stable: Record<string, number>;
  readonly blockedBy: Blocker[];
  readonly retired: Record<string, Retirement>;
  /** Agreed reaps under way or done (markers in the state), per epoch. */
  readonly reaps: ReapStatus[];
  /**
   * An operator's force-leaves whose reap is not agreed yet, oldest first (kept in the store:
   * a restart resumes them; force-leaves.ts).
   */
  readonly forceLeaves: { peerId: string; at: number }[];
  readonly reapAfterMs: number;
  readonly maxLogEvents: number;
}

export interface CompactorDeps {
  readonly self: string;
  readonly store: Store;
  readonly replica: () => Replica;
  readonly log: Logger;
  readonly now: () => number;
  readonly snapshotEveryEvents: number;
  readonly reapAfterMs: number;
  readonly maxLogEvents: number;
  /** Every peer id that shows a member: member records, heartbeat senders, clock origins. */
  readonly candidates: () => Iterable<string>;
  /**
   * The agent expects peers (join addresses configured, or mDNS on): until it reached a member,
   * it does not compact (`waitsForFirstMember`).
   */
  readonly expectsPeers?: boolean;
  /** Alive or suspect in our failure detector (a member that is up is never reaped). */
  readonly isAlive: (peer: string) => boolean;
  /** A system write through the owner queue (reap markers and reports). */
  readonly write: (ops: readonly unknown[]) => Promise<unknown>;
  readonly counters: { compactions: number; reaps: number };
}

export class Compactor {
  readonly view: StabilityView;
  readonly reaper: Reaper;
  /** The operator's pending force-leaves, kept in the store's meta. */
  readonly forceLeaves: ForceLeaves;
  /** Reaps this agent started and why, until they are agreed (then the view records them). */
  private readonly reaping = new Map<string, RetireReason>();
  /** Peers retired by agreement, with the epochs they were retired for (since start). */
  private readonly agreed = new Map<string, string>();
  private lastSnapshotPos: number;
  private lastStable: ReadonlyVectorClock = new Map();
  /** The log passed `maxLogEvents` while waiting for a first member, and we said so. */
  private warnedLone = false;

  /** The epoch we write under and since when (a rebase restarts the silence clock). */
  private epochSince: { id: string; at: number };

  constructor(private readonly deps: CompactorDeps) {
    this.lastSnapshotPos = deps.store.latestSnapshot()?.pos ?? 0;
    this.epochSince = { id: deps.replica().id, at: 0 };
    this.view = new StabilityView({
      self: deps.self,
      load: () => parseViewState(deps.store.getMeta(META_KEY)),
      persist: (state) => {
        deps.store.setMeta(META_KEY, JSON.stringify(state));
      },
      startedAt: deps.now(),
    });
    this.reaper = new Reaper({
      self: deps.self,
      replica: deps.replica,
      write: deps.write,
      members: () => this.members(),
      log: deps.log,
    });
    this.forceLeaves = new ForceLeaves({ store: deps.store, log: deps.log });
    // Resumed: the first step writes their markers again where missing and reaps new epochs.
    for (const { peerId, at } of this.forceLeaves.list()) {
      this.reaping.set(peerId, 'force-left');
      deps.log.warn({ member: peerId, since: new Date(at).toISOString() }, 'resuming a pending force-leave');
    }
  }

  /** After a peer's snapshot was installed: the next snapshot counts from here. */
  installed(): void {
    this.lastSnapshotPos = this.deps.store.logStats().lastPos;
  }

  /** Members reaping and the wire version consider: the view, hearsay excluded. */
  members(): string[] {
    return this.view.members(this.deps.candidates());
  }

  /** What our heartbeats name: the view and the peers that pulled from us. */
  firstHandMembers(): string[] {
    return this.view.firstHandMembers(this.deps.candidates(), this.deps.now());
  }

  /**
   * Members stability waits for: `firstHandMembers` and the members other members' heartbeats
   * name (a member that joined on the far side of a partition; stability-view.ts).
   */
  stabilityMembers(): string[] {
    return this.view.stabilityMembers(this.deps.candidates(), this.deps.now());
  }

  /** Called every heartbeat interval by the owner: reap what is due, then maybe compact. */
  step(): void {
    const now = this.deps.now();
    this.forceNewEpochs();
    this.noticeReturns(now);
    const members = this.members();
    for (const id of members) this.view.noticed(id, now);
    this.reapSilent(members, now);
    this.retireAgreed(now);
    this.reapLeftParticipants();
    this.view.tick(now);
    const replica = this.deps.replica();
    if (this.waitsForFirstMember(members)) {
      this.warnLoneLog();
      return;
    }
    const stats = this.deps.store.logStats();
    const stable = this.view.stable(replica.clock(), this.stabilityMembers());
    // Snapshot once the log grew by snapshotEveryEvents, or, with that much in the log, once
    // stability advanced by half as many events since the last compaction (the peers' reports
    // lagged then; without this the log would wait for more writes to shrink).
    const grew = stats.lastPos - this.lastSnapshotPos >= this.deps.snapshotEveryEvents;
    const caughtUp =
      stats.events >= this.deps.snapshotEveryEvents &&
      advance(this.lastStable, stable) >= Math.max(1, this.deps.snapshotEveryEvents / 2);
    if (!grew && !caughtUp) return;
    if (stats.events > this.deps.maxLogEvents) this.reapForLogBound(replica.clock(), now);
    replica.compact(stable);
    const snap = replica.snapshot();
    this.deps.store.saveSnapshot({ pos: stats.lastPos, vc: snap.vc, bytes: encodeSnapshot(snap) });
    this.lastSnapshotPos = stats.lastPos;
    this.lastStable = stable;
    const first = this.deps.store.eventsSince(stable, 1).next();
    const upTo = first.done ? stats.lastPos : first.value.pos - 1;
    const dropped = upTo > 0 ? this.deps.store.compact(upTo) : 0;
    // Our own writes every member holds can never be beyond a reap's cut: no re-run needed.
    // Every epoch of ours, the older ones too: an unclean restart takes a new epoch while the
    // old one may still be reaped below what we wrote under it (rebase.ts re-runs those).
    // Unless members we reaped could have reaped us, and their side would win that mutual
    // reap (mutual-reap.ts): then we rebase, and re-run what they did not hold.
    const self = peerOfOrigin(replica.id);
    if (!this.mayLoseMutualReap())
      for (const origin of replica.clock().keys())
        if (peerOfOrigin(origin) === self) this.deps.store.pruneOwnOps(origin, stable.get(origin) ?? 0);
    this.deps.counters.compactions++;
    this.deps.log.debug({ dropped, upTo, stable: vcToRecord(stable) }, 'snapshot taken, log compacted');
  }

  /**
   * Whether the members we hold reaped (not left) would win a mutual reap against us and the
   * members we wait for: then our writes they lack may have to be re-run (rebase.ts).
   */
  mayLoseMutualReap(): boolean {
    const reaped = Object.entries(this.view.retirements())
      .filter(([, r]) => r.reason !== 'left')
      .map(([peer]) => peer);
    return mayLoseTo([this.deps.self, ...this.stabilityMembers()], reaped);
  }

  /**
   * An operator's removal of a member that will not come back (`smac members force-leave`).
   * False if no such member is known. A member with an epoch to reap is pending until the reap is
   * agreed: recorded durably before this returns (force-leaves.ts; throws TooManyForceLeaves,
   * changing nothing, past the bound).
   */
  forceLeave(peer: string): boolean {
    if (peer === this.deps.self) return false;
    const known = this.stabilityMembers().includes(peer) || this.view.isRetired(peer);
    if (!known) return false;
    if (this.reaper.knows(peer)) {
      const done = this.reaper.retiredEpochs(peer);
      const intent: ForceLeaveIntent = {
        peerId: peer,
        at: this.deps.now(),
        ...(done === undefined ? {} : { done }),
      };
      this.forceLeaves.add(intent);
    }
    this.retire(peer, 'force-left', 'an operator removed the member: compaction no longer waits for it');
    return true;
  }

  /** Whether a force-leave of `peer` waits for its reap to be agreed. */
  forceLeavePending(peer: string): boolean {
    return this.forceLeaves.has(peer);
  }

  /**
   * Whether compaction waits for a first member: the agent expects peers (join addresses or
   * mDNS), knows no member and holds no event of another. Everything would look stable to it
   * (its view is empty), and its writes would then live only in a snapshot that no peer can
   * install over its own state, nor it over theirs: two such agents would stay forked.
   */
  waitsForFirstMember(members: readonly string[] = this.members()): boolean {
    return this.deps.expectsPeers === true && members.length === 0 && onlyOwn(this.deps.replica());
  }

  status(): CompactionStatus {
    const now = this.deps.now();
    const members = this.stabilityMembers();
    const clock = this.deps.replica().clock();
    const waiting = this.waitsForFirstMember();
    const lone: Blocker[] = waiting
      ? [
          {
            peerId: NO_MEMBER_YET,
            reason: 'no-member-yet',
            pinnedEvents: this.deps.store.logStats().events,
            silentForMs: undefined,
          },
        ]
      : [];
    return {
      members,
      stable: vcToRecord(this.view.stable(clock, members)),
      blockedBy: [...lone, ...this.view.blockers(clock, members, now)],
      retired: this.view.retirements(),
      reaps: this.reaper.status(),
      forceLeaves: this.forceLeaves.list().map(({ peerId, at }) => ({ peerId, at })),
      reapAfterMs: this.deps.reapAfterMs,
      maxLogEvents: this.deps.maxLogEvents,
    };
  }

  /**
   * While compaction waits for a first member nothing bounds the log (there is no member to
   * reap): past `maxLogEvents` say so, once, and keep waiting (compacting alone would fork).
   */
  private warnLoneLog(): void {
    const events = this.deps.store.logStats().events;
    if (this.warnedLone || events <= this.deps.maxLogEvents) return;
    this.warnedLone = true;
    this.deps.log.error(
      { events, maxLogEvents: this.deps.maxLogEvents },
      'the log passed maxLogEvents while this agent has reached no member yet: it keeps its log ' +
        'until one is known (compacting alone would fork it from its peers); for a single node, ' +
        'restart it without join addresses and with mDNS off',
    );
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
      const heard = this.view.silentSince(id, now);
      const silent = heard === undefined ? undefined : Math.min(heard, now - this.epochSince.at);
      if (silent === undefined || silent < this.deps.reapAfterMs || this.deps.isAlive(id)) continue;
      this.retire(id, 'reaped', `the member was silent and not alive for ${String(silent)} ms (reapAfterMs)`);
    }
  }

  /** The log is past its bound: reap the longest-silent member that is not alive, if any. */
  private reapForLogBound(clock: ReadonlyVectorClock, now: number): boolean {
    const candidates = this.view
      .blockers(clock, this.members(), now)
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
      this.view.retire(peer, reason, this.deps.now());
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
    const retired = this.view.retirements();
    for (const s of this.deps.replica().reaps())
      for (const p of s.missing) if (retired[p]?.reason === 'left') this.reaper.initiate(p);
  }

  /**
   * An operator's force-leave covers the member whatever epoch it is in: one of its epochs that
   * reaches us while that reap is pending (it rebased where we could not see it, or restarted
   * under a new epoch) is reaped too. Reaps started by our own timers do not extend so: a member
   * that writes under a new epoch is up, and a member that is up is never reaped.
   */
  private forceNewEpochs(): void {
    for (const { peerId } of this.forceLeaves.list()) this.reaper.initiate(peerId);
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
      if (!this.view.isRetired(peer) || replica.reapOf(origin) || this.reaping.has(peer)) continue;
      if (this.view.returned(peer, now))
        this.deps.log.warn({ member: peer, epoch: origin }, 'a reaped member came back under a new epoch');
    }
  }

  /** Peers whose every epoch is retired at an agreed cut: stability stops waiting for them. */
  private retireAgreed(now: number): void {
    for (const [peer, epochs] of this.reaper.step()) {
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
      if (this.view.isRetired(peer)) {
        this.reaping.delete(peer);
        continue;
      }
      const reason = this.reaping.get(peer) ?? (intent ? 'force-left' : 'reaped');
      this.reaping.delete(peer);
      this.view.retire(peer, reason, now);
      this.deps.counters.reaps++;
      this.deps.log.error({ member: peer, reason }, 'reaped at the cut every member agreed on');
    }
  }
}

/**
 * Whether the replica holds events of no other member: when the agent expects peers (join
 * addresses or mDNS) and knows no member, it has reached nobody yet, and nothing it wrote is
 * known to be stable (compacting would leave its writes only in its snapshot, which its peers
 * cannot install over their own).
 */
function onlyOwn(replica: Replica): boolean {
  const self = peerOfOrigin(replica.id);
  for (const origin of replica.clock().keys()) if (peerOfOrigin(origin) !== self) return false;
  return true;
}

/** Events `to` covers beyond `from`. */
function advance(from: ReadonlyVectorClock, to: ReadonlyVectorClock): number {
  let n = 0;
  for (const [id, seq] of to) n += Math.max(0, seq - (from.get(id) ?? 0));
  return n;
}
