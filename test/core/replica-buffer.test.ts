// Found by the lifecycle simulation (test/core/lifecycle-simulation.test.ts, seed 7119 before
// the fix): an event waiting in the causal buffer that a snapshot install makes deliverable
// stays buffered; when sync then brings the same event again it is delivered directly, and the
// buffered copy was left behind for good: a stale entry that counted against the buffer's
// bounds and made every tick ask for repair, forever.
import { describe, expect, it } from 'vitest';
import { Replica } from '../../src/core/replica.js';
import type { Event } from '../../src/core/event.js';

const NOW = 1_700_000_000_000;
const inc = (by: number) => ({ type: 'pn-counter', key: 'c', op: { kind: 'increment', by } });

function write(r: Replica, by: number): Event {
  const { event } = r.step({ kind: 'local', ops: [inc(by)] }, NOW);
  if (!event) throw new Error('no event');
  return event;
}

describe('Replica: an event delivered directly leaves no copy in the causal buffer', () => {
  it('after a snapshot install made a buffered event deliverable and sync sent it again', () => {
    const b = new Replica({ id: 'b' });
    const e1 = write(b, 1);
    const e2 = write(b, 2);
    const c = new Replica({ id: 'c' });
    c.step({ kind: 'remote', event: e1, bytes: 100 }, NOW);

    const a = new Replica({ id: 'a', repairAfterMs: 50 });
    a.step({ kind: 'remote', event: e2, bytes: 100 }, NOW); // gossip, ahead of e1: buffered
    expect(a.stats().buffered).toBe(1);
    a.install(c.snapshot()); // covers e1: e2 is deliverable now, still buffered
    a.step({ kind: 'remote', event: e2, bytes: 100 }, NOW); // sync sends e2 again

    expect(a.read('pn-counter', 'c')?.value).toBe(3);
    expect(a.stats().buffered).toBe(0);
    expect(a.step({ kind: 'tick' }, NOW + 60_000).effects).toEqual([]);
  });
});
