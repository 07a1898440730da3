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
 */
import { ErrorCode, fail } from '../errors.js';
import { canonicalJson, type Json } from '../json.js';
import { Awareness } from './awareness.js';
import { BroadcastQueue } from './broadcast-queue.js';
import {
  confirmationsWanted,
  type MembershipConfig,
  RELAY_TIMEOUT_SHARE,
  resolveMembershipConfig,
  retransmitLimit,
  suspicionMaxMs,
  suspicionMinMs,
} from './config.js';
import {
  checkInput,
  checkMember,
  type MemberId,
  type MemberInfo,
  type MembershipEffect,
  type MembershipInput,
  type MembershipMessage,
  type MemberStatus,
} from './messages.js';
import { RttEstimator, type RttView } from './rtt.js';
import { Suspicion } from './suspicion.js';

/** Pings remembered for timing their acks; older ones are forgotten (their acks give no sample). */
const PINGS_TIMED = 1_024;

/** A member as this detector sees it. */
export interface MemberView {
  readonly id: MemberId;
  readonly incarnation: number;
  readonly status: MemberStatus;
  readonly meta: Json;
  /** When our view of it last changed status. */
  readonly sinceMs: number;
  /** While suspect: independent confirmations so far and when it will be declared dead. */
  readonly suspicion?: { readonly confirmations: number; readonly deadlineMs: number };
  /** Round trips measured by our pings to it, and the probe timeout they give (none for self). */
  readonly rtt?: RttView & { readonly probeTimeoutMs: number };
}

export interface MembershipStats {
  /** Remote inputs refused as malformed or over a bound. */
  readonly rejected: number;
  readonly probes: number;
  /** Direct pings not acked within their probe timeout (the indirect probe then ran). */
  readonly pingTimeouts: number;
  /** Probes that ended without any ack. */
  readonly probeFailures: number;
  /** Suspicions this member started from its own failed probes. */
  readonly suspicionsRaised: number;
  /** Times this member raised its incarnation to refute a suspicion. */
  readonly refutations: number;
  /** Acks that matched no probe or relay in flight (late, or duplicated). */
  readonly staleAcks: number;
  /** Ping-reqs refused because `maxPendingRelays` were in flight. */
  readonly relaysRefused: number;
  /** Lifeguard's local health score: 0 is healthy. */
  readonly healthScore: number;
  /** Gossip messages waiting to be piggybacked. */
  readonly pendingGossip: number;
}

interface MemberState {
  readonly id: MemberId;
  incarnation: number;
  status: MemberStatus;
  meta: Json;
  /** Canonical JSON of `meta`: an alive claim about us with other metadata is a conflict. */
  metaKey: string;
  sinceMs: number;
}

interface Probe {
  readonly target: MemberId;
  readonly seq: number;
  readonly pingDeadlineMs: number;
  readonly endMs: number;
  indirectSent: boolean;
  /** The ping-req helpers asked: each one owes us an ack or a nack. */
  via: readonly MemberId[];
  readonly nacks: Set<MemberId>;
}

interface Relay {
  readonly requester: MemberId;
  readonly seq: number;
  readonly deadlineMs: number;
}

type Counters = { -readonly [K in keyof MembershipStats]: number };

