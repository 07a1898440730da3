/**
 * Seeded deterministic simulations of the failure detector (sim.ts): N = 5..30 members
 * exchanging probes and gossip with latency, loss and partitions, in virtual time.
 *
 * (a) a crashed member is declared dead by every other member within detectionBoundMs;
 * (b) under message loss with no crash, nobody is ever declared dead;
 * (c) a member cut off for a while is suspected, refutes and stays alive after healing;
 * (d) a member that leaves gracefully is marked left, never dead.
 *
 * A failing run names its seed; replay it alone with
 *   SMAC_SIM_SEED=<seed> npx vitest run test/core/membership/simulation.test.ts
 */
import { describe, expect, it } from 'vitest';
import {
  detectionBoundMs,
  LAN_PROFILE,
  type MembershipConfig,
  WAN_PROFILE,
} from '../../../src/core/membership/config.js';
import { Prng } from '../../support/prng.js';
import { MembershipSim, type SimOptions } from './sim.js';

const replay = process.env.SMAC_SIM_SEED;
const seeds = (first: number, count: number): number[] =>
  replay ? [Number(replay)] : Array.from({ length: count }, (_, i) => first + i);
const hint = (seed: number, what: string): string =>
  `membership simulation seed ${seed}: ${what} (replay: SMAC_SIM_SEED=${seed} npx vitest run test/core/membership/simulation.test.ts)`;

/** The agent's `_sys/members` mirror, delivered by anti-entropy within one sync interval (5 s). */
const MEMBERS_SET = { minDelayMs: 50, maxDelayMs: 5_000 };
const WARM_UP_MS = 10_000;

interface Scenario {
  readonly sim: MembershipSim;
  readonly n: number;
  /** A member chosen by the seed, for whatever the scenario does to one member. */
  readonly x: string;
}

function scenario(
  seed: number,
  config: MembershipConfig,
  opts: Partial<Omit<SimOptions, 'seed' | 'n' | 'config'>> = {},
): Scenario {
  const params = new Prng(seed * 7919 + 1);
  const n = params.int(5, 30);
  const sim = new MembershipSim({ seed, n, config, minLatencyMs: 1, maxLatencyMs: 20, ...opts });
  return { sim, n, x: params.pick(sim.ids) };
}

function deadTransitions(sim: MembershipSim): string[] {
  return sim.transitions
    .filter((t) => t.to === 'dead')
    .map((t) => `${t.observer} declared ${t.id} dead at ${t.atMs}`);
}

describe('(a) a crashed member is declared dead by all within the bound', () => {
  const check = (
    seed: number,
    config: MembershipConfig,
    opts: Parameters<typeof scenario>[2],
    health: number,
  ) => {
    const { sim, n, x } = scenario(seed, config, opts);
    sim.runUntil(WARM_UP_MS);
    sim.crash(x);
    const bound = detectionBoundMs(config, n, 0, health);
    sim.runUntil(WARM_UP_MS + bound);
    const times = new Map<string, number>();
    for (const t of sim.transitionsOf(x)) {
      if (t.to === 'dead' && t.atMs >= WARM_UP_MS && !times.has(t.observer))
        times.set(t.observer, t.atMs - WARM_UP_MS);
    }
    const what = `N = ${n}, ${x} crashed, bound ${bound} ms, declared dead after ${[...times.values()].join(', ')} ms`;
    for (const id of sim.ids) {
      if (id === x) continue;
      expect(times.get(id), hint(seed, `${what}; ${id} never declared it`)).toBeLessThanOrEqual(bound);
    }
    expect(
      deadTransitions(sim).filter((d) => !d.includes(`declared ${x} `)),
      hint(seed, what),
    ).toEqual([]);
  };

  it.each(seeds(100, 8))('LAN, no loss: seed %i', (seed) => {
    check(seed, LAN_PROFILE, {}, 0);
  });

  it.each(seeds(110, 4))('LAN, 10% loss, bound at worst local health: seed %i', (seed) => {
    check(seed, LAN_PROFILE, { loss: 0.1, membersSet: MEMBERS_SET }, LAN_PROFILE.awarenessMaxMultiplier - 1);
  });

  it.each(seeds(120, 2))('WAN, 50–170 ms one way: seed %i', (seed) => {
    check(seed, WAN_PROFILE, { minLatencyMs: 50, maxLatencyMs: 170 }, 0);
  });
});

