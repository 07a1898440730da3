// How the pure cores scale with cluster size, in their seeded simulations (no I/O, virtual
// time): the SWIM failure detector (test/core/membership/sim.ts) and the replica's event
// metadata (src/core/replica.ts with delta-encoded dependencies). Issue 8, "Scale past this
// machine". For each N it reports:
//   - detection: virtual time from a crash until the first and until every live member holds
//     the crashed one dead (LAN profile, 1-20 ms latency, no loss);
//   - false suspicions and false deaths of live members over a run with packet loss;
//   - probe-protocol packets sent per member per second (steady state, no loss);
//   - metadata bytes per event (everything but the ops) with uniform random writers.
// Each membership figure is the median over --seeds seeds (the max is shown beside it).
//
//   npm run bench:sim -- [--sizes 10,100,1000] [--seeds 3] [--loss 0.05] [--out docs/bench/sim-scale]
//
// Runs the TypeScript simulations with Node's type transform (scripts/lib/ts-register.js).
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const { MembershipSim } = await import(join(root, 'test/core/membership/sim.ts'));
const { LAN_PROFILE } = await import(join(root, 'src/core/membership/config.ts'));
const { Replica } = await import(join(root, 'src/core/replica.ts'));
const { encodeEvent, eventMetadataBytes } = await import(join(root, 'src/core/codec/event-codec.ts'));
const { Prng } = await import(join(root, 'test/support/prng.ts'));

const { values: args } = parseArgs({
  options: {
    sizes: { type: 'string', default: '10,30,100,300,1000' },
    seeds: { type: 'string', default: '3' },
    loss: { type: 'string', default: '0.05' },
    'loss-seconds': { type: 'string', default: '120' },
    out: { type: 'string' },
  },
});
const sizes = args.sizes.split(',').map(Number);
const seeds = Number(args.seeds);
const loss = Number(args.loss);
const lossSeconds = Number(args['loss-seconds']);
if (
  sizes.some((n) => !Number.isInteger(n) || n < 3 || n > 5000) ||
  !(seeds >= 1) ||
  !(loss >= 0 && loss < 1)
) {
  console.error('usage: sim-scale.js [--sizes 10,100,1000 (3..5000)] [--seeds N>=1] [--loss 0..1)');
  process.exit(2);
}

const WARM_MS = 15_000;
const STEADY_MS = 20_000;
const MEMBERS_SET = { minDelayMs: 50, maxDelayMs: 5_000 };

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0
    ? NaN
    : s.length % 2
      ? s[(s.length - 1) / 2]
      : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/** Detection and steady traffic for one (n, seed), no loss. */
function detection(n, seed) {
  const sim = new MembershipSim({
    seed,
    n,
    config: LAN_PROFILE,
    minLatencyMs: 1,
    maxLatencyMs: 20,
    membersSet: MEMBERS_SET,
  });
  sim.runUntil(WARM_MS);
  const sent0 = sim.sent;
  sim.runUntil(WARM_MS + STEADY_MS);
  const packetsPerMemberPerS = (sim.sent - sent0) / n / (STEADY_MS / 1000);
  const victim = sim.ids[Math.floor(n / 2)];
  const crashAt = sim.nowMs;
  sim.crash(victim);
  const observers = sim.ids.filter((id) => id !== victim);
  let first;
  let all;
  for (let t = crashAt + 250; t <= crashAt + 300_000; t += 250) {
    sim.runUntil(t);
    const dead = observers.filter((o) => sim.statusOf(o, victim) === 'dead').length;
    if (dead > 0 && first === undefined) first = t - crashAt;
    if (dead === observers.length) {
      all = t - crashAt;
      break;
    }
  }
  const falseSuspicions = new Set(
    sim.transitions
      .filter((x) => x.id !== victim && x.to === 'suspect')
      .map((x) => `${x.id}@${x.incarnation}`),
  ).size;
  return { packetsPerMemberPerS, firstMs: first ?? NaN, allMs: all ?? NaN, falseSuspicions };
}

/** False suspicions and deaths of live members under packet loss, nobody failing. */
function underLoss(n, seed) {
  const sim = new MembershipSim({
    seed,
    n,
    config: LAN_PROFILE,
    loss,
    minLatencyMs: 1,
    maxLatencyMs: 20,
    membersSet: MEMBERS_SET,
  });
  sim.runUntil(WARM_MS + lossSeconds * 1000);
  const after = sim.transitions.filter((x) => x.atMs >= WARM_MS);
  // A suspicion is one episode (member, incarnation), however many members heard of it.
  const episodes = (to) =>
    new Set(after.filter((x) => x.to === to).map((x) => `${x.id}@${x.incarnation}`)).size;
  return { suspicions: episodes('suspect'), deaths: episodes('dead') };
}