export class FailureDetector {
  readonly id: MemberId;
  readonly config: MembershipConfig;
  private readonly random: () => number;
  private readonly me: MemberState;
  private readonly table = new Map<MemberId, MemberState>();
  private readonly suspicions = new Map<MemberId, Suspicion>();
  private readonly relays = new Map<number, Relay>();
  private readonly queue = new BroadcastQueue();
  private readonly rtts = new Map<MemberId, RttEstimator>();
  /** Our pings by seq: to whom and when, so that an ack from that member is a round-trip sample. */
  private readonly pings = new Map<number, { readonly to: MemberId; readonly atMs: number }>();
  private readonly awareness: Awareness;
  private probeOrder: MemberId[] = [];
  private probeIndex = 0;
  private probe: Probe | undefined;
  /** Undefined until the first tick, which staggers the first probe randomly in a period. */
  private nextProbeAtMs: number | undefined;
  private nextGossipAtMs = 0;
  private seq = 0;
  private nowMs = 0;
  private leaving = false;
  private leaveDone = false;
  private readonly counters: Counters = {
    rejected: 0,
    probes: 0,
    pingTimeouts: 0,
    probeFailures: 0,
    suspicionsRaised: 0,
    refutations: 0,
    staleAcks: 0,
    relaysRefused: 0,
    healthScore: 0,
    pendingGossip: 0,
  };

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
    this.random = random;
    this.awareness = new Awareness(this.config.awarenessMaxMultiplier);
    this.me = {
      id: self.id,
      incarnation: self.incarnation,
      status: 'alive',
      meta: self.meta,
      metaKey: canonicalJson(self.meta, this.config.maxMetaBytes, 'member metadata'),
      sinceMs: 0,
    };
    this.table.set(self.id, this.me);
    // Our first pings introduce us to members that only know us from elsewhere.
    this.queue.enqueue(this.selfAlive());
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
    if (nowMs < this.nowMs) {
      fail(
        ErrorCode.InvalidArgument,
        `Time went backwards from ${this.nowMs} to ${nowMs} ms; drive the detector with a monotonic clock.`,
      );
    }
    const bad = checkInput(input, this.config.maxMetaBytes, this.config.maxMembers);
    if (bad !== undefined) {
      this.counters.rejected++;
      const kind = (input as { kind?: unknown } | null)?.kind;
      return [
        { kind: 'rejected', input: typeof kind === 'string' ? kind.slice(0, 32) : 'unknown', reason: bad },
      ];
    }
    this.nowMs = nowMs;
    const fx: MembershipEffect[] = [];
    switch (input.kind) {
      case 'tick':
        this.tick(fx);
        break;
      case 'join':
        this.onAlive(aliveOf(input.member), true, fx);
        break;
      case 'members-seen':
        for (const m of input.members) {
          const why = checkMember(m, this.config.maxMetaBytes);
          if (why === undefined) this.onAlive(aliveOf(m), false, fx);
          else {
            this.counters.rejected++;
            fx.push({ kind: 'rejected', input: 'members-seen', reason: why });
          }
        }
        break;
      case 'ping':
        fx.push({
          kind: 'send-ack',
          to: input.from,
          seq: input.seq,
          piggyback: this.piggyback(input.from, 1),
        });
        break;
      case 'ping-req':
        this.onPingReq(input.from, input.seq, input.target, input.timeoutMs, fx);
        break;
      case 'ack':
        this.sampleRtt(input.from, input.seq);
        this.onAck(input.seq, fx);
        break;
      case 'nack':
        if (this.probe?.seq === input.seq && this.probe.via.includes(input.from)) {
          this.probe.nacks.add(input.from);
        }
        break;
      case 'alive':
        this.onAlive(input, true, fx);
        break;
      case 'suspect':
        this.onSuspect(input, fx);
        break;
      case 'dead':
      case 'left':
        this.onDown(input, fx);
        break;
      case 'leave':
        this.leave(fx);
        break;
      case 'refute-needed':
        this.accusedOfIncarnation(input.incarnation, fx);
        break;
    }
    if (this.leaving && !this.leaveDone && this.leaveDisseminated()) {
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
    if (this.nextProbeAtMs === undefined) return this.nowMs;
    let t = this.nextProbeAtMs;
    const p = this.probe;
    if (p) t = Math.min(t, p.indirectSent ? p.endMs : p.pingDeadlineMs);
    for (const s of this.suspicions.values()) t = Math.min(t, s.deadlineMs);
    for (const r of this.relays.values()) t = Math.min(t, r.deadlineMs);
    if (this.queue.size > 0 && this.config.gossipNodes > 0)
      t = Math.min(t, Math.max(this.nowMs, this.nextGossipAtMs));
    for (const m of this.table.values()) {
      if (m !== this.me && (m.status === 'dead' || m.status === 'left')) {
        t = Math.min(t, m.sinceMs + this.config.deadRetentionMs);
      }
    }
    return t;
  }

