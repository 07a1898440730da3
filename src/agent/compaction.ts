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
import { type ReadonlyVectorClock, vcToRecord } from '../core/clock/vector-clock.js';
import { encodeSnapshot } from '../core/codec/index.js';
import type { Replica } from '../core/replica.js';
import { peerOfOrigin } from '../core/origin.js';
import { ForgetRefused, type ForgottenMember, ForgottenMembers } from './forgotten-members.js';
import type { ReapStatus } from './reaper.js';
import { type ReapingDeps, ReapStarts } from './reap-starts.js';
import { type Blocker, parseViewState, type Retirement, StabilityView } from './stability-view.js';

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
  /** Reaped members an operator forgot (forgotten-members.ts), oldest first. */
  readonly forgotten: ForgottenMember[];
  /**
   * Client batches of our own writes kept for a re-run (table own_ops): those not yet stable,
   * and all of them while the members we hold reaped could win a mutual reap against us.
   */
  readonly ownOpsKept: number;
}

export interface CompactorDeps extends ReapingDeps {
  readonly snapshotEveryEvents: number;
  /** Every peer id that shows a member: member records, heartbeat senders, clock origins. */
  readonly candidates: () => Iterable<string>;
  /**
   * The agent expects peers (join addresses configured, or mDNS on): until it reached a member,
   * it does not compact (`waitsForFirstMember`).
   */
  readonly expectsPeers?: boolean;
  readonly counters: { compactions: number; reaps: number };
  /**
   * How long after a reap was agreed our client batches are kept for its member (config.ts
   * `keepOwnOpsMs`); unset: for ever (until forgotten).
   */
  readonly keepOwnOpsMs?: number;
}

export class Compactor {
  readonly view: StabilityView;
  /** Which members to reap, and retiring them at agreed cuts (reap-starts.ts). */
  readonly reaps: ReapStarts;
  /** Reaped members an operator declared will not come back (`smac members forget`). */
  readonly forgotten: ForgottenMembers;
  private lastSnapshotPos: number;
  private lastStable: ReadonlyVectorClock = new Map();
  /** The log passed `maxLogEvents` while waiting for a first member, and we said so. */
  private warnedLone = false;
  /** Reaped members whose `keepOwnOpsMs` ran out, and we said so. */
  private readonly expiredKeeps = new Set<string>();

  constructor(private readonly deps: CompactorDeps) {
    this.lastSnapshotPos = deps.store.latestSnapshot()?.pos ?? 0;
    this.forgotten = new ForgottenMembers({ store: deps.store, log: deps.log });
    this.view = new StabilityView({
      forgotten: (peer) => this.forgotten.has(peer),
      self: deps.self,
      load: () => parseViewState(deps.store.getMeta(META_KEY)),
      persist: (state) => {
        deps.store.setMeta(META_KEY, JSON.stringify(state));
      },
      startedAt: deps.now(),
    });
    this.reaps = new ReapStarts({
      ...deps,
      view: this.view,
      members: () => this.members(),
      stabilityMembers: () => this.stabilityMembers(),
    });
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
    const members = this.reaps.step(now);
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
    if (stats.events > this.deps.maxLogEvents) this.reaps.reapForLogBound(replica.clock(), now);
    replica.compact(stable);
    const snap = replica.snapshotRows(); // encoded row by row: its JSON value is never whole
    this.deps.store.saveSnapshot({ pos: stats.lastPos, vc: snap.vc, bytes: encodeSnapshot(snap) });
    this.lastSnapshotPos = stats.lastPos;
    this.lastStable = stable;
    const first = this.deps.store.eventsSince(stable, 1).next();
    const upTo = first.done ? stats.lastPos : first.value.pos - 1;
    const dropped = upTo > 0 ? this.deps.store.compact(upTo) : 0;
    // Our own writes every member holds can never be beyond a reap's cut: no re-run needed.
    // Every epoch of ours, the older ones too: an unclean restart takes a new epoch while the
    // old one may still be reaped below what we wrote under it (rebase.ts re-runs those).
    // Unless members we reaped could have reaped us, and their side win that mutual reap
    // (mutual-reap.ts): then we rebase, and re-run what they did not hold.
    const self = peerOfOrigin(replica.id);
    if (!this.mayLoseMutualReap(this.deps.now()))
      for (const origin of replica.clock().keys())
        if (peerOfOrigin(origin) === self) this.deps.store.pruneOwnOps(origin, stable.get(origin) ?? 0);
    this.deps.counters.compactions++;
    this.deps.log.debug({ dropped, upTo, stable: vcToRecord(stable) }, 'snapshot taken, log compacted');
  }

