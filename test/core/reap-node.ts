// A replica with its log, for the reaping tests (test/core/reaping.test.ts, retired-epochs.test.ts).
import type { Event } from '../../src/core/event.js';
import { REAPED, reportOp } from '../../src/core/reaping.js';
import { type Effect, Replica } from '../../src/core/replica.js';

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

/**
 * p (`p~1`) writes twice and dies; a and b (`a~1`, `b~1`) reap it at cut 2 (a marks, b
 * reports). p and a increment the counter `key`.
 */
export function reapedTrio(key = 'c'): { a: Node; b: Node; p: Node } {
  const node = (id: string): Node => new Node(new Replica({ id, wireVersion: 3 }));
  const inc = (by: number) => ({ type: 'pn-counter', key, op: { kind: 'increment', by } });
  const a = node('a~1');
  const b = node('b~1');
  const p = node('p~1');
  p.write([inc(1)]);
  p.write([inc(2)]);
  a.pull(p);
  b.pull(p);
  a.write([inc(10)]);
  b.pull(a);
  a.write([reportOp('p~1', { node: 'a', seq: 2, members: ['a', 'b'] })], true);
  b.pull(a);
  b.write([reportOp('p~1', { node: 'b', seq: 2 })], true);
  a.pull(b);
  return { a, b, p };
}