describe('(b) message loss without a crash: no false positives', () => {
  const run = (seed: number, loss: number, membersSet: boolean, durationMs: number) => {
    const { sim, n } = scenario(seed, LAN_PROFILE, {
      loss,
      ...(membersSet ? { membersSet: MEMBERS_SET } : {}),
    });
    sim.runUntil(durationMs);
    return { sim, n };
  };

  // 20%: at 10% two probes in a row rarely fail (probeAttempts), so nothing would be refuted.
  it.each(seeds(200, 8))('20% loss, the agent as designed (detector + _sys/members): seed %i', (seed) => {
    const { sim, n } = run(seed, 0.2, true, 90_000);
    const suspected = new Set(sim.transitions.filter((t) => t.to === 'suspect').map((t) => t.id));
    const what = `N = ${n}, ${suspected.size} members suspected at some point`;
    expect(deadTransitions(sim), hint(seed, what)).toEqual([]);
    // Every suspicion was refuted: the member raised its incarnation and all see it alive.
    for (const id of suspected) expect(sim.node(id).fd.incarnation, hint(seed, id)).toBeGreaterThan(0);
    for (const o of sim.ids) {
      for (const id of sim.ids) {
        expect(sim.node(o).fd.get(id), hint(seed, `${o}'s view of ${id}`)).toMatchObject({
          status: 'alive',
          incarnation: sim.node(id).fd.incarnation,
        });
      }
    }
  });

  it('the loss really does cause suspicions, so the runs above test refutation', () => {
    const total = seeds(200, 8).reduce((sum, seed) => {
      const { sim } = run(seed, 0.2, true, 30_000);
      return sum + sim.refutations.length;
    }, 0);
    expect(total).toBeGreaterThan(0);
  });

  // The detector alone, without the _sys/members mirror. Measured over 20 seeds × 2 min (see
  // docs/membership.md): no false positive up to 30% loss; at 40% loss ~0.35 per member-hour.
  it.each(seeds(220, 4))('10% and 30% loss, the detector alone: seed %i', (seed) => {
    for (const loss of [0.1, 0.3]) {
      const { sim, n } = run(seed, loss, false, 60_000);
      expect(deadTransitions(sim), hint(seed, `N = ${n}, loss ${loss}, detector alone`)).toEqual([]);
    }
  });

  it('40% loss: the detector alone has a small false-positive rate, the mirror removes it', () => {
    let hours = 0;
    let alone = 0;
    let mirrored = 0;
    for (const seed of seeds(240, 4)) {
      const a = new MembershipSim({ seed, n: 12, config: LAN_PROFILE, loss: 0.4 });
      a.runUntil(60_000);
      alone += deadTransitions(a).length;
      const b = new MembershipSim({ seed, n: 12, config: LAN_PROFILE, loss: 0.4, membersSet: MEMBERS_SET });
      b.runUntil(60_000);
      mirrored += deadTransitions(b).length;
      hours += (12 * 60) / 3_600;
    }
    const rate = alone / hours;
    expect(rate, `detector alone at 40% loss: ${rate.toFixed(2)} false deaths per member-hour`).toBeLessThan(
      1,
    );
    expect(mirrored, 'with the _sys/members mirror at 40% loss').toBe(0);
  });
});

describe('(c) a temporarily cut-off member refutes and stays alive', () => {
  // Five periods: long enough for someone to fail two probes of it in a row (probeAttempts).
  it.each(seeds(300, 8))('isolated for 5 periods: seed %i', (seed) => {
    const { sim, n, x } = scenario(seed, LAN_PROFILE);
    sim.runUntil(WARM_UP_MS);
    sim.isolate(x);
    sim.runUntil(WARM_UP_MS + 5_000);
    sim.heal();
    sim.runUntil(60_000);
    const what = `N = ${n}, ${x} isolated 10–15 s`;
    expect(
      sim.transitionsOf(x).some((t) => t.to === 'suspect' && t.atMs < WARM_UP_MS + 5_000),
      hint(seed, `${what}: nobody suspected it`),
    ).toBe(true);
    expect(
      sim.refutations.some((r) => r.id === x),
      hint(seed, `${what}: it never refuted`),
    ).toBe(true);
    expect(deadTransitions(sim), hint(seed, what)).toEqual([]);
    for (const o of sim.ids) {
      expect(sim.node(o).fd.get(x), hint(seed, `${what}: ${o}'s view`)).toMatchObject({
        status: 'alive',
        incarnation: sim.node(x).fd.incarnation,
      });
    }
  });

  it.each(seeds(320, 4))('isolated past the suspicion timeout: declared dead, then back: seed %i', (seed) => {
    const { sim, n, x } = scenario(seed, LAN_PROFILE);
    sim.runUntil(WARM_UP_MS);
    sim.isolate(x);
    sim.runUntil(WARM_UP_MS + 30_000);
    const what = `N = ${n}, ${x} isolated 10–40 s`;
    for (const o of sim.ids)
      if (o !== x) expect(sim.statusOf(o, x), hint(seed, `${what}: ${o}`)).toBe('dead');
    sim.heal();
    sim.runUntil(WARM_UP_MS + 45_000);
    for (const o of sim.ids) {
      for (const id of sim.ids) {
        expect(sim.statusOf(o, id), hint(seed, `${what}: ${o}'s view of ${id} after healing`)).toBe('alive');
      }
    }
    expect(sim.node(x).fd.incarnation, hint(seed, what)).toBeGreaterThan(0);
  });
});

describe('(d) a member that leaves is marked left, not dead', () => {
  it.each(seeds(400, 6))('seed %i', (seed) => {
    const { sim, n, x } = scenario(seed, LAN_PROFILE, { loss: 0.05 });
    sim.runUntil(WARM_UP_MS);
    sim.leave(x);
    sim.runUntil(WARM_UP_MS + 20_000);
    const what = `N = ${n}, ${x} left at 10 s`;
    expect(sim.leaveCompleted.get(x), hint(seed, `${what}: leave never completed`)).toBeDefined();
    for (const o of sim.ids) {
      if (o === x) continue;
      const seen = sim.transitionsOf(x).filter((t) => t.observer === o && t.atMs >= WARM_UP_MS);
      expect(seen.map((t) => t.to).at(-1), hint(seed, `${what}: ${o}`)).toBe('left');
      expect(
        seen.some((t) => t.to === 'dead'),
        hint(seed, what),
      ).toBe(false);
    }
    expect(deadTransitions(sim), hint(seed, what)).toEqual([]);
  });
});

describe('determinism', () => {
  it('the same seed replays the same run', () => {
    const a = scenario(4242, LAN_PROFILE, { loss: 0.2 }).sim;
    const b = scenario(4242, LAN_PROFILE, { loss: 0.2 }).sim;
    a.runUntil(30_000);
    b.runUntil(30_000);
    expect(a.transitions.length).toBeGreaterThan(0);
    expect(b.transitions).toEqual(a.transitions);
    expect(b.sent).toBe(a.sent);
  });
});
