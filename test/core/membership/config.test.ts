/**
 * Membership configuration: the profiles, validation with actionable errors, and the derived
 * formulas (suspicion timeouts, retransmit limit, detection bound) against values computed by
 * hand from memberlist's formulas.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  confirmationsWanted,
  detectionBoundMs,
  LAN_PROFILE,
  type MembershipConfig,
  membershipProfile,
  resolveMembershipConfig,
  retransmitLimit,
  suspicionMaxMs,
  suspicionMinMs,
  suspicionTimeoutMs,
  WAN_PROFILE,
} from '../../../src/core/membership/config.js';
import { ErrorCode, SmacError } from '../../../src/core/errors.js';

describe('profiles', () => {
  it('both profiles validate as they are', () => {
    expect(resolveMembershipConfig({ ...LAN_PROFILE })).toEqual(LAN_PROFILE);
    expect(resolveMembershipConfig({ ...WAN_PROFILE })).toEqual(WAN_PROFILE);
  });

  it('LAN has memberlist DefaultLANConfig values', () => {
    expect(LAN_PROFILE).toMatchObject({
      probeIntervalMs: 1_000,
      probeTimeoutMs: 500,
      indirectChecks: 3,
      suspicionMult: 4,
      suspicionMaxTimeoutMult: 6,
      retransmitMult: 4,
      awarenessMaxMultiplier: 8,
      gossipIntervalMs: 200,
      gossipNodes: 3,
    });
  });

  it('the suspicion floor is ours: 2 s on a LAN, 6 periods (30 s, as memberlist) across a WAN', () => {
    expect(LAN_PROFILE.suspicionFloorMs).toBe(2_000);
    expect(WAN_PROFILE.suspicionFloorMs).toBe(WAN_PROFILE.suspicionMult * WAN_PROFILE.probeIntervalMs);
  });

  it('WAN starts from LAN and overrides only timing fields', () => {
    const changed = (Object.keys(LAN_PROFILE) as (keyof MembershipConfig)[]).filter(
      (k) => LAN_PROFILE[k] !== WAN_PROFILE[k],
    );
    expect(changed.sort()).toEqual(
      [
        'deadRetentionMs',
        'gossipIntervalMs',
        'gossipNodes',
        'probeIntervalMs',
        'probeTimeoutMs',
        'suspicionFloorMs',
        'suspicionMult',
      ].sort(),
    );
    expect(WAN_PROFILE).toMatchObject({ probeIntervalMs: 5_000, probeTimeoutMs: 3_000, suspicionMult: 6 });
    expect(membershipProfile('wan')).toBe(WAN_PROFILE);
    expect(membershipProfile('lan')).toBe(LAN_PROFILE);
  });

  it('profiles are frozen', () => {
    expect(Object.isFrozen(LAN_PROFILE)).toBe(true);
    expect(Object.isFrozen(WAN_PROFILE)).toBe(true);
  });
});

describe('resolveMembershipConfig', () => {
  it('fills unset fields from the base profile', () => {
    const c = resolveMembershipConfig({ indirectChecks: 5 }, WAN_PROFILE);
    expect(c).toEqual({ ...WAN_PROFILE, indirectChecks: 5 });
  });

  it.each([
    [{ probeIntervalMs: 0 }, 'probeIntervalMs must be an integer from 10 to 600000 (got 0)'],
    [{ probeIntervalMs: 1.5 }, 'probeIntervalMs must be an integer'],
    [{ probeTimeoutMs: '500' }, 'probeTimeoutMs must be an integer from 1 to 600000 (got "500")'],
    [{ indirectChecks: -1 }, 'indirectChecks must be an integer from 0 to 16'],
    [{ suspicionMult: Number.NaN }, 'suspicionMult must be an integer'],
    [{ suspicionFloorMs: -1 }, 'suspicionFloorMs must be an integer from 0 to 3600000'],
    [{ awarenessMaxMultiplier: 0 }, 'awarenessMaxMultiplier must be an integer from 1 to 64'],
    [{ maxMembers: 1 }, 'maxMembers must be an integer from 2'],
    [{ probeTimeoutMs: 1_000 }, 'probeTimeoutMs (1000) must be less than probeIntervalMs (1000)'],
    [{ probeIntervalMs: 400 }, 'raise the interval or lower the timeout'],
    [{ probeIntevalMs: 1_000 }, 'unknown setting "probeIntevalMs"'],
  ])('%j is refused: %s', (overrides, message) => {
    let err: unknown;
    try {
      resolveMembershipConfig(overrides);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(SmacError);
    expect((err as SmacError).code).toBe(ErrorCode.InvalidArgument);
    expect((err as SmacError).message).toContain(message);
  });

  it('names every problem at once', () => {
    expect(() => resolveMembershipConfig({ indirectChecks: 99, gossipNodes: -2 })).toThrow(
      /indirectChecks .*; gossipNodes /,
    );
  });
});

describe('suspicion timeout formula', () => {
  // Expected values computed independently from memberlist's formulas, with our floor in place
  // of memberlist's max(1, log10 N) (4 s for every N ≤ 10, which a 3-region cluster cannot
  // afford across a WAN: docs/benchmarks.md):
  // min = max(floor, mult × log10 N × interval), max = maxMult × min,
  // timeout(c) = max − (max − min)·log(c + 1)/log(k + 1), k = min(mult − 2, N − 2).
  it.each([
    // profile, N, min, max, k, timeout for c = 0..3
    ['LAN', 1, 2_000, 12_000, 0, [2_000, 2_000, 2_000, 2_000]],
    ['LAN', 3, 2_000, 12_000, 1, [12_000, 2_000, 2_000, 2_000]],
    ['LAN', 4, 2_408, 14_448, 2, [14_448, 6_851, 2_408, 2_408]],
    ['LAN', 5, 2_795, 16_770, 2, [16_770, 7_952, 2_795, 2_795]],
    ['LAN', 10, 4_000, 24_000, 2, [24_000, 11_381, 4_000, 4_000]],
    ['LAN', 30, 5_908, 35_448, 2, [35_448, 16_810, 5_908, 5_908]],
    ['LAN', 100, 8_000, 48_000, 2, [48_000, 22_762, 8_000, 8_000]],
    ['WAN', 3, 30_000, 180_000, 1, [180_000, 30_000, 30_000, 30_000]],
    ['WAN', 4, 30_000, 180_000, 2, [180_000, 85_360, 30_000, 30_000]],
    ['WAN', 10, 30_000, 180_000, 4, [180_000, 115_398, 77_609, 50_797]],
    ['WAN', 100, 60_000, 360_000, 4, [360_000, 230_797, 155_218, 101_594]],
  ] as const)('%s, N = %i: min %i, max %i, k %i, timeouts %j', (profile, n, min, max, k, timeouts) => {
    const config = profile === 'LAN' ? LAN_PROFILE : WAN_PROFILE;
    expect(suspicionMinMs(config, n)).toBe(min);
    expect(suspicionMaxMs(config, n)).toBe(max);
    expect(confirmationsWanted(config, n)).toBe(k);
    expect(timeouts.map((_, c) => suspicionTimeoutMs(min, max, k, c))).toEqual(timeouts);
  });

  it('never leaves [min, max] and never grows with more confirmations', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 100_000 }),
        fc.integer({ min: 1, max: 10 }),
        fc.integer({ min: 0, max: 10 }),
        fc.integer({ min: 0, max: 20 }),
        (min, mult, k, c) => {
          const max = min * mult;
          const t = suspicionTimeoutMs(min, max, k, c);
          expect(t).toBeGreaterThanOrEqual(min);
          expect(t).toBeLessThanOrEqual(max);
          expect(suspicionTimeoutMs(min, max, k, c + 1)).toBeLessThanOrEqual(t);
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe('retransmit limit and detection bound', () => {
  it.each([
    [1, 4],
    [9, 4],
    [10, 8],
    [99, 8],
    [100, 12],
    [1_000, 16],
  ])('N = %i: each relay sends a message %i times', (n, limit) => {
    expect(retransmitLimit(LAN_PROFILE, n)).toBe(limit);
  });

  it.each([
    // 2(N−1) + (probeAttempts − 1) periods + max suspicion + one probe timeout for the
    // last-chance ping
    ['LAN', 10, 0, 0, (2 * 9 + 1) * 1_000 + 24_000 + 500],
    ['LAN', 30, 0, 0, (2 * 29 + 1) * 1_000 + 35_448 + 500],
    ['WAN', 10, 0, 0, (2 * 9 + 1) * 5_000 + 180_000 + 3_000],
    ['LAN', 10, 50, 0, (2 * 9 + 1) * 1_050 + 24_000 + 500 + 100],
    ['LAN', 10, 0, 7, (2 * 9 + 1) * 8_000 + 24_000 + 4_000],
    ['LAN', 10, 0, 99, (2 * 9 + 1) * 8_000 + 24_000 + 4_000],
  ] as const)('%s, N = %i, ticks %i ms late, health %i: %i ms', (profile, n, late, health, bound) => {
    const config = profile === 'LAN' ? LAN_PROFILE : WAN_PROFILE;
    expect(detectionBoundMs(config, n, late, health)).toBe(bound);
  });
});