  // ---- reads --------------------------------------------------------------------------

  get(id: MemberId): MemberView | undefined {
    const m = this.table.get(id);
    return m ? this.view(m) : undefined;
  }

  /** Every member we know, ourselves included, dead and left ones until they are forgotten. */
  members(): MemberView[] {
    return [...this.table.values()]
      .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
      .map((m) => this.view(m));
  }

  get self(): MemberView {
    return this.view(this.me);
  }

  get incarnation(): number {
    return this.me.incarnation;
  }

  get healthScore(): number {
    return this.awareness.score;
  }

  /** Members alive or suspect, ourselves included while we are not leaving: N in the formulas. */
  liveCount(): number {
    let n = 0;
    for (const m of this.table.values()) if (m.status === 'alive' || m.status === 'suspect') n++;
    return n;
  }

  stats(): MembershipStats {
    return { ...this.counters, healthScore: this.awareness.score, pendingGossip: this.queue.size };
  }

  private view(m: MemberState): MemberView {
    const s = this.suspicions.get(m.id);
    const rtt = this.rtts.get(m.id)?.view();
    const base = {
      id: m.id,
      incarnation: m.incarnation,
      status: m.status,
      meta: m.meta,
      sinceMs: m.sinceMs,
      ...(rtt ? { rtt: { ...rtt, probeTimeoutMs: this.probeTimeoutFor(m.id) } } : {}),
    };
    return s && m.status === 'suspect'
      ? { ...base, suspicion: { confirmations: s.confirmations, deadlineMs: s.deadlineMs } }
      : base;
  }

  // ---- the protocol period ------------------------------------------------------------

  private tick(fx: MembershipEffect[]): void {
    if (this.leaveDone) return;
    const now = this.nowMs;
    const p = this.probe;
    if (p) {
      if (!p.indirectSent && now >= p.pingDeadlineMs) this.sendIndirect(p, fx);
      if (now >= p.endMs) {
        this.probe = undefined;
        this.probeFailed(p, fx);
      }
    }
    if (this.probe === undefined) {
      this.nextProbeAtMs ??= now + this.randomInt(this.config.probeIntervalMs);
      if (now >= this.nextProbeAtMs) this.startProbe(fx);
    }
    // After the probe step: its failure may have confirmed a suspicion past its deadline.
    for (const [id, s] of [...this.suspicions]) {
      if (s.deadlineMs > now) continue;
      const m = this.table.get(id);
      // A departing member spreads its own news, not new accusations.
      if (m?.status !== 'suspect' || this.leaving) {
        this.suspicions.delete(id);
        continue;
      }
      if (s.lastChanceSeq === undefined) {
        // One last direct ping before the verdict. It carries the suspicion (buddy system), so a
        // live member that missed the gossip refutes in its ack; only silence makes it dead.
        const seq = ++this.seq;
        s.lastChanceSent(seq, now, this.awareness.scale(this.probeTimeoutFor(id)));
        this.notePing(seq, id);
        fx.push({ kind: 'send-ping', to: id, seq, piggyback: this.piggyback(id, 1) });
        continue;
      }
      this.suspicions.delete(id);
      this.onDown({ kind: 'dead', id, incarnation: m.incarnation, from: this.id }, fx);
    }
    for (const [seq, r] of [...this.relays]) {
      if (r.deadlineMs > now) continue;
      this.relays.delete(seq);
      fx.push({ kind: 'send-nack', to: r.requester, seq: r.seq, piggyback: this.piggyback(r.requester, 1) });
    }
    if (now >= this.nextGossipAtMs && this.queue.size > 0) this.gossip(fx);
    for (const [id, m] of [...this.table]) {
      if (m === this.me || (m.status !== 'dead' && m.status !== 'left')) continue;
      if (now - m.sinceMs >= this.config.deadRetentionMs) {
        this.table.delete(id);
        this.rtts.delete(id);
      }
    }
  }

