// A member that was reaped once and came back under a new epoch is a participant of later reaps
// (issue 7; docs/agent.md "Reaping"). src/agent/reaper.ts `initiate` used to leave out every
// member with any reap in the state, even one finished long ago of an old epoch of a member that
// rebased since: b (reaped as b~1, back as b~2) was then named by no marker for c~1, so the cut
// was agreed below c~1's events only b held. They were lost (c's acknowledged writes), and b,
// past the cut, had to rebase from c's epoch. Naming b alone is not enough: src/core/reaping.ts
// excused every participant with a retired epoch, so b, excused for b~1, never reported either.
import { describe, expect, it } from 'vitest';
import { Reaper } from '../../src/agent/reaper.js';
import { Replica } from '../../src/core/replica.js';
import type { Logger } from 'pino';
import { Node } from './reap-node.js';

const inc = () => ({ type: 'pn-counter', key: 'c', op: { kind: 'increment', by: 1 } });
const SILENT = { info: () => undefined, warn: () => undefined } as unknown as Logger;
const node = (id: string): Node => new Node(new Replica({ id, wireVersion: 3 }));

/** The agent's reaper for `n`, its writes system writes of `n`; `members`: whom stability waits for. */
function reaperOf(n: () => Node, members: string[]): Reaper {
  return new Reaper({
    self: n().id.split('~')[0] ?? '',
    replica: () => n().replica,
    write: (ops) => {
      n().write([...ops], true);
      return Promise.resolve();
    },
    members: () => members,
    log: SILENT,
  });
}

/** Lets the reapers' write promises settle (their in-flight bookkeeping). */
const settle = () => new Promise((r) => setImmediate(r));

/**
 * a, b, c; b~1 was reaped by a and c (cut 1) and b came back as b~2 with a's state. Then c
 * wrote 3 events that b~2 holds and a holds only 1 of, and died.
 */
async function rebasedThenDead(): Promise<{ a: Node; b: Node; reaperA: Reaper; reaperB: Reaper }> {
  const a = node('a~1');
  let b = node('b~1');
  const c = node('c~1');
  const reaperA = reaperOf(() => a, ['b', 'c']);
  const reaperB = reaperOf(() => b, ['a', 'c']);
  const reaperC = reaperOf(() => c, ['a', 'b']);
  b.write([inc()]);
  a.pull(b);
  c.pull(b);
  expect(reaperA.initiate('b')).toBe(true);
  await settle();
  c.pull(a);
  reaperC.step();
  await settle();
  a.pull(c);
  expect(a.replica.reapOf('b~1')?.cut).toBe(1);
  expect(c.replica.reapOf('b~1')?.cut).toBe(1);
  // b rebases: a new epoch with a's state (as a new member takes it).
  b = node('b~2');
  b.pull(a);
  b.write([inc()]);
  a.pull(b);
  c.pull(b);
  c.write([inc()]);
  a.pull(c);
  b.pull(c);
  c.write([inc()]);
  c.write([inc()]);
  b.pull(c); // c's last two events reach b only; c dies
  return { a, b, reaperA, reaperB };
}

describe('a reap names a member that came back under a new epoch', () => {
  it('b~2 is a participant of the reap of c~1, reports, and the cut keeps what b holds', async () => {
    const { a, b, reaperA, reaperB } = await rebasedThenDead();
    const held = b.replica.clock().get('c~1') ?? 0;
    expect(held).toBeGreaterThan(a.replica.clock().get('c~1') ?? 0);
    expect(reaperA.initiate('c')).toBe(true);
    await settle();
    expect(a.replica.reapOf('c~1')?.participants).toEqual(['a', 'b']);
    b.pull(a);
    expect(b.replica.reapOf('c~1')?.missing).toEqual(['b']);
    reaperB.step();
    await settle();
    a.pull(b);
    expect(a.replica.reapOf('c~1')?.cut).toBe(held);
    expect(b.replica.reapOf('c~1')?.cut).toBe(held);
    expect(a.replica.clock().get('c~1')).toBe(held);
    expect(b.replica.pastCut()).toEqual([]);
    expect(a.replica.read('pn-counter', 'c')).toEqual(b.replica.read('pn-counter', 'c'));
  });

  it('a member every known epoch of which is retired is still left out', async () => {
    const { a, reaperA } = await rebasedThenDead();
    // a knows b~2 too: reap it as well (cut agreed by a alone: c is being reaped).
    expect(reaperA.initiate('c')).toBe(true);
    await settle();
    const marker = a.replica
      .reaps()
      .find((s) => s.epoch === 'c~1')
      ?.participants.filter((p) => p !== 'a');
    expect(marker).toEqual(['b']);
    expect(reaperA.initiate('b')).toBe(true);
    await settle();
    // b~2's reap names nobody else (c is being reaped now): it is a's alone.
    expect(a.replica.reapOf('b~2')?.participants).toEqual(['a']);
  });
});