  /**
   * Whether the members we hold reaped (not left, not forgotten) could win a mutual reap against
   * us: then our writes they lack may have to be re-run (rebase.ts). Any reaped member could:
   * its side counts the members its markers name, and a member that joined it during the split
   * (test/agent/winning-joiner.test.ts) is one we never saw. Comparing our side with the members
   * we reaped (mutual-reap.ts `mayLoseTo`) took a side for the winner that lost to such a joiner,
   * and its rebase lost the client batches it had pruned. Only for `keepOwnOpsMs` after the
   * reap (config.ts): the table would grow with every write after a member died for good.
   */
  mayLoseMutualReap(now: number): boolean {
    const keep = this.deps.keepOwnOpsMs ?? Infinity;
    let may = false;
    for (const [peer, r] of Object.entries(this.view.retirements())) {
      if (r.reason === 'left' || this.forgotten.has(peer)) continue;
      if (now - r.at < keep) may = true;
      else if (!this.expiredKeeps.has(peer)) {
        this.expiredKeeps.add(peer);
        this.deps.log.warn(
          { peer, reapedAt: r.at, keepOwnOpsMs: keep },
          'client batches no longer kept for a member reaped keepOwnOpsMs ago: should it come back on a side that wins a mutual reap against ours, our writes it lacks are lost',
        );
      }
    }
    return may;
  }

  /**
   * An operator's removal of a member that will not come back (`smac members force-leave`);
   * reap-starts.ts says what it does. False if no such member is known.
   */
  forceLeave(peer: string): boolean {
    return this.reaps.forceLeave(peer);
  }

  /** Whether a force-leave of `peer` waits for its reap to be agreed. */
  forceLeavePending(peer: string): boolean {
    return this.reaps.forceLeavePending(peer);
  }

  /**
   * An operator's word that a reaped member will not come back (`smac members forget`): it no
   * longer counts toward `mayLoseMutualReap`, so our client batches are pruned at the next
   * compaction (forgotten-members.ts says what that gives up). Throws ForgetRefused: NOT_FOUND
   * for a peer unknown here, MEMBER_NOT_REAPED for one not held reaped (a member, one whose reap
   * is not agreed yet, or one that left), TOO_MANY_FORGOTTEN past the bound.
   */
  forget(peer: string): ForgottenMember {
    const r = this.view.retirements()[peer];
    if (r === undefined || r.reason === 'left') {
      const known =
        r !== undefined || this.stabilityMembers().includes(peer) || this.reaps.reaper.knows(peer);
      if (!known || peer === this.deps.self)
        throw new ForgetRefused('NOT_FOUND', `No member ${peer} is known here; see GET /v1/status.`);
      throw new ForgetRefused(
        'MEMBER_NOT_REAPED',
        `${peer} is not held reaped here (${r ? 'it left gracefully' : 'a member, or its reap is not agreed yet'}); force-leave it first and wait for the cut (compaction.retired in GET /v1/status).`,
      );
    }
    const known = this.forgotten.has(peer);
    const m = this.forgotten.add(peer, this.deps.now());
    if (!known)
      this.deps.log.error(
        { member: peer, reason: r.reason },
        'an operator forgot a reaped member: it will not be taken back by its heartbeats, nor will this agent rebase for its reap; our client batches are pruned at the next compaction',
      );
    return m;
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
      reaps: this.reaps.reaper.status(),
      forceLeaves: this.reaps.forceLeaves.list().map(({ peerId, at }) => ({ peerId, at })),
      reapAfterMs: this.deps.reapAfterMs,
      maxLogEvents: this.deps.maxLogEvents,
      forgotten: this.forgotten.list(),
      ownOpsKept: this.deps.store.ownOpsCount(),
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