  private startProbe(fx: MembershipEffect[]): void {
    const now = this.nowMs;
    const periodMs = this.awareness.scale(this.config.probeIntervalMs);
    const target = this.nextTarget();
    if (target === undefined) {
      this.nextProbeAtMs = now + periodMs;
      return;
    }
    const timeoutMs = this.awareness.scale(this.probeTimeoutFor(target));
    // A member whose round trip needs more than half the period gets a longer one: the
    // indirect probe, two hops each way, needs about as long again as the direct one.
    const spanMs = Math.max(periodMs, 2 * timeoutMs);
    this.nextProbeAtMs = now + spanMs;
    const seq = ++this.seq;
    this.probe = {
      target,
      seq,
      pingDeadlineMs: now + timeoutMs,
      endMs: now + spanMs,
      indirectSent: false,
      via: [],
      nacks: new Set(),
    };
    this.counters.probes++;
    this.notePing(seq, target);
    fx.push({ kind: 'send-ping', to: target, seq, piggyback: this.piggyback(target, 1) });
  }

  /**
   * The direct probe timeout for `id` before Lifeguard's scaling: probeTimeoutMs until its
   * round trip is measured, then adaptive (config.rttTimeoutMult; docs/membership.md).
   */
  probeTimeoutFor(id: MemberId): number {
    const c = this.config;
    const est = this.rtts.get(id);
    if (!est || c.rttTimeoutMult === 0) return c.probeTimeoutMs;
    return est.timeoutMs(c.probeTimeoutMs, c.rttTimeoutMult, c.maxProbeTimeoutMs);
  }

  private notePing(seq: number, to: MemberId): void {
    this.pings.set(seq, { to, atMs: this.nowMs });
    if (this.pings.size > PINGS_TIMED) {
      const oldest = this.pings.keys().next().value;
      if (oldest !== undefined) this.pings.delete(oldest);
    }
  }

  /** An ack from the member we pinged is a round-trip sample, however late (late ones matter most). */
  private sampleRtt(from: MemberId, seq: number): void {
    const p = this.pings.get(seq);
    if (p?.to !== from) return;
    this.pings.delete(seq);
    if (!this.table.has(from)) return;
    let est = this.rtts.get(from);
    if (!est) {
      est = new RttEstimator();
      this.rtts.set(from, est);
    }
    est.add(this.nowMs - p.atMs);
  }

  private sendIndirect(p: Probe, fx: MembershipEffect[]): void {
    p.indirectSent = true;
    this.counters.pingTimeouts++;
    if (this.leaving || this.config.indirectChecks === 0) return;
    const candidates: MemberId[] = [];
    for (const m of this.table.values()) {
      if (m.status === 'alive' && m !== this.me && m.id !== p.target) candidates.push(m.id);
    }
    const via = this.pickRandom(candidates, this.config.indirectChecks);
    if (via.length === 0) return;
    p.via = via;
    // Helpers nack within the rest of our period, leaving room for the nack to come back.
    const timeoutMs = Math.max(1, Math.floor((p.endMs - this.nowMs) * RELAY_TIMEOUT_SHARE));
    fx.push({
      kind: 'send-ping-req',
      via,
      target: p.target,
      seq: p.seq,
      timeoutMs,
      piggyback: this.piggyback(p.target, via.length),
    });
  }

  private probeFailed(p: Probe, fx: MembershipEffect[]): void {
    this.counters.probeFailures++;
    if (this.leaving) return;
    // Lifeguard: helpers that did not even nack suggest the trouble is ours, not the target's.
    // With no helpers to ask, every failed probe counts against us.
    const expected = p.via.length;
    this.awareness.apply(expected > 0 ? expected - Math.min(expected, p.nacks.size) : 1);
    const m = this.table.get(p.target);
    if (m?.status !== 'alive' && m?.status !== 'suspect') return;
    this.onSuspect({ kind: 'suspect', id: m.id, incarnation: m.incarnation, from: this.id }, fx);
  }

