// Found by the lifecycle simulation (test/core/lifecycle-simulation.test.ts, seed 7119 before
// the fix): an event waiting in the causal buffer that a snapshot install makes deliverable
// stays buffered; when sync then brings the same event again it is delivered directly, and the
// buffered copy was left behind for good: a stale entry that counted against the buffer's
// bounds and made every tick ask for repair, forever.
import { describe, expect, it } from 'vitest';
import { inc, NOW, receive, write } from '../support/replicas.js';
import { Replica } from '../../src/core/replica.js';

describe('Replica: an event delivered directly leaves no copy in the causal buffer', () => {
  it('after a snapshot install made a buffered event deliverable and sync sent it again', () => {
    const b = new Replica({ id: 'b' });
    const e1 = write(b, inc(1));
    const e2 = write(b, inc(2));
    const c = new Replica({ id: 'c' });
    receive(c, e1);

    const a = new Replica({ id: 'a', repairAfterMs: 50 });
    receive(a, e2); // gossip, ahead of e1: buffered
    expect(a.stats().buffered).toBe(1);
    a.install(c.snapshot()); // covers e1: e2 is deliverable now, still buffered
    receive(a, e2); // sync sends e2 again

    expect(a.read('pn-counter', 'c')?.value).toBe(3);
    expect(a.stats().buffered).toBe(0);
    expect(a.step({ kind: 'tick' }, NOW + 60_000).effects).toEqual([]);
  });
});
