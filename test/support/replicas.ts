/**
 * Small helpers for tests that drive core replicas by hand: a local write that must make an
 * event, delivery of remote events, and counter ops.
 */
import type { Event } from '../../src/core/event.js';
import type { Replica } from '../../src/core/replica.js';

export const NOW = 1_700_000_000_000;

export const inc = (by: number, key = 'c') => ({ type: 'pn-counter', key, op: { kind: 'increment', by } });
export const del = (key = 'c') => ({ type: 'pn-counter', key, op: { kind: 'delete' } });

/** A local write of `ops` at `r`: its event. */
export function write(r: Replica, ...ops: unknown[]): Event {
  const { event } = r.step({ kind: 'local', ops }, NOW);
  if (!event) throw new Error('no event');
  return event;
}

/** Delivers `events` to `r` as a peer would, in this order. */
export function receive(r: Replica, ...events: Event[]): void {
  for (const event of events) r.step({ kind: 'remote', event, bytes: 100 }, NOW);
}
