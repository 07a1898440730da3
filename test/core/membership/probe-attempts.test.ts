/**
 * probeAttempts: a member is suspected only after that many probes of it fail in a row (the
 * next attempt starts at once), unless its connection was lost. In the emulated WAN under write
 * load (scripts/wan/detection.js --soak 10m --load 4), a live agent's event loop stalled for 3 s
 * (starved of CPU): the prober's single probe, 2 s long, ended before the ack, and the member
 * was suspected and refuted (docs/membership.md, "Probes across a WAN").
 *
 * Replay one seed of the simulation with
 *   SMAC_SIM_SEED=<seed> npx vitest run test/core/membership/probe-attempts.test.ts
 */
import { describe, expect, it } from 'vitest';
import { LAN_PROFILE, type MembershipConfig } from '../../../src/core/membership/config.js';
import { FailureDetector } from '../../../src/core/membership/failure-detector.js';
import type { MembershipEffect } from '../../../src/core/membership/messages.js';
import { Prng } from '../../support/prng.js';
import { MembershipSim } from './sim.js';

const META = { region: 'r' };

function detector(config: MembershipConfig = LAN_PROFILE): FailureDetector {
  const rng = new Prng(11);
  const fd = new FailureDetector({ id: 'a', incarnation: 0, meta: META }, config, () => rng.next());
  const others = ['b', 'c', 'd', 'e'].map((id) => ({ id, incarnation: 0, meta: META }));
  fd.step({ kind: 'members-seen', members: others }, 0);
  return fd;
}

const pings = (fx: readonly MembershipEffect[]): { to: string; seq: number }[] =>
  fx.flatMap((e) => (e.kind === 'send-ping' ? [{ to: e.to, seq: e.seq }] : []));
const suspicions = (fx: readonly MembershipEffect[]): string[] =>
  fx.flatMap((e) => (e.kind === 'status-changed' && e.to === 'suspect' ? [e.id] : []));

/** The first probe, left unanswered through its whole period; helpers nack. */
function failOneProbe(fd: FailureDetector): {
  target: string;
  seq: number;
  endAt: number;
  end: MembershipEffect[];
} {
  let at = 0;
  let first: { to: string; seq: number } | undefined;
  for (let i = 0; i < 50 && !first; i++) {
    at = Math.max(at, fd.nextTickAtMs());
    first = pings(fd.step({ kind: 'tick' }, at))[0];
  }
  if (!first) throw new Error('no probe');
  const reqAt = fd.nextTickAtMs();
  const req = fd.step({ kind: 'tick' }, reqAt).find((e) => e.kind === 'send-ping-req');
  for (const via of req?.kind === 'send-ping-req' ? req.via : [])
    fd.step({ kind: 'nack', from: via, seq: first.seq }, reqAt + 100);
  const endAt = fd.nextTickAtMs();
  return { target: first.to, seq: first.seq, endAt, end: fd.step({ kind: 'tick' }, endAt) };
}

