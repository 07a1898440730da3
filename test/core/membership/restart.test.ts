/**
 * A member that restarts must come back at an incarnation above any it used before (issue 7/8,
 * chaos seed 103): its peers may hold it suspect or dead at the last one, and an alive at that
 * same incarnation does not override them (SWIM §4.2), so it would stay dead until the
 * accusation reached it by gossip and it refuted.
 */
import { describe, expect, it } from 'vitest';
import { LAN_PROFILE } from '../../../src/core/membership/config.js';
import { FailureDetector, startIncarnation } from '../../../src/core/membership/failure-detector.js';
import { Prng } from '../../support/prng.js';

const META = { region: 'eu-west' };

function detector(id: string, incarnation: number): FailureDetector {
  const rng = new Prng(7);
  return new FailureDetector({ id, incarnation, meta: META }, LAN_PROFILE, () => rng.next());
}

describe('a restarted member', () => {
  it('starts at 0 the first time, above the highest incarnation it used after that', () => {
    expect(startIncarnation(undefined)).toBe(0);
    expect(startIncarnation(0)).toBe(1);
    expect(startIncarnation(41)).toBe(42);
  });

  for (const kind of ['suspect', 'dead'] as const) {
    it(`is alive again at its peers that held it ${kind} at its last incarnation`, () => {
      const b = detector('b', 0);
      b.step({ kind: 'members-seen', members: [{ id: 'a', incarnation: 3, meta: META }] }, 0);
      b.step({ kind, id: 'a', incarnation: 3, from: 'c' }, 10);
      expect(b.get('a')?.status).toBe(kind);

      // `a` restarts; 3 is the highest incarnation it ever used (its own `_sys/members` record).
      const a = detector('a', startIncarnation(3));
      b.step({ kind: 'alive', id: 'a', incarnation: a.incarnation, meta: META }, 20);

      expect(b.get('a')?.status).toBe('alive');
      expect(b.get('a')?.incarnation).toBeGreaterThan(3);
    });
  }
});
