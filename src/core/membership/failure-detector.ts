/**
 * The SWIM failure detector (Das et al. 2002, "SWIM: Scalable Weakly-consistent
 * Infection-style Process Group Membership Protocol") with Lifeguard's refinements (Dadgar,
 * Phillips and Currey 2018: local health awareness, dynamic suspicion timeouts, the buddy
 * system), after memberlist's state.go, as a pure state machine in the raft/foca style
 * (DESIGN.md "Architecture"): `step(input, nowMs)` changes state and returns effects, and the
 * agent carries them out. No I/O, no clock, no ambient randomness: time is `nowMs` and every
 * random choice draws from the `random` function the caller injects.
 *
 * One protocol period: probe the next member of a shuffled round-robin order with a ping; if
 * no ack within the probe timeout, ask `indirectChecks` random members to ping it for us
 * (ping-req), and they nack if they cannot reach it either; if no ack at all by the end of the
 * period, suspect it. A suspicion becomes dead after a timeout that shrinks with independent
 * confirmations, unless the member refutes it by gossiping alive with a higher incarnation.
 * Gossip rides on probe packets (piggyback), each message a bounded number of times.
 *
 * Incarnation rules (SWIM §4.2): a higher incarnation always wins; at equal incarnation
 * suspect beats alive and dead/left beat both; dead and left are final for their incarnation,
 * so only the member itself, by raising its incarnation, can come back.
 *
 * This file holds `step` and the reads; the protocol period (probes, retries, suspecting, and
 * the rest of each tick) is in probe-cycle.ts, the member table and what else its parts share
 * in detector-state.ts, the incarnation rules in membership-updates.ts,
 * piggybacking and the gossip loop in dissemination.ts, relaying for others in relays.ts, the
 * suspicions' last-chance pings and verdicts in suspicion-deadlines.ts.
 */
import { ErrorCode, fail } from '../errors.js';
import { canonicalJson } from '../json.js';
import { Awareness } from './awareness.js';
import { type MembershipConfig, resolveMembershipConfig } from './config.js';
import { piggyback } from './dissemination.js';
import { DetectorState, type MembershipStats, type MemberState, type MemberView } from './detector-state.js';
import {
  checkInput,
  checkMember,
  isCounter,
  MAX_INCARNATION,
  type MemberId,
  type MemberInfo,
  type MembershipEffect,
  type MembershipInput,
} from './messages.js';
import {
  accusedOfIncarnation,
  aliveOf,
  leave,
  leaveDisseminated,
  onAlive,
  onDown,
  onSuspect,
} from './membership-updates.js';
import { ProbeCycle } from './probe-cycle.js';
import { RandomChoice } from './random-choice.js';
import { Relays } from './relays.js';

export type { MemberView, MembershipStats } from './detector-state.js';

/**
 * The incarnation a member starts at: strictly above `previous`, the highest it saved in an
 * earlier life (its store's metadata or its own records in `_sys/members`), and never below
 * `wallClockMs`, the wall clock at its start (ms since the epoch). Peers may hold it suspect,
 * dead or left at any incarnation of an earlier life, and an alive at or below that does not
 * override them (§4.2): it would stay down until the claim reached it and it refuted (issue
 * 7/8, chaos seed 103). After a store loss nothing saved is left; the clock is (ringpop's
 * incarnation numbers are its wall clock too): an earlier life started at an earlier time and
 * refuted once per accusation, far fewer than one per millisecond. A clock set back is covered
 * by `previous` while the store lives, and after a store loss by the buddy system
 * (dissemination.ts: a peer's ack tells the member it is held dead or left, and it refutes).
 */
export function startIncarnation(previous: number | undefined, wallClockMs: number): number {
  const clock = Number.isSafeInteger(Math.floor(wallClockMs)) ? Math.max(0, Math.floor(wallClockMs)) : 0;
  // A corrupt saved value counts as none; a life that ended at the top starts there again.
  const after = previous !== undefined && isCounter(previous) ? previous + 1 : 0;
  return Math.min(Math.max(after, clock), MAX_INCARNATION);
}

export class FailureDetector {
  readonly id: MemberId;
  readonly config: MembershipConfig;
  /** The member table and what the membership updates share with the probe cycle. */
  private readonly s: DetectorState;
  private readonly relays: Relays;
  /** Probing, suspecting, and the rest of each tick (probe-cycle.ts). */
  private readonly cycle: ProbeCycle;
  private leaveDone = false;

  /**
   * `self` is this member's own record, at `startIncarnation(highest used before, wall clock)`
   * (otherwise refutation catches up with whatever the cluster remembers). `random` returns
   * numbers in [0, 1): pass a seeded generator for replayable runs.
   */
  constructor(self: MemberInfo, config: MembershipConfig, random: () => number) {
    this.config = resolveMembershipConfig({ ...config });
    const bad = checkInput({ kind: 'join', member: self }, this.config.maxMetaBytes, this.config.maxMembers);
    if (bad !== undefined) fail(ErrorCode.InvalidArgument, `The local member record is invalid: ${bad}.`);
    if (typeof random !== 'function') {
      fail(
        ErrorCode.InvalidArgument,
        'The failure detector needs a random source: a function returning [0, 1).',
      );
    }
    this.id = self.id;
    const me: MemberState = {
      id: self.id,
      incarnation: self.incarnation,
      status: 'alive',
      meta: self.meta,
      metaKey: canonicalJson(self.meta, this.config.maxMetaBytes, 'member metadata'),
      sinceMs: 0,
    };
    const awareness = new Awareness(this.config.awarenessMaxMultiplier);
    this.s = new DetectorState(self.id, this.config, me, awareness, new RandomChoice(random));
    // Our first pings introduce us to members that only know us from elsewhere.
    this.s.queue.enqueue(this.s.selfAlive());
    this.relays = new Relays(this.s);
    this.cycle = new ProbeCycle(this.s, this.relays);
  }

