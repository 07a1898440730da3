/**
 * The ping-reqs we are relaying for other members: the helper's side of SWIM's indirect probe
 * (§4.1). Each relay waits for the target's ack to our own ping, and nacks the requester if
 * none comes by its deadline (Lifeguard: a nack tells the requester that we at least heard it).
 */
import { RELAY_TIMEOUT_SHARE } from './config.js';
import type { DetectorState } from './detector-state.js';
import { piggyback } from './dissemination.js';
import type { MemberId, MembershipEffect } from './messages.js';

export interface Relay {
  readonly requester: MemberId;
  /** The requester's seq, to answer with. */
  readonly seq: number;
  readonly deadlineMs: number;
}

export class Relays {
  /** By the seq of our own ping to the target. */
  private readonly open = new Map<number, Relay>();

  constructor(private readonly s: DetectorState) {}

  /** `from` asks us to ping `target` for it (or answers for itself if we are the target). */
  onPingReq(from: MemberId, seq: number, target: MemberId, timeoutMs: number, fx: MembershipEffect[]): void {
    const s = this.s;
    if (target === s.id) {
      fx.push({ kind: 'send-ack', to: from, seq, piggyback: piggyback(s, from, 1) });
      return;
    }
    if (this.open.size >= s.config.maxPendingRelays) {
      s.counters.relaysRefused++;
      return;
    }
    // A peer may not keep a relay open longer than our own most patient period.
    const cap = s.config.probeIntervalMs * s.config.awarenessMaxMultiplier;
    const ourSeq = s.nextSeq();
    this.open.set(ourSeq, { requester: from, seq, deadlineMs: s.nowMs + Math.min(timeoutMs, cap) });
    s.roundTrips.notePing(ourSeq, target, s.nowMs);
    fx.push({ kind: 'send-ping', to: target, seq: ourSeq, piggyback: piggyback(s, target, 1) });
  }

  /** An ack to our ping `ourSeq`: if it serves a relay, passes it on and says true. */
  onAck(ourSeq: number, fx: MembershipEffect[]): boolean {
    const r = this.open.get(ourSeq);
    if (!r) return false;
    this.open.delete(ourSeq);
    fx.push({ kind: 'send-ack', to: r.requester, seq: r.seq, piggyback: piggyback(this.s, r.requester, 1) });
    return true;
  }

  /** Nacks the requesters of the relays due by now, oldest first, and closes them. */
  expire(fx: MembershipEffect[]): void {
    for (const [seq, r] of [...this.open]) {
      if (r.deadlineMs > this.s.nowMs) continue;
      this.open.delete(seq);
      fx.push({
        kind: 'send-nack',
        to: r.requester,
        seq: r.seq,
        piggyback: piggyback(this.s, r.requester, 1),
      });
    }
  }

  /** The earliest deadline, or +Infinity with none open. */
  nextDeadlineMs(): number {
    let t = Number.POSITIVE_INFINITY;
    for (const r of this.open.values()) t = Math.min(t, r.deadlineMs);
    return t;
  }
}

/**
 * The asker's side: how long the helpers it asks wait for the target before they nack. That is
 * the rest of its probe, `leftMs`, less the way back, so that their nacks arrive before it
 * ends. The way back is the ping-req to a helper and its nack: a round trip to it (srtt + 2 ×
 * rttvar for the slowest helper measured), at least the share RELAY_TIMEOUT_SHARE leaves, at
 * most half of `leftMs`.
 */
export function relayTimeoutMs(s: DetectorState, leftMs: number, via: readonly MemberId[]): number {
  let backMs = leftMs * (1 - RELAY_TIMEOUT_SHARE);
  for (const id of via) {
    const r = s.roundTrips.view(id);
    if (r) backMs = Math.max(backMs, r.srttMs + 2 * r.rttvarMs);
  }
  return Math.max(1, Math.floor(leftMs - Math.min(backMs, leftMs / 2)));
}
