/**
 * Dissemination (SWIM §4.1, "infection-style"): membership news rides on the packets the probe
 * cycle sends anyway (piggyback), and memberlist's gossip loop sends pending news to a few
 * random members as well. Each message goes out a bounded number of times (`retransmitLimit`).
 */
import { retransmitLimit } from './config.js';
import type { DetectorState } from './detector-state.js';
import type { MemberId, MembershipEffect, MembershipMessage } from './messages.js';

/**
 * Gossip for one packet to `to`. Lifeguard's buddy system, extended to the dead and the left: a
 * packet to a member we hold suspect, dead or left tells it so first, so it can refute at once.
 * A member declared dead while cut off would otherwise never hear of it: the gossip went out
 * while it was unreachable, and nobody has news about it any more. A member we hold left that
 * pings us is a new life of it (one that started too low: docs/chaos.md item (a)).
 */
export function piggyback(s: DetectorState, to: MemberId, copies: number): MembershipMessage[] {
  const max = s.config.maxPiggyback;
  if (max === 0) return [];
  const limit = retransmitLimit(s.config, s.liveCount());
  const m = s.table.get(to);
  if (m === undefined || m === s.me || m.status === 'alive') return s.queue.take(max, limit, copies);
  const buddy: MembershipMessage =
    m.status === 'left'
      ? { kind: 'left', id: to, incarnation: m.incarnation }
      : { kind: m.status, id: to, incarnation: m.incarnation, from: s.id };
  return [buddy, ...s.queue.take(max - 1, limit, copies).filter((g) => g.id !== to)];
}

/**
 * memberlist's gossip loop, one round: pending news to a few random members, the recently dead
 * among them, so that a member declared dead by mistake hears of it and can refute.
 */
export function gossipRound(s: DetectorState, fx: MembershipEffect[]): void {
  const candidates: MemberId[] = [];
  for (const m of s.table.values()) {
    if (m !== s.me && m.status !== 'left') candidates.push(m.id);
  }
  for (const to of s.random.pick(candidates, s.config.gossipNodes)) {
    const news = piggyback(s, to, 1);
    if (news.length === 0) return;
    fx.push({ kind: 'send-gossip', to, piggyback: news });
  }
}
