/**
 * The failure detector's protocol period (failure-detector.ts): probe the next member in
 * turn (or one whose connection was lost, out of turn) with a ping, then through
 * `indirectChecks` helpers (ping-req), retry up to `probeAttempts`, and suspect it if every
 * attempt fails; each tick also runs the suspicions' deadlines, the relays' deadlines, a gossip
 * round and the retention of dead and left members. Pure, as the detector: time is `s.nowMs`.
 */
import { gossipRound, piggyback } from './dissemination.js';
import type { DetectorState } from './detector-state.js';
import type { MemberId, MembershipEffect } from './messages.js';
import { onSuspect } from './membership-updates.js';
import type { Probe } from './probe.js';
import { type Relays, relayTimeoutMs } from './relays.js';
import { isLastChance, nextSuspicionDueMs, runSuspicionDeadlines } from './suspicion-deadlines.js';

export class ProbeCycle {
  private probe: Probe | undefined;
  /** Undefined until the first tick, which staggers the first probe randomly in a period. */
  private nextProbeAtMs: number | undefined;
  private nextGossipAtMs = 0;

  constructor(
    private readonly s: DetectorState,
    private readonly relays: Relays,
  ) {}

  /** When the next tick is due (FailureDetector.nextTickAtMs). */
  nextTickAtMs(): number {
    if (this.nextProbeAtMs === undefined) return this.s.nowMs;
    let t = this.nextProbeAtMs;
    const p = this.probe;
    if (p) t = Math.min(t, p.indirectSent ? p.endMs : p.pingDeadlineMs);
    else if (this.s.probeOrder.soonCount > 0) t = this.s.nowMs;
    t = Math.min(t, nextSuspicionDueMs(this.s));
    t = Math.min(t, this.relays.nextDeadlineMs());
    if (this.s.queue.size > 0 && this.s.config.gossipNodes > 0)
      t = Math.min(t, Math.max(this.s.nowMs, this.nextGossipAtMs));
    for (const m of this.s.table.values()) {
      if (m !== this.s.me && (m.status === 'dead' || m.status === 'left')) {
        t = Math.min(t, m.sinceMs + this.s.config.deadRetentionMs);
      }
    }
    return t;
  }

  /** One protocol period's work that is due now. */
  tick(fx: MembershipEffect[]): void {
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
      this.nextProbeAtMs ??= now + this.s.random.int(this.s.config.probeIntervalMs);
      const soon = this.s.probeOrder.nextSoon(this.s.table, this.s.me);
      if (soon !== undefined || now >= this.nextProbeAtMs) this.startProbe(fx, soon);
    }
    // After the probe step: its failure may have confirmed a suspicion past its deadline.
    runSuspicionDeadlines(this.s, fx);
    this.relays.expire(fx);
    if (now >= this.nextGossipAtMs && this.s.queue.size > 0) {
      this.nextGossipAtMs = now + this.s.config.gossipIntervalMs;
      gossipRound(this.s, fx);
    }
    for (const [id, m] of [...this.s.table]) {
      if (m === this.s.me || (m.status !== 'dead' && m.status !== 'left')) continue;
      if (now - m.sinceMs >= this.s.config.deadRetentionMs) {
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
    const periodMs = this.s.awareness.scale(this.s.config.probeIntervalMs);
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
   * The transport lost its connection to `id`: probe it out of turn, now if nothing runs. A
   * probe of it already running becomes one: its ping cannot get through, so the helpers try
   * at once, it ends within a period, and it gets no further attempt if it fails.
   */
  onConnectionLost(id: MemberId, fx: MembershipEffect[]): void {
    const m = this.s.table.get(id);
    const p = this.probe;
    if (p?.target === id && !p.final) {
      p.final = true;
      p.endMs = Math.min(p.endMs, this.s.nowMs + this.s.awareness.scale(this.s.config.probeIntervalMs));
      if (!p.indirectSent) this.sendIndirect(p, fx);
    }
    if (!m || m === this.s.me || this.s.leaving || p?.target === id) return;
    if (m.status !== 'alive' && m.status !== 'suspect') return;
    if (!this.s.probeOrder.probeSoon(id, this.s.nowMs, this.s.config.probeIntervalMs)) return;
    if (this.probe === undefined && this.nextProbeAtMs !== undefined) this.tick(fx);
  }

  private sendIndirect(p: Probe, fx: MembershipEffect[]): void {
    p.indirectSent = true;
    this.s.counters.pingTimeouts++;
    if (this.s.leaving || this.s.config.indirectChecks === 0) return;
    const candidates: MemberId[] = [];
    for (const m of this.s.table.values()) {
      if (m.status === 'alive' && m !== this.s.me && m.id !== p.target) candidates.push(m.id);
    }
    const via = this.s.random.pick(candidates, this.s.config.indirectChecks);
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
    if (!p.final && p.attempt < this.s.config.probeAttempts) {
      // Not yet: a live member stalled for longer than one probe answers the next one (or its
      // late ack to this one still counts); a dead one stays silent through it too.
      this.s.counters.probeRetries++;
      this.startProbe(fx, undefined, p);
      return;
    }
    onSuspect(this.s, { kind: 'suspect', id: m.id, incarnation: m.incarnation, from: this.s.id }, fx);
  }

  onAck(seq: number, fx: MembershipEffect[]): void {
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

  /** A helper could not reach the target of our probe either (Lifeguard). */
  onNack(from: MemberId, seq: number): void {
    if (this.probe?.seq === seq && this.probe.via.includes(from)) this.probe.nacks.add(from);
  }
}
