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
 * This file holds `step`, the protocol period and the reads; the member table and what else
 * its parts share is in detector-state.ts, the incarnation rules in membership-updates.ts,
 * piggybacking and the gossip loop in dissemination.ts, relaying for others in relays.ts, the
 * suspicions' last-chance pings and verdicts in suspicion-deadlines.ts.
 */
import { ErrorCode, fail } from '../errors.js';
import { canonicalJson } from '../json.js';
import { Awareness } from './awareness.js';
import { type MembershipConfig, resolveMembershipConfig } from './config.js';
import { gossipRound, piggyback } from './dissemination.js';
import { DetectorState, type MembershipStats, type MemberState, type MemberView } from './detector-state.js';
import {
  checkInput,
  checkMember,
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
import type { Probe } from './probe.js';
import { RandomChoice } from './random-choice.js';
import { Relays, relayTimeoutMs } from './relays.js';
import { isLastChance, nextSuspicionDueMs, runSuspicionDeadlines } from './suspicion-deadlines.js';

export type { MemberView, MembershipStats } from './detector-state.js';

export class FailureDetector {
  readonly id: MemberId;
  readonly config: MembershipConfig;
  /** The member table and what the membership updates share with the probe cycle. */
  private readonly s: DetectorState;
  private readonly relays: Relays;
  private probe: Probe | undefined;
  /** Undefined until the first tick, which staggers the first probe randomly in a period. */
  private nextProbeAtMs: number | undefined;
  private nextGossipAtMs = 0;
  private leaveDone = false;

  /**
   * `self` is this member's own record; start from a persisted incarnation if there is one
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
        this.tick(fx);
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
        this.onAck(input.seq, fx);
        break;
      case 'nack':
        if (this.probe?.seq === input.seq && this.probe.via.includes(input.from)) {
          this.probe.nacks.add(input.from);
        }
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
        this.onConnectionLost(input.id, fx);
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
    if (this.leaveDone) return Number.POSITIVE_INFINITY;
    if (this.nextProbeAtMs === undefined) return this.s.nowMs;
    let t = this.nextProbeAtMs;
    const p = this.probe;
    if (p) t = Math.min(t, p.indirectSent ? p.endMs : p.pingDeadlineMs);
    else if (this.s.probeOrder.soonCount > 0) t = this.s.nowMs;
    t = Math.min(t, nextSuspicionDueMs(this.s));
    t = Math.min(t, this.relays.nextDeadlineMs());
    if (this.s.queue.size > 0 && this.config.gossipNodes > 0)
      t = Math.min(t, Math.max(this.s.nowMs, this.nextGossipAtMs));
    for (const m of this.s.table.values()) {
      if (m !== this.s.me && (m.status === 'dead' || m.status === 'left')) {
        t = Math.min(t, m.sinceMs + this.config.deadRetentionMs);
      }
    }
    return t;
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

  // ---- the protocol period ------------------------------------------------------------

  private tick(fx: MembershipEffect[]): void {
    if (this.leaveDone) return;
    const now = this.s.nowMs;
    const p = this.probe;
    if (p) {
      if (!p.indirectSent && now >= p.pingDeadlineMs) this.sendIndirect(p, fx);
      if (now >= p.endMs) {
        this.probe = undefined;
        this.probeFailed(p, fx);
      }
    }
    // Unless probeFailed started the next attempt at the same target: the next probe in turn.
    if (this.probe === undefined) {
      this.nextProbeAtMs ??= now + this.s.random.int(this.config.probeIntervalMs);
      const soon = this.s.probeOrder.nextSoon(this.s.table, this.s.me);
      if (soon !== undefined || now >= this.nextProbeAtMs) this.startProbe(fx, soon);
    }
    // After the probe step: its failure may have confirmed a suspicion past its deadline.
    runSuspicionDeadlines(this.s, fx);
    this.relays.expire(fx);
    if (now >= this.nextGossipAtMs && this.s.queue.size > 0) {
      this.nextGossipAtMs = now + this.config.gossipIntervalMs;
      gossipRound(this.s, fx);
    }
    for (const [id, m] of [...this.s.table]) {
      if (m === this.s.me || (m.status !== 'dead' && m.status !== 'left')) continue;
      if (now - m.sinceMs >= this.config.deadRetentionMs) {
        this.s.table.delete(id);
        this.s.roundTrips.forget(id);
      }
    }
  }

  /**
   * `soon`: a member probed out of turn (its connection was lost); `retry`: a failed probe
   * whose target gets its next attempt now; else the next member in turn.
   */
  private startProbe(fx: MembershipEffect[], soon?: MemberId, retry?: Probe): void {
    const now = this.s.nowMs;
    const periodMs = this.s.awareness.scale(this.config.probeIntervalMs);
    if (soon !== undefined) this.s.counters.probesOutOfTurn++;
    const target = retry?.target ?? soon ?? this.s.probeOrder.next(this.s.table, this.s.me);
    if (target === undefined) {
      this.nextProbeAtMs = now + periodMs;
      return;
    }
    // Out of turn, we could not reconnect to it: its ping cannot get through, so the helpers
    // try at once, within one period (docs/membership.md, "Lost connections").
    const timeoutMs = soon === undefined ? this.s.scaledProbeTimeoutFor(target) : 0;
    // A member whose round trip needs more than half the period gets a longer one: the
    // indirect probe, two hops each way, needs about as long again as the direct one.
    const spanMs = Math.max(periodMs, 2 * timeoutMs);
    this.nextProbeAtMs = now + spanMs;
    const seq = this.s.nextSeq();
    this.probe = {
      target,
      seq,
      pingDeadlineMs: now + timeoutMs,
      endMs: now + spanMs,
      attempt: retry ? retry.attempt + 1 : 1,
      earlier: retry ? [...retry.earlier, retry.seq] : [],
      // A member we could not reconnect to gets no second chance: its process is gone.
      final: soon !== undefined,
      indirectSent: false,
      via: [],
      nacks: new Set(),
    };
    this.s.counters.probes++;
    this.s.roundTrips.notePing(seq, target, this.s.nowMs);
    fx.push({ kind: 'send-ping', to: target, seq, piggyback: piggyback(this.s, target, 1) });
    if (soon !== undefined) this.sendIndirect(this.probe, fx);
  }

  /**
   * The direct probe timeout for `id` before Lifeguard's scaling: probeTimeoutMs until its
   * round trip is measured, then adaptive (config.rttTimeoutMult; docs/membership.md).
   */
  probeTimeoutFor(id: MemberId): number {
    return this.s.probeTimeoutFor(id);
  }

  /**
   * The transport lost its connection to `id`: probe it out of turn, now if nothing runs. A
   * probe of it already running becomes one: its ping cannot get through, so the helpers try
   * at once, it ends within a period, and it gets no further attempt if it fails.
   */
  private onConnectionLost(id: MemberId, fx: MembershipEffect[]): void {
    const m = this.s.table.get(id);
    const p = this.probe;
    if (p?.target === id && !p.final) {
      p.final = true;
      p.endMs = Math.min(p.endMs, this.s.nowMs + this.s.awareness.scale(this.config.probeIntervalMs));
      if (!p.indirectSent) this.sendIndirect(p, fx);
    }
    if (!m || m === this.s.me || this.s.leaving || p?.target === id) return;
    if (m.status !== 'alive' && m.status !== 'suspect') return;
    if (!this.s.probeOrder.probeSoon(id, this.s.nowMs, this.config.probeIntervalMs)) return;
    if (this.probe === undefined && this.nextProbeAtMs !== undefined) this.tick(fx);
  }

  private sendIndirect(p: Probe, fx: MembershipEffect[]): void {
    p.indirectSent = true;
    this.s.counters.pingTimeouts++;
    if (this.s.leaving || this.config.indirectChecks === 0) return;
    const candidates: MemberId[] = [];
    for (const m of this.s.table.values()) {
      if (m.status === 'alive' && m !== this.s.me && m.id !== p.target) candidates.push(m.id);
    }
    const via = this.s.random.pick(candidates, this.config.indirectChecks);
    if (via.length === 0) return;
    p.via = via;
    const timeoutMs = relayTimeoutMs(this.s, p.endMs - this.s.nowMs, via);
    fx.push({
      kind: 'send-ping-req',
      via,
      target: p.target,
      seq: p.seq,
      timeoutMs,
      piggyback: piggyback(this.s, p.target, via.length),
    });
  }

  private probeFailed(p: Probe, fx: MembershipEffect[]): void {
    this.s.counters.probeFailures++;
    if (this.s.leaving) return;
    // Lifeguard: helpers that did not even nack suggest the trouble is ours, not the target's.
    // With no helpers to ask, every failed probe counts against us.
    const expected = p.via.length;
    this.s.awareness.apply(expected > 0 ? expected - Math.min(expected, p.nacks.size) : 1);
    const m = this.s.table.get(p.target);
    if (m?.status !== 'alive' && m?.status !== 'suspect') return;
    if (!p.final && p.attempt < this.config.probeAttempts) {
      // Not yet: a live member stalled for longer than one probe answers the next one (or its
      // late ack to this one still counts); a dead one stays silent through it too.
      this.s.counters.probeRetries++;
      this.startProbe(fx, undefined, p);
      return;
    }
    onSuspect(this.s, { kind: 'suspect', id: m.id, incarnation: m.incarnation, from: this.id }, fx);
  }

  // ---- probe traffic ------------------------------------------------------------------

  private onAck(seq: number, fx: MembershipEffect[]): void {
    if (this.probe?.seq === seq || this.probe?.earlier.includes(seq)) {
      this.probe = undefined;
      this.s.awareness.apply(-1);
      return;
    }
    // An ack to a last-chance ping: what counts is the refutation it carries, if any.
    if (isLastChance(this.s, seq)) return;
    if (this.relays.onAck(seq, fx)) return;
    this.s.counters.staleAcks++;
  }
}
