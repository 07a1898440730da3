/**
 * Lifeguard's confirmations in a cluster of three. memberlist expects no confirmations when the
 * cluster has fewer than suspicionMult − 2 members besides the accuser and the accused, so a
 * lone accuser's suspicion ran out at the floor (2 s). In `npm run bench:sim` at 10% loss, seed
 * 18 (N = 3, 10 minutes) then declared a live member dead: all six copies of its refutation to
 * the accuser and the last-chance ping were lost, while the third member had the refutation
 * and never suspected it. Now a suspicion expects a confirmation from every member that can
 * give one (up to k), so an unconfirmed one lasts max and a confirmed one min.
 *
 * Replay one seed of the simulation with
 *   SMAC_SIM_SEED=<seed> npx vitest run test/core/membership/small-cluster.test.ts
 */
import { describe, expect, it } from 'vitest';
import { confirmationsWanted, LAN_PROFILE, WAN_PROFILE } from '../../../src/core/membership/config.js';
import { FailureDetector } from '../../../src/core/membership/failure-detector.js';
import type { MembershipEffect } from '../../../src/core/membership/messages.js';
import { Prng } from '../../support/prng.js';
import { MembershipSim } from './sim.js';

const META = { region: 'sim' };
/** The agent's `_sys/members` mirror, delivered by anti-entropy within one sync interval (5 s). */
const MEMBERS_SET = { minDelayMs: 50, maxDelayMs: 5_000 };

function three(): FailureDetector {
  const rng = new Prng(3);
  const fd = new FailureDetector({ id: 'a', incarnation: 0, meta: META }, LAN_PROFILE, () => rng.next());
  const others = ['b', 'c'].map((id) => ({ id, incarnation: 0, meta: META }));
  fd.step({ kind: 'members-seen', members: others }, 0);
  return fd;
}

function deaths(fx: readonly MembershipEffect[]): string[] {
  return fx.flatMap((e) => (e.kind === 'status-changed' && e.to === 'dead' ? [e.id] : []));
}

/** Ticks `fd` at its own deadlines until `untilMs`, acking every ping except to `silent`. */
function runQuietly(fd: FailureDetector, fromMs: number, untilMs: number, silent: string): string[] {
  const dead: string[] = [];
  let t = fromMs;
  for (let i = 0; i < 10_000 && t <= untilMs; i++) {
    t = Math.max(t, fd.nextTickAtMs());
    if (t > untilMs) break;
    const fx = fd.step({ kind: 'tick' }, t);
    dead.push(...deaths(fx));
    for (const e of fx) {
      if (e.kind === 'send-ping' && e.to !== silent) {
        dead.push(...deaths(fd.step({ kind: 'ack', from: e.to, seq: e.seq }, t + 1)));
      }
    }
  }
  return dead;
}

describe('confirmations wanted', () => {
  it('every member that can confirm, up to suspicionMult − 2', () => {
    expect([2, 3, 4, 5, 10].map((n) => confirmationsWanted(LAN_PROFILE, n))).toEqual([0, 1, 2, 2, 2]);
    expect([2, 3, 4, 5, 6, 10].map((n) => confirmationsWanted(WAN_PROFILE, n))).toEqual([0, 1, 2, 3, 4, 4]);
  });
});

describe('a cluster of three', () => {
  it('a lone accuser waits max before declaring a member dead; the third member confirming brings it to min', () => {
    const lone = three();
    lone.step({ kind: 'suspect', id: 'b', incarnation: 0, from: 'a' }, 1_000);
    // min 2 s, max 12 s (docs/membership.md): the lone suspicion lasts max.
    expect(lone.get('b')?.suspicion).toEqual({ confirmations: 0, deadlineMs: 13_000 });
    expect(runQuietly(lone, 1_000, 12_000, 'b')).toEqual([]);
    expect(lone.get('b')?.status).toBe('suspect');
    expect(runQuietly(lone, 12_000, 13_000, 'b')).toEqual(['b']);

    const confirmed = three();
    confirmed.step({ kind: 'suspect', id: 'b', incarnation: 0, from: 'a' }, 1_000);
    confirmed.step({ kind: 'suspect', id: 'b', incarnation: 0, from: 'c' }, 1_500);
    expect(confirmed.get('b')?.suspicion).toEqual({ confirmations: 1, deadlineMs: 3_000 });
    expect(runQuietly(confirmed, 1_500, 3_000, 'b')).toEqual(['b']);
  });

  const replay = process.env.SMAC_SIM_SEED;
  // Seed 18 at 10% loss is the run bench:sim found; 71, 76 and 90 at 20% lost a live member the
  // same way (a scan of 100 seeds before the change; none of 100 after).
  const cases: [number, number][] = replay
    ? [[Number(replay), 0.1]]
    : [
        [18, 0.1],
        [71, 0.2],
        [76, 0.2],
        [90, 0.2],
      ];
  it.each(cases)(
    '10 minutes of loss, nobody crashes, nobody is declared dead: seed %i, loss %d',
    (seed, loss) => {
      const sim = new MembershipSim({
        seed,
        n: 3,
        config: LAN_PROFILE,
        loss,
        minLatencyMs: 1,
        maxLatencyMs: 20,
        membersSet: MEMBERS_SET,
      });
      sim.runUntil(615_000);
      // The loss does cause suspicions, so the run tests how they end.
      expect(sim.refutations.length).toBeGreaterThan(0);
      const dead = sim.transitions
        .filter((t) => t.to === 'dead')
        .map((t) => `${t.observer} declared ${t.id}@${t.incarnation} dead at ${t.atMs}`);
      expect(dead, `seed ${seed}, loss ${loss}`).toEqual([]);
    },
  );

  it.each([1, 2, 3, 4, 5, 6])('a crash is still found by both others within the bound: seed %i', (seed) => {
    const sim = new MembershipSim({ seed, n: 3, config: LAN_PROFILE, minLatencyMs: 1, maxLatencyMs: 20 });
    sim.runUntil(15_000);
    const victim = sim.ids[seed % 3] ?? 'm00';
    sim.crash(victim);
    // Both survivors probe it and confirm each other's suspicion; they need not wait max.
    sim.runUntil(15_000 + 2 * 2 * LAN_PROFILE.probeIntervalMs + 2_000 + LAN_PROFILE.probeTimeoutMs);
    for (const o of sim.ids)
      if (o !== victim) expect(sim.statusOf(o, victim), `${o}, seed ${seed}`).toBe('dead');
  });
});
