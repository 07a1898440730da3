/**
 * A member that restarts must come back at an incarnation above any it used before (issue 7/8,
 * chaos seed 103): its peers may hold it suspect or dead at the last one, and an alive at that
 * same incarnation does not override them (SWIM §4.2), so it would stay dead until the
 * accusation reached it by gossip and it refuted. Its store may be gone (docs/chaos.md item
 * (a)): then only the wall clock at its start is left to start above its previous life.
 */
import { describe, expect, it } from 'vitest';
import { LAN_PROFILE } from '../../../src/core/membership/config.js';
import { FailureDetector, startIncarnation } from '../../../src/core/membership/failure-detector.js';
import type { MembershipMessage } from '../../../src/core/membership/messages.js';
import { Prng } from '../../support/prng.js';

const META = { region: 'eu-west' };
/** A wall-clock time (ms since the epoch) a member started at, and later times. */
const T0 = Date.UTC(2026, 11, 7, 5, 5, 0);

function detector(id: string, incarnation: number): FailureDetector {
  const rng = new Prng(7);
  return new FailureDetector({ id, incarnation, meta: META }, LAN_PROFILE, () => rng.next());
}

describe('startIncarnation', () => {
  it('is above the highest incarnation used before, and never below the wall clock', () => {
    expect(startIncarnation(undefined, T0)).toBe(T0);
    expect(startIncarnation(0, T0)).toBe(T0);
    expect(startIncarnation(T0 + 41, T0 + 5)).toBe(T0 + 42);
    // A clock set back: the saved incarnation still rules.
    expect(startIncarnation(T0 + 41, 1_000)).toBe(T0 + 42);
  });
});

/** `b`, holding `a` `kind` at `last`, the last incarnation of `a`'s life that started at T0. */
function heldDown(kind: 'suspect' | 'dead' | 'left') {
  // That life refuted three times.
  const last = startIncarnation(undefined, T0) + 3;
  const b = detector('b', 0);
  b.step({ kind: 'members-seen', members: [{ id: 'a', incarnation: last, meta: META }] }, 0);
  const claim: MembershipMessage =
    kind === 'left' ? { kind, id: 'a', incarnation: last } : { kind, id: 'a', incarnation: last, from: 'c' };
  b.step(claim, 10);
  expect(b.get('a')?.status).toBe(kind);
  return { b, last, claim };
}

describe('a restarted member', () => {
  for (const kind of ['suspect', 'dead', 'left'] as const) {
    it(`is alive again at its peers that held it ${kind} at its last incarnation`, () => {
      const { b, last } = heldDown(kind);
      // `a` restarts on its store: `last` is the highest incarnation it saved.
      const a = detector('a', startIncarnation(last, T0 + 60_000));
      b.step({ kind: 'alive', id: 'a', incarnation: a.incarnation, meta: META }, 20);
      expect(b.get('a')?.status).toBe('alive');
      expect(b.get('a')?.incarnation).toBeGreaterThan(last);
    });

    it(`is alive again at its peers that held it ${kind}, after losing its store`, () => {
      const { b, claim } = heldDown(kind);
      // `a` restarts a minute later with no store: nothing saved to start above.
      const a = detector('a', startIncarnation(undefined, T0 + 60_000));
      b.step({ kind: 'alive', id: 'a', incarnation: a.incarnation, meta: META }, 20);
      expect(b.get('a')?.status).toBe('alive');

      // The stale claim, still gossiped by a third member, does not win over the new life.
      b.step(claim, 30);
      expect(b.get('a')?.status).toBe('alive');
    });
  }

  it('that started too low (no store, a clock set back) hears it is held left in the ack to its ping', () => {
    const b = detector('b', 0);
    b.step({ kind: 'members-seen', members: [{ id: 'a', incarnation: 7, meta: META }] }, 0);
    b.step({ kind: 'left', id: 'a', incarnation: 7 }, 10);
    // The news went out long ago: b's gossip no longer carries it.
    for (let seq = 1; seq <= 50; seq++) b.step({ kind: 'ping', from: 'c', seq }, 10);
    const a = detector('a', 2);
    const fx = b.step({ kind: 'ping', from: 'a', seq: 1 }, 20);
    const ack = fx.find((e) => e.kind === 'send-ack');
    expect(ack?.kind === 'send-ack' && ack.piggyback[0]).toEqual({ kind: 'left', id: 'a', incarnation: 7 });

    // `a` refutes, and its alive is taken.
    if (ack?.kind !== 'send-ack') return;
    for (const m of ack.piggyback) a.step(m, 20);
    expect(a.incarnation).toBe(8);
    b.step({ kind: 'alive', id: 'a', incarnation: a.incarnation, meta: META }, 30);
    expect(b.get('a')?.status).toBe('alive');
  });
});