  /**
   * memberlist's gossip loop: pending news to a few random members, the recently dead among
   * them, so that a member declared dead by mistake hears of it and can refute.
   */
  private gossip(fx: MembershipEffect[]): void {
    this.nextGossipAtMs = this.nowMs + this.config.gossipIntervalMs;
    const candidates: MemberId[] = [];
    for (const m of this.table.values()) {
      if (m !== this.me && m.status !== 'left') candidates.push(m.id);
    }
    for (const to of this.pickRandom(candidates, this.config.gossipNodes)) {
      const piggyback = this.piggyback(to, 1);
      if (piggyback.length === 0) return;
      fx.push({ kind: 'send-gossip', to, piggyback });
    }
  }

  /** Round robin over a shuffled order, reshuffled each round (SWIM §4.3). */
  private nextTarget(): MemberId | undefined {
    for (let pass = 0; pass < 2; pass++) {
      while (this.probeIndex < this.probeOrder.length) {
        const id = this.probeOrder[this.probeIndex++];
        const m = id === undefined ? undefined : this.table.get(id);
        if (m && m !== this.me && (m.status === 'alive' || m.status === 'suspect')) return m.id;
      }
      const ids: MemberId[] = [];
      for (const m of this.table.values()) {
        if (m !== this.me && (m.status === 'alive' || m.status === 'suspect')) ids.push(m.id);
      }
      this.probeOrder = this.shuffle(ids);
      this.probeIndex = 0;
    }
    return undefined;
  }

  /**
   * A member new to (or back in) our view joins the current round at a random place, so it is
   * probed within this round and new members do not all queue at the end.
   */
  private addToProbeOrder(id: MemberId): void {
    if (this.probeOrder.includes(id, this.probeIndex)) return;
    const at = this.probeIndex + this.randomInt(this.probeOrder.length - this.probeIndex + 1);
    this.probeOrder.splice(at, 0, id);
  }

  // ---- probe traffic ------------------------------------------------------------------

  private onPingReq(
    from: MemberId,
    seq: number,
    target: MemberId,
    timeoutMs: number,
    fx: MembershipEffect[],
  ): void {
    if (target === this.id) {
      fx.push({ kind: 'send-ack', to: from, seq, piggyback: this.piggyback(from, 1) });
      return;
    }
    if (this.relays.size >= this.config.maxPendingRelays) {
      this.counters.relaysRefused++;
      return;
    }
    // A peer may not keep a relay open longer than our own most patient period.
    const cap = this.config.probeIntervalMs * this.config.awarenessMaxMultiplier;
    const ourSeq = ++this.seq;
    this.relays.set(ourSeq, { requester: from, seq, deadlineMs: this.nowMs + Math.min(timeoutMs, cap) });
    this.notePing(ourSeq, target);
    fx.push({ kind: 'send-ping', to: target, seq: ourSeq, piggyback: this.piggyback(target, 1) });
  }

  private onAck(seq: number, fx: MembershipEffect[]): void {
    if (this.probe?.seq === seq) {
      this.probe = undefined;
      this.awareness.apply(-1);
      return;
    }
    for (const s of this.suspicions.values()) {
      // An ack to a last-chance ping: what counts is the refutation it carries, if any.
      if (s.lastChanceSeq === seq) return;
    }
    const r = this.relays.get(seq);
    if (r) {
      this.relays.delete(seq);
      fx.push({ kind: 'send-ack', to: r.requester, seq: r.seq, piggyback: this.piggyback(r.requester, 1) });
      return;
    }
    this.counters.staleAcks++;
  }

  /**
   * Gossip for one packet to `to`. Lifeguard's buddy system, extended to the dead: a packet to
   * a member we hold suspect or dead tells it so first, so it can refute at once. A member
   * declared dead while cut off would otherwise never hear of it: the gossip went out while it
   * was unreachable, and nobody has news about it any more.
   */
  private piggyback(to: MemberId, copies: number): MembershipMessage[] {
    const max = this.config.maxPiggyback;
    if (max === 0) return [];
    const limit = retransmitLimit(this.config, this.liveCount());
    const m = this.table.get(to);
    if (m?.status !== 'suspect' && m?.status !== 'dead') return this.queue.take(max, limit, copies);
    const buddy: MembershipMessage = { kind: m.status, id: to, incarnation: m.incarnation, from: this.id };
    return [buddy, ...this.queue.take(max - 1, limit, copies).filter((g) => g.id !== to)];
  }

