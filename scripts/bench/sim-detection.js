// Detection time in the failure detector's seeded simulation (test/core/membership/sim.ts), as
// scenario (a) of test/core/membership/simulation.test.ts draws it: per seed, N = 5..30 members,
// 1-20 ms latency on the LAN profile and 50-170 ms on the WAN profile, no loss, one member
// crashed after 10 s. Prints the median and max time until the last survivor held it dead, and
// the largest share of detectionBoundMs any seed used (docs/membership.md, "Detection time").
//
//   node --experimental-transform-types --no-warnings --import ./scripts/lib/ts-register.js \
//     scripts/bench/sim-detection.js [--seeds 20]
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const { MembershipSim } = await import(join(root, 'test/core/membership/sim.ts'));
const { LAN_PROFILE, WAN_PROFILE, detectionBoundMs } = await import(
  join(root, 'src/core/membership/config.ts')
);
const { Prng } = await import(join(root, 'test/support/prng.ts'));

const { values: args } = parseArgs({ options: { seeds: { type: 'string', default: '20' } } });
const seeds = Number(args.seeds);
if (!Number.isInteger(seeds) || seeds < 1) {
  console.error('usage: sim-detection.js [--seeds N>=1]');
  process.exit(2);
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
