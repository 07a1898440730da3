/**
 * Adaptive probe timeouts (docs/membership.md, "Adaptive timeouts"): the RTT estimator
 * (RFC 6298's smoothing) and the failure detector timing its own pings, in virtual time. On a
 * LAN nothing changes (the floor rules); across a slow link the timeout and the period follow
 * the measured round trip, so acks stop missing their timeout; a member that stops answering
 * is still declared dead.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { LAN_PROFILE, type MembershipConfig } from '../../../src/core/membership/config.js';
import { FailureDetector } from '../../../src/core/membership/failure-detector.js';
import type { MembershipEffect } from '../../../src/core/membership/messages.js';
import { adaptiveTimeoutMs, RttEstimator } from '../../../src/core/membership/rtt.js';
import { Prng } from '../../support/prng.js';

describe('RttEstimator', () => {
  it('starts from the first sample and smooths as RFC 6298 does', () => {
    const e = new RttEstimator();
    expect(e.view()).toBeUndefined();
    expect(e.timeoutMs(500, 2, 5_000)).toBe(500);
    e.add(200);
    expect(e.view()).toEqual({ srttMs: 200, rttvarMs: 100, lastMs: 200, samples: 1 });
    e.add(400);
    // rttvar = 3/4·100 + 1/4·|200 − 400| = 125; srtt = 7/8·200 + 1/8·400 = 225
    expect(e.view()).toMatchObject({ srttMs: 225, rttvarMs: 125, samples: 2 });
    expect(e.timeoutMs(500, 2, 5_000)).toBe(2 * 225 + 4 * 125);
  });

  it('ignores samples that are not round trips', () => {
    const e = new RttEstimator();
    e.add(-1);
    e.add(Number.NaN);
    e.add(Number.POSITIVE_INFINITY);
    expect(e.samples).toBe(0);
  });

  it('converges on a steady round trip: the timeout tends to mult × rtt, never below the floor', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2_000 }), fc.integer({ min: 1, max: 1_000 }), (rtt, floor) => {
        const e = new RttEstimator();
        for (let i = 0; i < 200; i++) e.add(rtt);
        const t = e.timeoutMs(floor, 2, 10_000);
        expect(t).toBeGreaterThanOrEqual(floor);
        expect(t).toBeLessThanOrEqual(Math.max(floor, Math.ceil(2 * rtt + 1)));
        expect(t).toBeGreaterThanOrEqual(Math.min(10_000, 2 * rtt));
      }),
    );
  });

  it('stays within [floor, max(floor, cap)] and grows with the round trip and its deviation', () => {
    const ms = fc.double({ min: 0, max: 100_000, noNaN: true });
    fc.assert(
      fc.property(
        ms,
        ms,
        ms,
        fc.integer({ min: 1, max: 5_000 }),
        fc.integer({ min: 1, max: 60_000 }),
        (a, b, v, floor, cap) => {
          const lo = Math.min(a, b);
          const hi = Math.max(a, b);
          const t1 = adaptiveTimeoutMs(lo, v, floor, 2, cap);
          const t2 = adaptiveTimeoutMs(hi, v, floor, 2, cap);
          expect(t1).toBeGreaterThanOrEqual(floor);
          expect(t2).toBeLessThanOrEqual(Math.max(floor, cap));
          expect(t2).toBeGreaterThanOrEqual(t1);
          expect(adaptiveTimeoutMs(lo, v + 10, floor, 2, cap)).toBeGreaterThanOrEqual(t1);
        },
      ),
    );
  });
});

/**
 * Detector `a` with members b, c, d whose acks come back `rttMs(member)` after each ping, in
 * virtual time (1 ms steps). Helpers asked to ping-req answer as a member would: an ack once
 * they heard the target (their own round trip plus the target's), a nack otherwise.
 */