  /**
   * Feeds one input. `nowMs` is a monotonic clock in milliseconds. A malformed remote input is
   * ignored, counted and reported as a `rejected` effect; only local misuse (a bad or
   * backwards clock) throws.
   */
  step(input: MembershipInput, nowMs: number): MembershipEffect[] {
    if (typeof nowMs !== 'number' || !Number.isFinite(nowMs) || nowMs < 0) {
      fail(
        ErrorCode.InvalidArgument,
        `nowMs must be a finite, non-negative number of milliseconds (got ${nowMs}).`,
      );
    }
    if (nowMs < this.s.nowMs) {
      fail(
        ErrorCode.InvalidArgument,
        `Time went backwards from ${this.s.nowMs} to ${nowMs} ms; drive the detector with a monotonic clock.`,
      );
    }
    const bad = checkInput(input, this.config.maxMetaBytes, this.config.maxMembers);
    if (bad !== undefined) {
      this.s.counters.rejected++;
      const kind = (input as { kind?: unknown } | null)?.kind;
      return [
        { kind: 'rejected', input: typeof kind === 'string' ? kind.slice(0, 32) : 'unknown', reason: bad },
      ];
    }
    this.s.nowMs = nowMs;
    const fx: MembershipEffect[] = [];
    switch (input.kind) {
      case 'tick':
        if (!this.leaveDone) this.cycle.tick(fx);
        break;
      case 'join':
        onAlive(this.s, aliveOf(input.member), true, fx);
        break;
      case 'members-seen':
        for (const m of input.members) {
          const why = checkMember(m, this.config.maxMetaBytes);
          if (why === undefined) onAlive(this.s, aliveOf(m), false, fx);
          else {
            this.s.counters.rejected++;
            fx.push({ kind: 'rejected', input: 'members-seen', reason: why });
          }
        }
        break;
      case 'ping':
        fx.push({
          kind: 'send-ack',
          to: input.from,
          seq: input.seq,
          piggyback: piggyback(this.s, input.from, 1),
        });
        break;
      case 'ping-req':
        this.relays.onPingReq(input.from, input.seq, input.target, input.timeoutMs, fx);
        break;
      case 'ack':
        this.s.roundTrips.sample(input.from, input.seq, this.s.nowMs, this.s.table.has(input.from));
        this.cycle.onAck(input.seq, fx);
        break;
      case 'nack':
        this.cycle.onNack(input.from, input.seq);
        break;
      case 'alive':
        onAlive(this.s, input, true, fx);
        break;
      case 'suspect':
        onSuspect(this.s, input, fx);
        break;
      case 'dead':
      case 'left':
        onDown(this.s, input, fx);
        break;
      case 'leave':
        leave(this.s, fx);
        break;
      case 'connection-lost':
        this.cycle.onConnectionLost(input.id, fx);
        break;
      case 'refute-needed':
        accusedOfIncarnation(this.s, input.incarnation, fx);
        break;
    }
    if (this.s.leaving && !this.leaveDone && leaveDisseminated(this.s)) {
      this.leaveDone = true;
      fx.push({ kind: 'leave-complete' });
    }
    return fx;
  }

  /**
   * When the next tick is due: the earliest probe step, suspicion, relay or retention
   * deadline. An agent may instead tick on a fixed beat; its granularity then adds to every
   * timeout (see `detectionBoundMs`).
   */
  nextTickAtMs(): number {
    return this.leaveDone ? Number.POSITIVE_INFINITY : this.cycle.nextTickAtMs();
  }

  // ---- reads --------------------------------------------------------------------------

  get(id: MemberId): MemberView | undefined {
    const m = this.s.table.get(id);
    return m ? this.s.view(m) : undefined;
  }

  /** Every member we know, ourselves included, dead and left ones until they are forgotten. */
  members(): MemberView[] {
    return [...this.s.table.values()]
      .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
      .map((m) => this.s.view(m));
  }

  get self(): MemberView {
    return this.s.view(this.s.me);
  }

  get incarnation(): number {
    return this.s.me.incarnation;
  }

  get healthScore(): number {
    return this.s.awareness.score;
  }

  /** Members alive or suspect, ourselves included while we are not leaving: N in the formulas. */
  liveCount(): number {
    return this.s.liveCount();
  }

  stats(): MembershipStats {
    return { ...this.s.counters, healthScore: this.s.awareness.score, pendingGossip: this.s.queue.size };
  }

  /**
   * The direct probe timeout for `id` before Lifeguard's scaling: probeTimeoutMs until its
   * round trip is measured, then adaptive (config.rttTimeoutMult; docs/membership.md).
   */
  probeTimeoutFor(id: MemberId): number {
    return this.s.probeTimeoutFor(id);
  }
}