  // ---- gossip -------------------------------------------------------------------------

  private onAlive(
    msg: Extract<MembershipMessage, { kind: 'alive' }>,
    gossip: boolean,
    fx: MembershipEffect[],
  ): void {
    if (msg.id === this.id) {
      if (this.leaving) return;
      const conflicting =
        msg.incarnation > this.me.incarnation ||
        (msg.incarnation === this.me.incarnation &&
          canonicalJson(msg.meta, this.config.maxMetaBytes, 'member metadata') !== this.me.metaKey);
      // Someone holds a claim about us we did not make (an earlier life): outbid it.
      if (conflicting) this.refute(msg.incarnation, fx);
      return;
    }
    const m = this.table.get(msg.id);
    if (!m) {
      if (this.table.size >= this.config.maxMembers) {
        this.counters.rejected++;
        fx.push({
          kind: 'rejected',
          input: 'alive',
          reason: `the member table is full (${this.config.maxMembers}); raise maxMembers`,
        });
        return;
      }
      const fresh: MemberState = {
        id: msg.id,
        incarnation: msg.incarnation,
        status: 'alive',
        meta: msg.meta,
        metaKey: canonicalJson(msg.meta, this.config.maxMetaBytes, 'member metadata'),
        sinceMs: this.nowMs,
      };
      this.table.set(msg.id, fresh);
      this.addToProbeOrder(msg.id);
      this.changed(fresh, null, fx);
      if (gossip) this.queue.enqueue(msg);
      return;
    }
    if (msg.incarnation <= m.incarnation) return;
    const from = m.status;
    m.incarnation = msg.incarnation;
    m.meta = msg.meta;
    m.metaKey = canonicalJson(msg.meta, this.config.maxMetaBytes, 'member metadata');
    this.suspicions.delete(m.id);
    if (from !== 'alive') {
      m.status = 'alive';
      m.sinceMs = this.nowMs;
      this.addToProbeOrder(m.id);
      this.changed(m, from, fx);
    }
    if (gossip) this.queue.enqueue(msg);
  }

  private onSuspect(msg: Extract<MembershipMessage, { kind: 'suspect' }>, fx: MembershipEffect[]): void {
    if (msg.id === this.id) {
      this.accusedOfIncarnation(msg.incarnation, fx);
      return;
    }
    const m = this.table.get(msg.id);
    if (!m || msg.incarnation < m.incarnation || m.status === 'dead' || m.status === 'left') return;
    const current = this.suspicions.get(m.id);
    if (m.status === 'suspect' && current && msg.incarnation === m.incarnation) {
      // Lifeguard: another member's independent accusation shortens the timeout. Gossip it on
      // only if it was news, so confirmations keep flowing without echoing for ever.
      if (current.confirm(msg.from)) this.spread(msg, fx);
      return;
    }
    // A new accusation (or one at an incarnation we had not heard of: a fresh suspicion, so
    // the member gets the full time to refute it).
    const n = this.liveCount();
    this.suspicions.set(
      m.id,
      new Suspicion(
        msg.from,
        confirmationsWanted(this.config, n),
        suspicionMinMs(this.config, n),
        suspicionMaxMs(this.config, n),
        this.nowMs,
      ),
    );
    m.incarnation = msg.incarnation;
    if (msg.from === this.id) this.counters.suspicionsRaised++;
    if (m.status !== 'suspect') {
      const from = m.status;
      m.status = 'suspect';
      m.sinceMs = this.nowMs;
      this.changed(m, from, fx);
    }
    this.spread(msg, fx);
  }

