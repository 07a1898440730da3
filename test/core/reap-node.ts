// A replica with its log, for the reaping tests (test/core/reaping.test.ts, retired-epochs.test.ts).
import type { Event } from '../../src/core/event.js';
import { REAPED } from '../../src/core/reaping.js';
import type { Effect, Replica } from '../../src/core/replica.js';

export const NOW = 1_700_000_000_000;

/** A replica that keeps its applied events (its log), in delivery order. */
export class Node {
  readonly log: Event[] = [];
  readonly effects: Effect[] = [];
  constructor(public replica: Replica) {}
  get id(): string {
    return this.replica.id;
  }
  write(ops: unknown[], system = false): Event {
    const { event } = this.replica.step({ kind: 'local', ops, system }, NOW);
    if (!event) throw new Error('no event');
    this.log.push(event);
    return event;
  }
  receive(e: Event): void {
    const fx = this.replica.step({ kind: 'remote', event: e, bytes: 100 }, NOW).effects;
    this.effects.push(...fx);
    for (const f of fx) if (f.kind === 'persist') this.log.push(f.event);
  }
  /** One anti-entropy round from `from`: every event of its log this replica lacks, in log order. */
  pullOnce(from: Pick<Node, 'log'>): void {
    for (const e of from.log) if (e.seq > (this.replica.clock().get(e.origin) ?? 0)) this.receive(e);
  }
  /**
   * A few anti-entropy rounds from `from` (as the agent's gap repair does): an event refused
   * beyond a reap limit is fetched again once a report that depends on it raised the limit.
   */
  pull(from: Pick<Node, 'log'>): void {
    for (let i = 0; i < 3; i++) this.pullOnce(from);
  }
  refused(): number {
    return this.effects.filter((f) => f.kind === 'rejected' && f.code === REAPED).length;
  }
}
