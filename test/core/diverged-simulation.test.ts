/**
 * Seeded simulation of two clusters that meet (docs/agent.md "Divergence"): two groups of nodes
 * that never heard of each other write random ops of every type on shared keys and compact
 * within their group (each group's stability waits for its own members only); then the
 * partition between them heals. Merging (`mergeDiverged`, as the agent does with
 * `divergedPeers: 'merge'`), every node ends with the same clock and state, equal to a replica
 * that delivered every event ever made (rw-set aside: its folded removes are not preserved by
 * a merge, docs/semantics.md "Merging two histories"). Without merging, the two groups fork.
 *
 * A failing run names its seed; replay it alone with
 *   SMAC_SIM_SEED=<seed> npx vitest run test/core/diverged-simulation.test.ts
 */
import { describe, expect, it } from 'vitest';
import { MAX_EVENT_WIRE_VERSION } from '../../src/core/codec/event-codec.js';
import { vcToRecord } from '../../src/core/clock/vector-clock.js';
import { Replica } from '../../src/core/replica.js';
import { Prng } from '../support/prng.js';
import { LifecycleNetwork } from './sim/lifecycle-network.js';
import { randomKeyOp } from './sim/random-ops.js';
import { membershipViewRule } from './sim/stability-rules.js';

const SEEDS = process.env.SMAC_SIM_SEED
  ? [Number(process.env.SMAC_SIM_SEED)]
  : Array.from({ length: 30 }, (_, i) => 9100 + i);

const HEARTBEAT_MS = 1_000;

function run(seed: number, merge: boolean, withRwSet: boolean) {
  const rng = new Prng(seed);
  const n = rng.int(2, 5);
  const sides = Array.from({ length: n }, (_, i) => (i < Math.ceil(n / 2) ? 0 : 1));
  const group = (i: number) => sides.flatMap((s, j) => (s === sides[i] ? [`n${j}`] : []));
  const net = new LifecycleNetwork(rng, {
    n,
    rule: membershipViewRule,
    faults: { drop: 0.05, duplicate: 0.05, maxDelayMs: 300 },
    heartbeatMs: HEARTBEAT_MS,
    compactEvery: 2,
    reapAfterMs: 365 * 86_400_000,
    reap: 'local',
    wireVersion: () => MAX_EVENT_WIRE_VERSION,
    seeds: group,
    mergeDiverged: merge,
  });
  net.setSides(sides);
  const round = (writes: number) => {
    for (let w = 0; w < writes; w++) {
      const i = rng.int(0, n - 1);
      let op = randomKeyOp(rng);
      while (!withRwSet && JSON.stringify(op).includes('rw-set')) op = randomKeyOp(rng);
      net.write(i, [op], 0);
    }
    net.nowMs += HEARTBEAT_MS;
    net.deliverDue();
    net.heartbeatRound();
    for (const i of net.upNodes()) if (rng.chance(0.3)) net.pullFromRandomPeer(i);
  };
  const apart = rng.int(10, 30);
  for (let t = 0; t < apart; t++) round(rng.int(0, 4));
  const compactedApart = net.stats.compactions;
  net.healAll();
  // Both sides keep writing for a while after they meet, then go quiet.
  for (let t = 0; t < 10; t++) round(rng.int(0, 2));
  for (let t = 0; t < 60 && !converged(net); t++) round(0);
  return { net, compactedApart };
}

function converged(net: LifecycleNetwork): boolean {
  const [first, ...rest] = net.nodes.map((x) => x.replica);
  const key = (r: Replica) => JSON.stringify([vcToRecord(r.clock()), r.list()]);
  return first !== undefined && rest.every((r) => key(r) === key(first));
}

/** A replica that delivered every event ever made, in creation order (a causal order). */
function oracle(net: LifecycleNetwork): Replica {
  const r = new Replica({ id: 'oracle' });
  for (const { event } of net.archive) r.step({ kind: 'remote', event, bytes: 100 }, net.nowMs);
  return r;
}

describe('two clusters that compacted apart, then meet', () => {
  const exercised = { merged: 0, compactedApart: 0, dropped: 0 };

  it.each(SEEDS)('seed %i: merging, every node converges on what delivering every event gives', (seed) => {
    const { net, compactedApart } = run(seed, true, false);
    exercised.merged += net.stats.merged;
    exercised.compactedApart += compactedApart;
    exercised.dropped += net.stats.dropped;
    const hint = `seed ${seed} (replay: SMAC_SIM_SEED=${seed} npx vitest run test/core/diverged-simulation.test.ts)\n${net.trace.slice(-20).join('\n')}`;
    expect(converged(net), hint).toBe(true);
    const ref = oracle(net);
    expect(net.node(0).replica.list(), hint).toEqual(ref.list());
    expect(vcToRecord(net.node(0).replica.clock()), hint).toEqual(vcToRecord(ref.clock()));
    expect(net.stats.rejected, hint).toBe(0);
  });

  it.each(SEEDS.slice(0, 10))('seed %i: with rw-sets too, every node converges', (seed) => {
    const { net } = run(seed, true, true);
    expect(converged(net), `seed ${seed}`).toBe(true);
  });

  it.skipIf(SEEDS.length === 1)('the seeds merged clusters that had compacted apart', () => {
    expect(exercised.compactedApart).toBeGreaterThan(0);
    expect(exercised.dropped).toBeGreaterThan(0);
    expect(exercised.merged).toBeGreaterThan(0);
    if (process.env.SMAC_SIM_STATS) process.stdout.write(`exercised: ${JSON.stringify(exercised)}\n`);
  });

  it('without merging, two groups that both folded events fork', () => {
    let forked = 0;
    for (const seed of SEEDS.slice(0, 10)) {
      const { net } = run(seed, false, false);
      if (!converged(net)) forked++;
    }
    if (process.env.SMAC_SIM_STATS) process.stdout.write(`forked without merging: ${forked} of 10\n`);
    expect(forked).toBeGreaterThan(0);
  });
});