function run(
  config: MembershipConfig,
  rttMs: (id: string, nowMs: number) => number | undefined,
  untilMs: number,
  seed = 7,
) {
  const rng = new Prng(seed);
  const fd = new FailureDetector({ id: 'a', incarnation: 0, meta: {} }, config, () => rng.next());
  const members = ['b', 'c', 'd'];
  fd.step({ kind: 'members-seen', members: members.map((id) => ({ id, incarnation: 0, meta: {} })) }, 0);
  const pending: { at: number; input: { kind: 'ack' | 'nack'; from: string; seq: number } }[] = [];
  const suspected: string[] = [];
  let maxHealthScore = 0;
  const handle = (fx: MembershipEffect[], now: number) => {
    maxHealthScore = Math.max(maxHealthScore, fd.healthScore);
    for (const e of fx) {
      if (e.kind === 'send-ping') {
        const r = rttMs(e.to, now);
        if (r !== undefined) pending.push({ at: now + r, input: { kind: 'ack', from: e.to, seq: e.seq } });
      } else if (e.kind === 'send-ping-req') {
        const r = rttMs(e.target, now);
        for (const via of e.via) {
          const h = rttMs(via, now) ?? 0;
          pending.push(
            r === undefined || r > e.timeoutMs
              ? { at: now + h + e.timeoutMs, input: { kind: 'nack', from: via, seq: e.seq } }
              : { at: now + h + r, input: { kind: 'ack', from: via, seq: e.seq } },
          );
        }
      } else if (e.kind === 'status-changed' && e.to === 'suspect') suspected.push(e.id);
    }
  };
  for (let now = 0; now <= untilMs; now++) {
    pending.sort((x, y) => x.at - y.at);
    while (pending.length > 0 && (pending[0]?.at ?? Infinity) <= now) {
      const p = pending.shift();
      if (p) handle(fd.step(p.input, now), now);
    }
    if (fd.nextTickAtMs() <= now) handle(fd.step({ kind: 'tick' }, now), now);
  }
  return { fd, suspected, maxHealthScore };
}

describe('failure detector with adaptive probe timeouts', () => {
  it('on a LAN changes nothing: the floor is the timeout and the period stays one second', () => {
    const { fd, suspected } = run(LAN_PROFILE, () => 1, 30_000);
    expect(suspected).toEqual([]);
    const stats = fd.stats();
    expect(stats.pingTimeouts).toBe(0);
    expect(stats.probes).toBeGreaterThanOrEqual(29);
    for (const m of fd.members().filter((x) => x.id !== 'a')) {
      expect(m.rtt?.srttMs).toBe(1);
      expect(m.rtt?.probeTimeoutMs).toBe(LAN_PROFILE.probeTimeoutMs);
    }
  });

  it('across a 700 ms link: a fixed timeout misses every ack; the adaptive one only the first per member', () => {
    const slow = () => 700;
    const fixed = run({ ...LAN_PROFILE, rttTimeoutMult: 0 }, slow, 30_000);
    expect(fixed.fd.stats().pingTimeouts).toBeGreaterThanOrEqual(fixed.fd.stats().probes - 1);
    expect(fixed.suspected).toEqual([]);
    const adaptive = run(LAN_PROFILE, slow, 30_000);
    expect(adaptive.suspected).toEqual([]);
    expect(adaptive.fd.stats().pingTimeouts).toBeLessThanOrEqual(3);
    for (const m of adaptive.fd.members().filter((x) => x.id !== 'a')) {
      expect(m.rtt?.srttMs).toBeCloseTo(700, 0);
      expect(m.rtt?.probeTimeoutMs).toBeGreaterThanOrEqual(1_400);
    }
  });

  it('across a 1.2 s link a fixed timeout fails probe after probe; the adaptive one only first probes', () => {
    const slow = () => 1_200;
    const fixed = run({ ...LAN_PROFILE, rttTimeoutMult: 0 }, slow, 60_000).fd.stats();
    expect(fixed.probeFailures).toBeGreaterThan(5);
    const adaptive = run(LAN_PROFILE, slow, 60_000).fd.stats();
    // Before a member's round trip is known its probe uses the floor, and an ack this slow
    // misses the whole period; afterwards the timeout and the period fit the link.
    expect(adaptive.probeFailures).toBeLessThanOrEqual(3);
    expect(adaptive.probes).toBeGreaterThanOrEqual(8);
  });

  it('across a WAN, the helpers nack a silent member in time: local health stays 0', () => {
    // A ping-req and its nack take a round trip to the helper on top of the relay's wait: with
    // 165 ms round trips, 80% of the 500 ms left made every nack 65 ms late, and each failed
    // probe of a silent member counted against our own health (Lifeguard), slowing our probes.
    const { fd, maxHealthScore } = run(
      LAN_PROFILE,
      (id, now) => (id === 'b' && now >= 20_000 ? undefined : 165),
      40_000,
    );
    expect(fd.get('b')?.status).not.toBe('alive');
    expect(fd.stats().probeFailures).toBeGreaterThanOrEqual(2);
    expect(maxHealthScore).toBe(0);
  });

  it('still declares a member dead that stops answering after its round trip was learnt', () => {
    const { fd } = run(LAN_PROFILE, (id, now) => (id === 'b' && now >= 20_000 ? undefined : 300), 60_000);
    expect(fd.get('b')?.status).toBe('dead');
    expect(fd.get('c')?.status).toBe('alive');
    expect(fd.get('c')?.rtt?.srttMs).toBeCloseTo(300, 0);
  });
});