  /** dead or left: final for the incarnation. */
  private onDown(msg: Extract<MembershipMessage, { kind: 'dead' | 'left' }>, fx: MembershipEffect[]): void {
    if (msg.id === this.id) {
      this.accusedOfIncarnation(msg.incarnation, fx);
      return;
    }
    const m = this.table.get(msg.id);
    if (!m || msg.incarnation < m.incarnation || m.status === 'dead' || m.status === 'left') return;
    this.suspicions.delete(m.id);
    const from = m.status;
    m.status = msg.kind;
    m.incarnation = msg.incarnation;
    m.sinceMs = this.nowMs;
    this.changed(m, from, fx);
    this.spread(msg, fx);
  }

  /** Someone holds us suspect, dead or gone at `incarnation`. */
  private accusedOfIncarnation(incarnation: number, fx: MembershipEffect[]): void {
    if (this.leaving) return;
    if (incarnation >= this.me.incarnation) {
      this.refute(incarnation, fx);
    } else if (this.queue.peek(this.id)?.kind !== 'alive') {
      // A stale accusation still circulating: our current alive outbids it; make sure it is out.
      this.queue.enqueue(this.selfAlive());
    }
  }

  private refute(accused: number, fx: MembershipEffect[]): void {
    this.me.incarnation = Math.max(this.me.incarnation, accused) + 1;
    // Lifeguard: being suspected hints that we are the slow one.
    this.awareness.apply(1);
    this.counters.refutations++;
    fx.push({ kind: 'refute', incarnation: this.me.incarnation });
    this.spread(this.selfAlive(), fx);
  }

  private leave(fx: MembershipEffect[]): void {
    if (this.leaving) return;
    this.leaving = true;
    this.me.status = 'left';
    this.me.sinceMs = this.nowMs;
    this.changed(this.me, 'alive', fx);
    this.spread({ kind: 'left', id: this.id, incarnation: this.me.incarnation }, fx);
  }

  private leaveDisseminated(): boolean {
    return (
      this.config.maxPiggyback === 0 || this.liveCount() === 0 || this.queue.peek(this.id)?.kind !== 'left'
    );
  }

  /** Queues a message for piggybacking; a message we originate also goes out as a broadcast. */
  private spread(msg: MembershipMessage, fx: MembershipEffect[]): void {
    this.queue.enqueue(msg);
    const ours =
      msg.id === this.id || ((msg.kind === 'suspect' || msg.kind === 'dead') && msg.from === this.id);
    if (ours) fx.push({ kind: 'broadcast', message: msg });
  }

  private changed(m: MemberState, from: MemberStatus | null, fx: MembershipEffect[]): void {
    fx.push({
      kind: 'status-changed',
      id: m.id,
      from,
      to: m.status,
      incarnation: m.incarnation,
      meta: m.meta,
      atMs: this.nowMs,
    });
  }

  private selfAlive(): MembershipMessage {
    return { kind: 'alive', id: this.id, incarnation: this.me.incarnation, meta: this.me.meta };
  }

  // ---- randomness ---------------------------------------------------------------------

  /** Uniform integer in [0, n). Tolerates a random source that strays outside [0, 1). */
  private randomInt(n: number): number {
    const i = Math.floor(this.random() * n);
    return i >= 0 && i < n ? i : 0;
  }

  private shuffle<T>(xs: T[]): T[] {
    for (let i = xs.length - 1; i > 0; i--) {
      const j = this.randomInt(i + 1);
      const a = xs[i] as T;
      xs[i] = xs[j] as T;
      xs[j] = a;
    }
    return xs;
  }

  private pickRandom<T>(xs: T[], k: number): T[] {
    const n = Math.min(k, xs.length);
    for (let i = 0; i < n; i++) {
      const j = i + this.randomInt(xs.length - i);
      const a = xs[i] as T;
      xs[i] = xs[j] as T;
      xs[j] = a;
    }
    return xs.slice(0, n);
  }
}

function aliveOf(m: MemberInfo): Extract<MembershipMessage, { kind: 'alive' }> {
  return { kind: 'alive', id: m.id, incarnation: m.incarnation, meta: m.meta };
}
