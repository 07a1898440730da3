/**
 * An in-memory event log with the query anti-entropy needs: "every event this clock has not
 * seen, in an order that respects causality". The durable log (src/store) answers the same
 * query from SQLite; this one serves the deterministic simulation and tests.
 */
import { type ReadonlyVectorClock, vcGet } from './clock/vector-clock.js';
import type { Event } from './event.js';

export class MemoryLog {
  private readonly events: Event[] = [];

  /** Appends an applied event. Append order is delivery order, hence a causal order. */
  append(e: Event): void {
    this.events.push(e);
  }

  /** Events not covered by `vc`, in causal order. */
  since(vc: ReadonlyVectorClock): Event[] {
    return this.events.filter((e) => e.seq > vcGet(vc, e.origin));
  }

  get size(): number {
    return this.events.length;
  }
}