/** Metadata bytes per event with uniform random writers and full, instant delivery. */
function metadata(n, seed) {
  const rng = new Prng(seed);
  const now = 1_700_000_000_000;
  // 52 characters, the length of an Ed25519 libp2p peer id (as in bench:core).
  const replicas = Array.from(
    { length: n },
    (_, i) => new Replica({ id: `12D3KooW${String(i).padStart(44, '0')}` }),
  );
  const writes = Math.min(4 * n, 2_000);
  const meta = [];
  let total = 0;
  const op = (i) => [{ type: 'pn-counter', key: `k${i % 16}`, op: { kind: 'increment', by: 1 } }];
  for (let w = 0; w < writes; w++) {
    const i = rng.int(0, n - 1);
    const { event } = replicas[i].step({ kind: 'local', ops: op(w) }, now + w);
    const bytes = encodeEvent(event).length;
    // The first round of writes carries the dependencies that pile up before an origin's first
    // write; count steady state only.
    if (w >= n) {
      meta.push(eventMetadataBytes(event));
      total += bytes;
    }
    for (let j = 0; j < n; j++) if (j !== i) replicas[j].step({ kind: 'remote', event, bytes }, now + w);
  }
  const sorted = meta.sort((a, b) => a - b);
  return {
    meanMeta: sorted.reduce((a, b) => a + b, 0) / Math.max(1, sorted.length),
    p99Meta: sorted[Math.floor(sorted.length * 0.99)] ?? NaN,
    meanEvent: total / Math.max(1, sorted.length),
  };
}

const rows = [];
for (const n of sizes) {
  const t0 = performance.now();
  const det = [];
  const lossy = [];
  for (let s = 1; s <= seeds; s++) {
    det.push(detection(n, s));
    lossy.push(underLoss(n, s));
  }
  const md = metadata(n, 1);
  const row = {
    n,
    detectFirstMs: median(det.map((d) => d.firstMs)),
    detectAllMs: median(det.map((d) => d.allMs)),
    detectAllMaxMs: Math.max(...det.map((d) => d.allMs)),
    falseSuspicionsNoLoss: det.reduce((a, d) => a + d.falseSuspicions, 0),
    packetsPerMemberPerS: median(det.map((d) => d.packetsPerMemberPerS)),
    lossSuspicionsPerMemberHour: median(lossy.map((l) => l.suspicions)) / n / (lossSeconds / 3600),
    lossDeaths: Math.max(...lossy.map((l) => l.deaths)),
    metaBytesMean: md.meanMeta,
    metaBytesP99: md.p99Meta,
    eventBytesMean: md.meanEvent,
    seconds: (performance.now() - t0) / 1000,
  };
  rows.push(row);
  console.error(`n=${n} done in ${row.seconds.toFixed(1)} s`);
}

const pct = (x) => `${(loss * 100).toFixed(0)}`;
const lines = [
  `Seeded simulations, ${seeds} seed(s) per size, LAN profile, 1-20 ms latency; loss run: ${pct(loss)} % of packets lost for ${lossSeconds} s.`,
  '',
  `| N | crash → first holds dead (s) | crash → all hold dead (s, median / max) | probe packets per member per s | false suspicions, no loss (episodes, all seeds) | false suspicions per member per hour at ${pct(loss)} % loss (median) | false deaths at ${pct(loss)} % loss (max, all seeds) | metadata bytes per event (mean / p99) | event bytes (mean) |`,
  '|---|---|---|---|---|---|---|---|---|',
  ...rows.map(
    (r) =>
      `| ${r.n} | ${(r.detectFirstMs / 1000).toFixed(1)} | ${(r.detectAllMs / 1000).toFixed(1)} / ${(r.detectAllMaxMs / 1000).toFixed(1)} | ${r.packetsPerMemberPerS.toFixed(2)} | ${r.falseSuspicionsNoLoss} | ${r.lossSuspicionsPerMemberHour.toFixed(1)} | ${r.lossDeaths} | ${r.metaBytesMean.toFixed(1)} / ${r.metaBytesP99} | ${r.eventBytesMean.toFixed(1)} |`,
  ),
];
console.log(lines.join('\n'));
if (args.out) {
  writeFileSync(
    `${args.out}.json`,
    `${JSON.stringify({ sizes, seeds, loss, lossSeconds, rows }, null, 2)}\n`,
  );
  writeFileSync(`${args.out}.md`, `${lines.join('\n')}\n`);
}
