// A member's leave must not let compaction run ahead of that member's own events (issue 7;
// found while building test/core/lifecycle-simulation.test.ts). The leaving heartbeat carries
// the leaver's final clock; a receiver that has not delivered all of the leaver's events yet
// must keep counting it until it has, or it compacts events concurrent with one still on its
// way, and applies that one to folded state: the replicas diverge for good.
import { describe, expect, it } from 'vitest';
import { del, inc, NOW, receive, write } from '../support/replicas.js';
import { StabilityView } from '../../src/agent/stability-view.js';
import { Replica } from '../../src/core/replica.js';

function view(self: string): StabilityView {
  return new StabilityView({ self, load: () => ({ retired: {}, lastSeen: {} }), persist: () => undefined });
}

describe('StabilityView: a leaving member', () => {
  it('holds compaction back until we hold its events up to its final clock', () => {
    const a = new Replica({ id: 'a' });
    const b = new Replica({ id: 'b' });
    const l = new Replica({ id: 'l' });
    const a1 = write(a, inc(1));
    const a2 = write(a, inc(10));
    receive(l, a1);
    const l1 = write(l, del()); // l saw a1 only: the delete resets a1's increment, not a2's
    receive(b, a1, a2, l1);
    expect(b.read('pn-counter', 'c')?.value).toBe(10);

    const v = view('a');
    v.heartbeat('b', b.clock(), false, a.clock(), NOW);
    v.heartbeat('l', l.clock(), true, a.clock(), NOW); // l leaves; its l1 has not reached a yet
    expect(v.members(['a', 'b', 'l'])).toEqual(['b', 'l']);
    const stable = v.stable(a.clock(), v.members(['a', 'b', 'l']));
    a.compact(stable);
    receive(a, l1); // l1 arrives by anti-entropy from b
    expect(a.read('pn-counter', 'c')?.value).toBe(10);

    // Once we hold l's events up to its final clock it is retired: it holds nothing back.
    expect(v.members(['a', 'b', 'l'])).toEqual(['b', 'l']);
    expect(v.stable(a.clock(), v.members(['a', 'b', 'l'])).get('a')).toBe(2);
    expect(v.members(['a', 'b', 'l'])).toEqual(['b']);
    expect(v.retirements().l?.reason).toBe('left');
  });

  it('is retired at once when we already hold all its events', () => {
    const a = new Replica({ id: 'a' });
    const l = new Replica({ id: 'l' });
    receive(a, write(l, inc(1)));
    const v = view('a');
    v.heartbeat('l', l.clock(), true, a.clock(), NOW);
    expect(v.members(['a', 'l'])).toEqual([]);
    expect(v.retirements().l).toEqual({ reason: 'left', at: NOW });
  });
});
