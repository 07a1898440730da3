/**
 * What the open suspicions are due to do (Lifeguard's suspicion timers, suspicion.ts): the
 * last-chance ping one probe timeout before a suspicion ends, then the verdict. The failure
 * detector runs this on every tick, after its probe step, and asks `nextSuspicionDueMs` when
 * to tick next.
 */
import type { DetectorState } from './detector-state.js';
import { piggyback } from './dissemination.js';
import type { MembershipEffect } from './messages.js';
import { onDown } from './membership-updates.js';

/** Sends the last-chance pings and declares dead the suspects whose time is up. */
export function runSuspicionDeadlines(s: DetectorState, fx: MembershipEffect[]): void {
  const now = s.nowMs;
  for (const [id, sus] of [...s.suspicions]) {
    const graceMs = s.scaledProbeTimeoutFor(id);
    if (sus.dueMs(graceMs) > now) continue;
    const m = s.table.get(id);
    // A departing member spreads its own news, not new accusations.
    if (m?.status !== 'suspect' || s.leaving) {
      s.suspicions.delete(id);
      continue;
    }
    if (sus.lastChanceSeq === undefined) {
      // One last direct ping before the verdict. It carries the suspicion (buddy system), so a
      // live member that missed the gossip refutes in its ack; only silence makes it dead.
      const seq = s.nextSeq();
      sus.lastChanceSent(seq, now, graceMs);
      s.roundTrips.notePing(seq, id, now);
      fx.push({ kind: 'send-ping', to: id, seq, piggyback: piggyback(s, id, 1) });
      continue;
    }
    s.suspicions.delete(id);
    onDown(s, { kind: 'dead', id, incarnation: m.incarnation, from: s.id }, fx);
  }
}

/** When the earliest suspicion is next due, or +Infinity with none open. */
export function nextSuspicionDueMs(s: DetectorState): number {
  let t = Number.POSITIVE_INFINITY;
  for (const [id, sus] of s.suspicions) t = Math.min(t, sus.dueMs(s.scaledProbeTimeoutFor(id)));
  return t;
}

/** Whether `seq` is the last-chance ping of an open suspicion. */
export function isLastChance(s: DetectorState, seq: number): boolean {
  for (const sus of s.suspicions.values()) if (sus.lastChanceSeq === seq) return true;
  return false;
}
