/**
 * The piggyback queue (SWIM, Das et al. 2002, §4.1 infection-style dissemination; memberlist
 * broadcast.go and queue.go's TransmitLimitedQueue). Gossip rides on probe packets. Each
 * message is sent a bounded number of times (λ·log N, so it reaches everyone with high
 * probability without circulating for ever), the least-sent first so news overtakes old
 * news, and a newer message about a member replaces any queued older one, so stale claims
 * stop spreading as soon as better ones are known.
 */
import type { MemberId, MembershipMessage } from './messages.js';

interface Queued {
  readonly message: MembershipMessage;
  transmits: number;
  /** Insertion order: among equally sent messages the newest goes first. */
  readonly order: number;
}

export class BroadcastQueue {
  private readonly byMember = new Map<MemberId, Queued>();
  private counter = 0;

  get size(): number {
    return this.byMember.size;
  }

  /** Queues `message`, replacing whatever was queued about the same member. */
  enqueue(message: MembershipMessage): void {
    this.byMember.set(message.id, { message, transmits: 0, order: this.counter++ });
  }

  /** The queued message about `id`, if any. */
  peek(id: MemberId): MembershipMessage | undefined {
    return this.byMember.get(id)?.message;
  }

  /**
   * Takes up to `max` messages for a packet going to `copies` destinations. Each counts as
   * sent `copies` times; one sent `limit` times or more leaves the queue.
   */
  take(max: number, limit: number, copies = 1): MembershipMessage[] {
    if (max <= 0 || this.byMember.size === 0) return [];
    const picked = [...this.byMember.values()]
      .sort((a, b) => a.transmits - b.transmits || b.order - a.order)
      .slice(0, max);
    for (const q of picked) {
      q.transmits += copies;
      if (q.transmits >= limit) this.byMember.delete(q.message.id);
    }
    return picked.map((q) => q.message);
  }
}
