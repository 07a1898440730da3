// Detection time in the failure detector's seeded simulation (test/core/membership/sim.ts), as
// scenario (a) of test/core/membership/simulation.test.ts draws it: per seed, N = 5..30 members,
// 1-20 ms latency on the LAN profile and 50-170 ms on the WAN profile, no loss, one member
// crashed after 10 s. Prints the median and max time until the last survivor held it dead, and
// the largest share of detectionBoundMs any seed used (docs/membership.md, "Detection time").
// With --n, a cluster of that size on the LAN profile instead, with --one-way latencies (ms),
// the victim and the crash time varying with the seed: the median, 90th percentile and max
// time until all survivors held it dead.
//
//   node --experimental-transform-types --no-warnings --import ./scripts/lib/ts-register.js \
//     scripts/bench/sim-detection.js [--seeds 20] [--n 3 --one-way 75-86]
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const { MembershipSim } = await import(join(root, 'test/core/membership/sim.ts'));
const { LAN_PROFILE, WAN_PROFILE, detectionBoundMs } = await import(
  join(root, 'src/core/membership/config.ts')
);
const { Prng } = await import(join(root, 'test/support/prng.ts'));

const { values: args } = parseArgs({
  options: {
    seeds: { type: 'string', default: '20' },
    n: { type: 'string' },
    'one-way': { type: 'string', default: '1-20' },
  },
});
const seeds = Number(args.seeds);
const [minOneWay, maxOneWay] = args['one-way'].split('-').map(Number);
const fixedN = args.n === undefined ? undefined : Number(args.n);
if (
  !Number.isInteger(seeds) ||
  seeds < 1 ||
  !(minOneWay >= 0 && maxOneWay >= minOneWay) ||
  (fixedN !== undefined && !(Number.isInteger(fixedN) && fixedN >= 2))
) {
  console.error('usage: sim-detection.js [--seeds N>=1] [--n N>=2 --one-way MIN-MAX]');
  process.exit(2);
}

if (fixedN !== undefined) {
  const all = [];
  for (let seed = 1; seed <= seeds; seed++) {
    const sim = new MembershipSim({
      seed,
      n: fixedN,
      config: LAN_PROFILE,
      minLatencyMs: minOneWay,
      maxLatencyMs: maxOneWay,
    });
    sim.runUntil(15_000 + (seed % 10) * 97);
    const victim = sim.ids[seed % fixedN];
    const crashAt = sim.nowMs;
    sim.crash(victim);
    const survivors = sim.ids.filter((id) => id !== victim);
    for (let t = crashAt + 50; t <= crashAt + 120_000; t += 50) {
      sim.runUntil(t);
      if (survivors.every((o) => sim.statusOf(o, victim) === 'dead')) {
        all.push(t - crashAt);
        break;
      }
    }
  }
  all.sort((a, b) => a - b);
  const q = (p) => (all[Math.min(all.length - 1, Math.floor(p * all.length))] / 1000).toFixed(2);
  console.log(
    `N = ${fixedN}, ${minOneWay}-${maxOneWay} ms one way, ${seeds} seeds: crash → all hold dead ` +
      `median ${q(0.5)} s, p90 ${q(0.9)} s, max ${q(1)} s; never: ${seeds - all.length}`,
  );
  process.exit(0);
}

const CRASH_AT_MS = 10_000;
const profiles = [
  ['LAN', LAN_PROFILE, 1, 20],
  ['WAN', WAN_PROFILE, 50, 170],
];
for (const [name, config, minLatencyMs, maxLatencyMs] of profiles) {
  const last = [];
  let worstShare = 0;
  let missed = 0;
  for (let seed = 1; seed <= seeds; seed++) {
    const params = new Prng(seed * 7919 + 1);
    const n = params.int(5, 30);
    const sim = new MembershipSim({ seed, n, config, minLatencyMs, maxLatencyMs });
    const victim = params.pick(sim.ids);
    sim.runUntil(CRASH_AT_MS);
    sim.crash(victim);
    const bound = detectionBoundMs(config, n);
    sim.runUntil(CRASH_AT_MS + bound);
    const seen = new Map();
    for (const t of sim.transitionsOf(victim)) {
      if (t.to === 'dead' && !seen.has(t.observer)) seen.set(t.observer, t.atMs - CRASH_AT_MS);
    }
    if (seen.size < n - 1) missed++;
    const ms = Math.max(...seen.values());
    last.push(ms);
    worstShare = Math.max(worstShare, ms / bound);
  }
  last.sort((a, b) => a - b);
  const mid = last.length / 2;
  const median = last.length % 2 ? last[Math.floor(mid)] : (last[mid - 1] + last[mid]) / 2;
  console.log(
    `${name}: crash → all hold dead, median ${(median / 1000).toFixed(1)} s, max ${(last.at(-1) / 1000).toFixed(1)} s, ` +
      `at most ${(worstShare * 100).toFixed(0)}% of the bound; seeds where a survivor never declared it: ${missed}`,
  );
}
