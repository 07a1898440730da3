/**
 * Whom to probe next: round robin over a shuffled order of the live members, reshuffled each
 * round (SWIM §4.3), so every member is probed within a bounded time and the probes of
 * different members do not line up.
 */
import type { MemberId } from './messages.js';
import type { RandomChoice } from './random-choice.js';
import type { MemberState } from './detector-state.js';

export class ProbeOrder {
  private order: MemberId[] = [];
  private index = 0;
  /** Members to probe out of turn (their connection was lost), oldest first. */
  private soon: MemberId[] = [];
  /** When each member was last queued out of turn: at most once per period each. */
  private readonly soonAt = new Map<MemberId, number>();

  constructor(private readonly random: RandomChoice) {}

  /** The next member to probe, other than `me`, alive or suspect; undefined if there is none. */
  next(table: ReadonlyMap<MemberId, MemberState>, me: MemberState): MemberId | undefined {
    for (let pass = 0; pass < 2; pass++) {
      while (this.index < this.order.length) {
        const id = this.order[this.index++];
        const m = id === undefined ? undefined : table.get(id);
        if (m && m !== me && (m.status === 'alive' || m.status === 'suspect')) return m.id;
      }
      const ids: MemberId[] = [];
      for (const m of table.values()) {
        if (m !== me && (m.status === 'alive' || m.status === 'suspect')) ids.push(m.id);
      }
      this.order = this.random.shuffle(ids);
      this.index = 0;
    }
    return undefined;
  }

  /**
   * Queues `id` to be probed out of turn. False if it already was within the last `periodMs`
   * (a flapping connection must not turn into a probe storm) or is queued.
   */
  probeSoon(id: MemberId, nowMs: number, periodMs: number): boolean {
    const last = this.soonAt.get(id);
    if ((last !== undefined && nowMs - last < periodMs) || this.soon.includes(id)) return false;
    for (const [k, at] of this.soonAt) if (nowMs - at >= periodMs) this.soonAt.delete(k);
    this.soonAt.set(id, nowMs);
    this.soon.push(id);
    return true;
  }

  /** Members queued out of turn (some may have died meanwhile; `nextSoon` skips them). */
  get soonCount(): number {
    return this.soon.length;
  }

  /** The oldest member queued out of turn that is still alive or suspect, taken off the queue. */
  nextSoon(table: ReadonlyMap<MemberId, MemberState>, me: MemberState): MemberId | undefined {
    while (this.soon.length > 0) {
      const id = this.soon.shift();
      const m = id === undefined ? undefined : table.get(id);
      if (m && m !== me && (m.status === 'alive' || m.status === 'suspect')) return m.id;
    }
    return undefined;
  }

  /**
   * A member new to (or back in) our view joins the current round at a random place, so it is
   * probed within this round and new members do not all queue at the end.
   */
  add(id: MemberId): void {
    if (this.order.includes(id, this.index)) return;
    const at = this.index + this.random.int(this.order.length - this.index + 1);
    this.order.splice(at, 0, id);
  }
}
