/**
 * Incarnations near Number.MAX_SAFE_INTEGER (hostile or corrupt input). A member starts at
 * max(saved + 1, wall clock) and refutes an accusation at incarnation i with i + 1: neither may
 * leave the safe integers, where i + 1 === i (a refutation that does not outbid) and where every
 * peer refuses the member's own alive (not a safe integer), and where its next start fails (the
 * detector refuses its own record). Malformed incarnations are refused as input.
 */
import { describe, expect, it } from 'vitest';
import { LAN_PROFILE } from '../../../src/core/membership/config.js';
import { FailureDetector, startIncarnation } from '../../../src/core/membership/failure-detector.js';
import { MAX_INCARNATION, type MembershipInput } from '../../../src/core/membership/messages.js';
import { Prng } from '../../support/prng.js';

const META = { region: 'eu-west' };
const T0 = Date.UTC(2026, 11, 7, 5, 5, 0);
const MAX = Number.MAX_SAFE_INTEGER;

function detector(id: string, incarnation: number): FailureDetector {
  const rng = new Prng(7);
  return new FailureDetector({ id, incarnation, meta: META }, LAN_PROFILE, () => rng.next());
}

describe('incarnation bounds', () => {
  it('the highest incarnation is the highest safe integer', () => {
    expect(MAX_INCARNATION).toBe(MAX);
  });

  it('a start after a life that ended at the top stays at the top (the detector accepts it)', () => {
    expect(startIncarnation(MAX, T0)).toBe(MAX);
    expect(startIncarnation(MAX - 1, T0)).toBe(MAX);
    expect(() => detector('a', startIncarnation(MAX, T0))).not.toThrow();
  });

  it('a corrupt saved incarnation counts as none', () => {
    for (const bad of [Number.NaN, 1.5, -3, MAX + 2, Number.POSITIVE_INFINITY])
      expect(startIncarnation(bad, T0), String(bad)).toBe(T0);
  });

  it('refutes an accusation just below the top without leaving the safe integers', () => {
    const a = detector('a', T0);
    a.step({ kind: 'suspect', id: 'a', incarnation: MAX - 1, from: 'x' }, 10);
    expect(a.incarnation).toBe(MAX);
    a.step({ kind: 'refute-needed', incarnation: MAX - 1 }, 20);
    expect(a.incarnation).toBe(MAX);
  });

  const refused: [string, MembershipInput][] = [
    ['suspect at the top', { kind: 'suspect', id: 'a', incarnation: MAX, from: 'x' }],
    ['dead at the top', { kind: 'dead', id: 'a', incarnation: MAX, from: 'x' }],
    ['left at the top', { kind: 'left', id: 'a', incarnation: MAX }],
    ['a refute-needed at the top', { kind: 'refute-needed', incarnation: MAX }],
    ['an alive over the top', { kind: 'alive', id: 'a', incarnation: MAX + 1, meta: META }],
    ['a suspect over the top', { kind: 'suspect', id: 'a', incarnation: MAX + 2, from: 'x' }],
    ['a fraction', { kind: 'suspect', id: 'a', incarnation: 1.5, from: 'x' }],
    ['a negative', { kind: 'dead', id: 'a', incarnation: -1, from: 'x' }],
    ['NaN', { kind: 'alive', id: 'a', incarnation: Number.NaN, meta: META }],
  ];
  for (const [what, input] of refused) {
    it(`refuses ${what} about itself, and keeps a safe incarnation`, () => {
      const a = detector('a', T0);
      const fx = a.step(input, 10);
      expect(fx.map((f) => f.kind)).toEqual(['rejected']);
      expect(a.incarnation).toBe(T0);
      expect(a.stats().rejected).toBe(1);
    });
  }

  it('an alive at the top of another member is accepted, and its refusals stay refused', () => {
    const b = detector('b', T0);
    b.step({ kind: 'alive', id: 'a', incarnation: MAX, meta: META }, 10);
    expect(b.get('a')?.incarnation).toBe(MAX);
    expect(b.get('a')?.status).toBe('alive');
  });
});