describe('probe attempts', () => {
  it('a member silent through one probe is probed again at once, not suspected', () => {
    const fd = detector();
    const { target, endAt, end } = failOneProbe(fd);
    expect(suspicions(end)).toEqual([]);
    expect(fd.get(target)?.status).toBe('alive');
    const [retry] = pings(end);
    expect(retry?.to).toBe(target);
    expect(fd.stats()).toMatchObject({ probeFailures: 1, probeRetries: 1, suspicionsRaised: 0 });
    // It answers the second attempt: nothing to suspect, ever.
    fd.step({ kind: 'ack', from: target, seq: retry?.seq ?? -1 }, endAt + 50);
    let t = endAt + 50;
    for (let i = 0; i < 10; i++) {
      t = Math.max(t, fd.nextTickAtMs());
      const fx = fd.step({ kind: 'tick' }, t);
      expect(suspicions(fx)).toEqual([]);
      for (const p of pings(fx)) fd.step({ kind: 'ack', from: p.to, seq: p.seq }, t + 1);
    }
    expect(fd.stats().suspicionsRaised).toBe(0);
  });

  it('a late ack to the first attempt counts during the second', () => {
    const fd = detector();
    const { target, seq, endAt } = failOneProbe(fd);
    fd.step({ kind: 'ack', from: target, seq }, endAt + 300);
    const fx = fd.step({ kind: 'tick' }, endAt + 3_000);
    expect(suspicions(fx)).toEqual([]);
    expect(fd.get(target)?.status).toBe('alive');
    expect(fd.stats().staleAcks).toBe(0);
  });

  it('silent through every attempt: suspected when the last one ends', () => {
    const fd = detector();
    const { target, endAt } = failOneProbe(fd);
    const reqAt = fd.nextTickAtMs();
    expect(reqAt).toBe(endAt + LAN_PROFILE.probeTimeoutMs);
    fd.step({ kind: 'tick' }, reqAt);
    const lastEnd = fd.nextTickAtMs();
    expect(lastEnd).toBe(endAt + LAN_PROFILE.probeIntervalMs);
    expect(suspicions(fd.step({ kind: 'tick' }, lastEnd))).toEqual([target]);
    expect(fd.stats()).toMatchObject({ probeFailures: 2, probeRetries: 1, suspicionsRaised: 1 });
  });

  it('probeAttempts 1 suspects after one probe, as SWIM does', () => {
    const fd = detector({ ...LAN_PROFILE, probeAttempts: 1 });
    const { target, end } = failOneProbe(fd);
    expect(suspicions(end)).toEqual([target]);
  });

  it('a probe whose target lost its connection meanwhile gets no second attempt', () => {
    const fd = detector();
    let at = 0;
    let first: { to: string; seq: number } | undefined;
    for (let i = 0; i < 50 && !first; i++) {
      at = Math.max(at, fd.nextTickAtMs());
      first = pings(fd.step({ kind: 'tick' }, at))[0];
    }
    fd.step({ kind: 'connection-lost', id: first?.to ?? '' }, at + 10);
    let fx: MembershipEffect[] = [];
    for (let i = 0; i < 5 && suspicions(fx).length === 0; i++) {
      at = fd.nextTickAtMs();
      fx = fd.step({ kind: 'tick' }, at);
    }
    expect(suspicions(fx)).toEqual([first?.to]);
    expect(fd.stats().probeRetries).toBe(0);
  });
});

describe('stalled members in the simulation', () => {
  const replay = process.env.SMAC_SIM_SEED;
  const seeds = replay ? [Number(replay)] : [1, 2, 3, 4, 5, 6];
  /** Every member stalls for `stallMs` now and then; the suspicions of stalled members. */
  const run = (seed: number, config: MembershipConfig, stallMs: number) => {
    const rng = new Prng(seed * 31 + 7);
    const n = rng.int(3, 7);
    const sim = new MembershipSim({ seed, n, config, minLatencyMs: 75, maxLatencyMs: 86 });
    sim.runUntil(10_000);
    for (let t = 10_000; t < 130_000; t += rng.int(3_000, 6_000)) {
      sim.runUntil(t);
      sim.pause(rng.pick(sim.ids), stallMs);
    }
    sim.runUntil(140_000);
    const suspected = sim.transitions.filter((x) => x.to === 'suspect' && x.atMs >= 10_000);
    return { n, suspected, dead: sim.transitions.filter((x) => x.to === 'dead') };
  };

  it.each(seeds)('stalls of 1.8 s, longer than one probe: no suspicion, seed %i', (seed) => {
    const { n, suspected, dead } = run(seed, LAN_PROFILE, 1_800);
    const what = `N = ${n}, seed ${seed}: ${suspected.map((x) => `${x.observer} suspected ${x.id} at ${x.atMs}`).join('; ')}`;
    expect(suspected, what).toEqual([]);
    expect(dead).toEqual([]);
  });

  it('with one attempt the same stalls are suspected (the runs above test something)', () => {
    const total = seeds.reduce(
      (sum, seed) => sum + run(seed, { ...LAN_PROFILE, probeAttempts: 1 }, 1_800).suspected.length,
      0,
    );
    expect(total).toBeGreaterThan(0);
  });
});
