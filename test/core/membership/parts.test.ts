/**
 * The detector's parts on their own: the suspicion timer, local health awareness, the
 * piggyback queue (against a reference model) and message parsing.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Awareness } from '../../../src/core/membership/awareness.js';
import { BroadcastQueue } from '../../../src/core/membership/broadcast-queue.js';
import {
  checkInput,
  type MembershipMessage,
  parseMembershipMessage,
} from '../../../src/core/membership/messages.js';
import { Suspicion } from '../../../src/core/membership/suspicion.js';

describe('Suspicion', () => {
  it('starts at max and reaches min after k distinct confirmations', () => {
    const s = new Suspicion('a', 2, 4_000, 24_000, 1_000);
    expect(s.deadlineMs).toBe(25_000);
    expect(s.confirm('b')).toBe(true);
    expect(s.deadlineMs).toBe(1_000 + 11_381);
    expect(s.confirm('c')).toBe(true);
    expect(s.deadlineMs).toBe(5_000);
    expect(s.confirmations).toBe(2);
  });

  it('counts nobody twice, the first accuser included, and stops at k', () => {
    const s = new Suspicion('a', 2, 4_000, 24_000, 0);
    expect(s.confirm('a')).toBe(false);
    expect(s.confirm('b')).toBe(true);
    expect(s.confirm('b')).toBe(false);
    expect(s.confirm('c')).toBe(true);
    expect(s.confirm('d')).toBe(false);
    expect(s.confirmations).toBe(2);
  });

  it('with k = 0 starts at min', () => {
    expect(new Suspicion('a', 0, 4_000, 24_000, 10).deadlineMs).toBe(4_010);
  });

  it('the last chance is due one grace before the deadline, never before the suspicion began', () => {
    const s = new Suspicion('a', 0, 2_000, 12_000, 1_000);
    expect(s.dueMs(500)).toBe(2_500);
    expect(new Suspicion('a', 0, 2_000, 12_000, 1_000).dueMs(5_000)).toBe(1_000);
    s.lastChanceSent(3, 2_500, 500);
    expect(s.deadlineMs).toBe(3_000);
    expect(s.dueMs(500)).toBe(3_000);
  });

  it('the last chance sets the final deadline, and later confirmations do not move it', () => {
    const s = new Suspicion('a', 2, 4_000, 24_000, 0);
    s.lastChanceSent(7, 24_000, 500);
    expect(s.lastChanceSeq).toBe(7);
    expect(s.deadlineMs).toBe(24_500);
    expect(s.confirm('b')).toBe(true);
    expect(s.deadlineMs).toBe(24_500);
  });
});

describe('Awareness', () => {
  it('saturates at 0 and max − 1 and scales timeouts by score + 1', () => {
    const a = new Awareness(8);
    a.apply(-3);
    expect(a.score).toBe(0);
    expect(a.scale(500)).toBe(500);
    a.apply(3);
    expect(a.scale(500)).toBe(2_000);
    a.apply(100);
    expect(a.score).toBe(7);
    expect(a.scale(1_000)).toBe(8_000);
    a.apply(-1);
    expect(a.score).toBe(6);
  });

  it('max 1 disables it', () => {
    const a = new Awareness(1);
    a.apply(5);
    expect(a.score).toBe(0);
  });
});

describe('BroadcastQueue', () => {
  const alive = (id: string, incarnation: number): MembershipMessage => ({
    kind: 'alive',
    id,
    incarnation,
    meta: null,
  });

  it('a newer message about a member replaces the queued one', () => {
    const q = new BroadcastQueue();
    q.enqueue(alive('a', 0));
    q.enqueue({ kind: 'suspect', id: 'a', incarnation: 0, from: 'b' });
    expect(q.size).toBe(1);
    expect(q.take(8, 4)).toEqual([{ kind: 'suspect', id: 'a', incarnation: 0, from: 'b' }]);
  });

  it('sends the least-sent first, the newest among equals, and drops at the limit', () => {
    const q = new BroadcastQueue();
    q.enqueue(alive('a', 0));
    q.enqueue(alive('b', 0));
    expect(q.take(1, 2).map((m) => m.id)).toEqual(['b']);
    expect(q.take(1, 2).map((m) => m.id)).toEqual(['a']);
    expect(q.take(2, 2).map((m) => m.id)).toEqual(['b', 'a']);
    expect(q.size).toBe(0);
    expect(q.take(2, 2)).toEqual([]);
  });

  it('counts one packet to several members as several sends', () => {
    const q = new BroadcastQueue();
    q.enqueue(alive('a', 0));
    expect(q.take(8, 4, 3)).toHaveLength(1);
    expect(q.take(8, 4, 1)).toHaveLength(1);
    expect(q.size).toBe(0);
  });

  it('matches a reference model: every message is sent at most `limit` times, never after it is replaced', () => {
    type Op = { t: 'enq'; id: string } | { t: 'take'; max: number; copies: number };
    const op: fc.Arbitrary<Op> = fc.oneof(
      fc.record({ t: fc.constant('enq' as const), id: fc.constantFrom('a', 'b', 'c', 'd') }),
      fc.record({
        t: fc.constant('take' as const),
        max: fc.integer({ min: 0, max: 3 }),
        copies: fc.integer({ min: 1, max: 3 }),
      }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 60 }), fc.integer({ min: 1, max: 6 }), (ops, limit) => {
        const q = new BroadcastQueue();
        let version = 0;
        const current = new Map<string, number>(); // id → live version
        const sent = new Map<number, number>(); // version → sends
        for (const o of ops) {
          if (o.t === 'enq') {
            current.set(o.id, ++version);
            q.enqueue(alive(o.id, version));
          } else {
            const got = q.take(o.max, limit, o.copies);
            expect(got.length).toBeLessThanOrEqual(o.max);
            for (const m of got) {
              expect(current.get(m.id)).toBe(m.incarnation);
              const before = sent.get(m.incarnation) ?? 0;
              expect(before).toBeLessThan(limit);
              sent.set(m.incarnation, before + o.copies);
            }
          }
        }
      }),
      { numRuns: 200 },
    );
  });
});

describe('message validation', () => {
  it.each([
    [{ kind: 'alive', id: 'a', incarnation: 0, meta: { region: 'eu' } }, undefined],
    [{ kind: 'alive', id: '', incarnation: 0, meta: null }, 'id must be a member id'],
    [{ kind: 'alive', id: 'x'.repeat(257), incarnation: 0, meta: null }, 'id must be a member id'],
    [{ kind: 'alive', id: 'a', incarnation: -1, meta: null }, 'incarnation must be a non-negative integer'],
    [{ kind: 'alive', id: 'a', incarnation: 1.5, meta: null }, 'incarnation must be a non-negative integer'],
    [
      { kind: 'alive', id: 'a', incarnation: 2 ** 53, meta: null },
      'incarnation must be a non-negative integer',
    ],
    [{ kind: 'alive', id: 'a', incarnation: 0 }, 'member metadata is missing'],
    [{ kind: 'alive', id: 'a', incarnation: 0, meta: 'x'.repeat(100) }, 'the limit is 64 bytes'],
    [{ kind: 'alive', id: 'a', incarnation: 0, meta: { f: Number.NaN } }, 'non-finite number'],
    [{ kind: 'suspect', id: 'a', incarnation: 0 }, 'from must be a member id'],
    [{ kind: 'dead', id: 'a', incarnation: 0, from: 7 }, 'from must be a member id'],
    [{ kind: 'left', id: 'a', incarnation: 0 }, undefined],
    [{ kind: 'ping', from: 'a', seq: -1 }, 'seq must be a non-negative integer'],
    [{ kind: 'ping-req', from: 'a', seq: 1, target: 'b', timeoutMs: 0 }, 'timeoutMs must be positive'],
    [{ kind: 'ping-req', from: 'a', seq: 1, target: 'b', timeoutMs: Infinity }, 'timeoutMs must be positive'],
    [{ kind: 'members-seen', members: 'a' }, 'members must be a list'],
    [{ kind: 'members-seen', members: [{ id: 'a', incarnation: 0, meta: 1 }, 3] }, undefined],
    [
      { kind: 'members-seen', members: new Array(101).fill(null) },
      'members lists 101 records; the table holds 100',
    ],
    [{ kind: 'join', member: { id: 'a', incarnation: 'one', meta: 1 } }, 'incarnation must be'],
    [{ kind: 'refute-needed', incarnation: -5 }, 'incarnation must be'],
    [{ kind: 'explode' }, 'unknown input kind "explode"'],
    [null, 'an input must be an object'],
  ])('%j → %s', (input, reason) => {
    const got = checkInput(input, 64, 100);
    if (reason === undefined) expect(got).toBeUndefined();
    else expect(got).toContain(reason);
  });

  it('parseMembershipMessage keeps exactly the fields of a good message and refuses the rest', () => {
    expect(
      parseMembershipMessage({ kind: 'suspect', id: 'a', incarnation: 3, from: 'b', extra: 1 }, 64),
    ).toEqual({ kind: 'suspect', id: 'a', incarnation: 3, from: 'b' });
    expect(parseMembershipMessage({ kind: 'left', id: 'a', incarnation: 0 }, 64)).toEqual({
      kind: 'left',
      id: 'a',
      incarnation: 0,
    });
    expect(parseMembershipMessage({ kind: 'ping', from: 'a', seq: 1 }, 64)).toBeUndefined();
    expect(parseMembershipMessage({ kind: 'dead', id: 'a', incarnation: -1, from: 'b' }, 64)).toBeUndefined();
    expect(parseMembershipMessage('alive', 64)).toBeUndefined();
  });
});
