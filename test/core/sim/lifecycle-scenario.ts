/**
 * One seeded run of the lifecycle simulation: random writes (every CRDT type, deletes, system
 * records, an only-growing `acked` counter) on 3-5 nodes over a lossy network, random short
 * splits, one partition of a node far longer than the heartbeat window (50-80 heartbeats), and
 * membership changes drawn from the seed: graceful leave, death (then reaping), restart with a
 * lost store. A node's last event before it leaves or crashes may reach one peer only, which may
 * then be cut off too. Half the runs reap by an agreed cut, half as the agent does (each node on
 * its own timer). One node runs an older release that emits wire version 1, the rest this
 * build's newest; the older one is upgraded at a time drawn from the seed (on its own stream, so
 * the rest of the run draws as before). Clocks on the wire leave out retired epochs only once
 * every node that may still talk reads that (src/core/retired-epochs.ts).
 */
import { vcGet } from '../../../src/core/clock/vector-clock.js';
import { MAX_EVENT_WIRE_VERSION, wireVersionOf } from '../../../src/core/codec/event-codec.js';
import { Prng } from '../../support/prng.js';
import { checkConverged, ACKED_KEY } from './lifecycle-check.js';
import { LifecycleCluster } from './lifecycle-cluster.js';
import { randomKeyOp } from './random-ops.js';
import { membershipViewRule, type StabilityRule } from './stability-rules.js';

export const HEARTBEAT_MS = 100;

export interface LifecycleRun {
  readonly cluster: LifecycleCluster;
  readonly problems: string[];
  readonly settleRounds: number;
  readonly summary: string;
  /** Events the final clock covers, by the wire version they were made in. */
  readonly versions: Record<number, number>;
}

type Change = 'isolate' | 'die' | 'leave' | 'lose-store' | 'join';

export interface LifecycleVariant {
  /**
   * One more node, unknown to the others, joins during the long partition through a node on
   * the other side (issue 7, "a member that joined on the far side of a partition"): it pulls
   * that node's state and writes at once, its first ops lost on their way.
   */
  readonly joiner?: boolean;
}

export function runLifecycle(
  seed: number,
  rule: StabilityRule = membershipViewRule,
  variant: LifecycleVariant = {},
): LifecycleRun {
  const rng = new Prng(seed);
  const n = rng.int(3, 5);
  const olderRelease = rng.int(0, n - 1);
  // The joiner is the last node; the others do not know of it.
  const total = variant.joiner ? n + 1 : n;
  const founders = Array.from({ length: n }, (_, i) => `n${i}`);
  const c = new LifecycleCluster(rng, {
    n: total,
    ...(variant.joiner ? { seeds: (i: number) => (i === n ? [...founders, `n${n}`] : founders) } : {}),
    rule,
    faults: {
      drop: rng.pick([0, 0.05, 0.2]),
      duplicate: rng.pick([0, 0.1]),
      maxDelayMs: rng.pick([0, 20, 150]),
    },
    heartbeatMs: HEARTBEAT_MS,
    compactEvery: 5,
    reapAfterMs: 150 * HEARTBEAT_MS,
    reap: rng.chance(0.5) ? 'agreed-cut' : 'local',
    wireVersion: (i) => (i === olderRelease ? 1 : MAX_EVENT_WIRE_VERSION),
  });
  const upgradeAt = new Prng(seed ^ 0x5eed).int(100, 380) * HEARTBEAT_MS;
  const start = c.nowMs;
  for (let i = 0; i < n; i++) c.announce(i);
  if (variant.joiner) c.notYet(n);
  const duration = 450 * HEARTBEAT_MS;
  // The plan: one long partition always; leaves and deaths leave at least two nodes.
  const plan: { at: number; change: Change }[] = [{ at: rng.int(20, 150) * HEARTBEAT_MS, change: 'isolate' }];
  const stops = rng.int(0, n - 2);
  for (let k = 0; k < stops; k++)
    plan.push({ at: rng.int(10, 300) * HEARTBEAT_MS, change: rng.chance(0.5) ? 'die' : 'leave' });
  if (rng.chance(0.6)) plan.push({ at: rng.int(10, 300) * HEARTBEAT_MS, change: 'lose-store' });
  plan.sort((a, b) => a.at - b.at);
  // The joiner starts this many heartbeats before the long partition heals (0-4): late, so that
  // the sponsor may still hold no event of it when it reports the other side's events.
  let joinLead = variant.joiner ? rng.int(0, 4) : -1;
  const isolations: { node: number; until: number }[] = [];
  // The joiner reaches only its sponsor at first; the others meet it (peer exchange) 5-30
  // heartbeats after the long partition heals, so the node that was cut off learns of it
  // through the others first.
  let meetAt: number | undefined;

  while (c.nowMs - start < duration) {
    c.advance(rng.int(1, 30));
    const t = c.nowMs - start;
    if (t >= upgradeAt && c.node(olderRelease).wireVersion < MAX_EVENT_WIRE_VERSION)
      c.upgrade(olderRelease, MAX_EVENT_WIRE_VERSION);
    const long = isolations[0];
    if (joinLead >= 0 && long && c.nowMs >= long.until - joinLead * HEARTBEAT_MS) {
      joinLead = -1;
      applyChange(c, rng, 'join', isolations);
    }
    for (const iso of isolations.filter((x) => x.until <= c.nowMs)) {
      c.rejoin(iso.node);
      if (iso === long && variant.joiner && meetAt === undefined)
        meetAt = c.nowMs + rng.int(5, 30) * HEARTBEAT_MS;
      isolations.splice(isolations.indexOf(iso), 1);
    }
    if (meetAt !== undefined && meetAt <= c.nowMs) {
      meetAt = Number.POSITIVE_INFINITY;
      for (let i = 0; i < n; i++) c.unblock(i, n);
    }
    for (let next = plan[0]; next && next.at <= t; next = plan[0]) {
      plan.shift();
      applyChange(c, rng, next.change, isolations);
    }
    const ups = c.upNodes();
    const r = rng.next();
    if (r < 0.45 && ups.length > 0) write(c, rng, rng.pick(ups));
    else if (r < 0.8) c.deliverDue();
    else if (r < 0.84) c.splitRandomly();
    else if (r < 0.9) c.healSplit();
    else if (ups.length > 0) c.pullFromRandomPeer(rng.pick(ups));
  }
  const settleRounds = c.settle();
  const problems = checkConverged(c);
  const s = c.stats;
  const summary =
    `${n} nodes (n${olderRelease} on wire version 1), ${c.archive.length} events, ` +
    `${s.compactions} compactions dropping ${s.dropped} log entries, ${s.installed} snapshots installed, ` +
    `${s.refused} refused, ${s.reaps} reaps, ${c.node(c.upNodes()[0] ?? 0).replica.retiredCuts().size} retired epochs, ` +
    `settled in ${settleRounds} rounds; ${c.trace.join('; ')}`;
  const versions: Record<number, number> = {};
  const final = c.node(c.upNodes()[0] ?? 0).replica.clock();
  for (const { event } of c.archive) {
    if (event.seq > vcGet(final, event.origin)) continue;
    const v = wireVersionOf(event);
    versions[v] = (versions[v] ?? 0) + 1;
  }
  return { cluster: c, problems, settleRounds, summary, versions };
}

function applyChange(
  c: LifecycleCluster,
  rng: Prng,
  change: Change,
  isolations: { node: number; until: number }[],
): void {
  const ups = c.upNodes().filter((i) => !c.isolated(i));
  if (change === 'join') {
    const sponsor = ups[0] === undefined ? undefined : rng.pick(ups);
    if (sponsor !== undefined) joinThrough(c, rng, sponsor);
    return;
  }
  if (ups.length < 2) return;
  const i = rng.pick(ups);
  switch (change) {
    case 'isolate':
      isolate(c, rng, i, isolations);
      return;
    case 'die':
      if (ups.length > 2) c.die(i);
      return;
    case 'leave': {
      // A graceful leave needs a peer to hand its events to.
      if (ups.length < 3 || !c.upNodes().some((j) => c.connected(i, j))) return;
      const handOver = rng.chance(0.5);
      const heard = handOver ? undefined : lastWords(c, rng, i);
      c.leave(i, handOver);
      if (heard !== undefined) isolate(c, rng, heard, isolations);
      return;
    }
    case 'lose-store': {
      const heard = lastWords(c, rng, i);
      c.loseStore(i, c.nowMs + rng.int(1, 20) * HEARTBEAT_MS);
      if (heard !== undefined) isolate(c, rng, heard, isolations);
      return;
    }
  }
}

/**
 * The joiner starts next to `sponsor`, announces itself (half the time the announcement is
 * lost), pulls the sponsor's state and writes at once: a delete of a counter and an add to a
 * remove-wins set, lost on their way (so that nobody may hold an event of it for a while).
 */
function joinThrough(c: LifecycleCluster, rng: Prng, sponsor: number): void {
  const j = c.nodes.length - 1;
  for (let i = 0; i < j; i++) if (i !== sponsor) c.block(i, j);
  c.startNext(j, sponsor, rng.chance(0.5));
  const ops = [
    { type: 'pn-counter', key: `k/${rng.int(0, 2)}`, op: { kind: 'delete' } },
    { type: 'rw-set', key: `k/${rng.int(0, 2)}`, op: { kind: 'add', value: rng.int(1, 4) } },
  ];
  c.write(j, ops, 0, false, j);
}

/** A partition of node `i` far longer than the heartbeat window: 50-80 heartbeats. */
function isolate(
  c: LifecycleCluster,
  rng: Prng,
  i: number,
  isolations: { node: number; until: number }[],
): void {
  if (c.isolated(i)) return;
  c.isolate(i);
  isolations.push({ node: i, until: c.nowMs + rng.int(50, 80) * HEARTBEAT_MS });
}

/**
 * Now and then, a node's last event before it crashes or leaves reaches one peer only, which
 * then half the time is cut off for long: a delete of a counter and an add to a remove-wins
 * set, the ops whose effect compaction changes when it folds what they are concurrent with.
 * Returns the peer to isolate, if any.
 */
function lastWords(c: LifecycleCluster, rng: Prng, i: number): number | undefined {
  const peers = c.upNodes().filter((j) => c.connected(i, j));
  if (peers.length === 0 || !rng.chance(0.5)) return undefined;
  const ops = [
    { type: 'pn-counter', key: `k/${rng.int(0, 2)}`, op: { kind: 'delete' } },
    { type: 'rw-set', key: `k/${rng.int(0, 2)}`, op: { kind: 'add', value: rng.int(1, 4) } },
  ];
  const heard = rng.pick(peers);
  c.write(i, ops, 0, false, heard);
  return rng.chance(0.5) ? heard : undefined;
}

function write(c: LifecycleCluster, rng: Prng, i: number): void {
  const ops: unknown[] = Array.from({ length: rng.int(1, 3) }, () => randomKeyOp(rng));
  let acked = 0;
  if (rng.chance(0.5)) {
    acked = rng.int(1, 5);
    ops.unshift({ type: 'pn-counter', key: ACKED_KEY, op: { kind: 'increment', by: acked } });
  }
  const system = rng.chance(0.15);
  if (system) {
    // The node's own load figure: a system record both wire versions let it write.
    const by = rng.int(1, 3);
    const op = { kind: 'update', field: c.node(i).peer, type: 'pn-counter', op: { kind: 'increment', by } };
    ops.push({ type: 'or-map', key: '_sys/load/conn', op });
  }
  c.write(i, ops, acked, system);
}

/** Seeds to run: SMAC_SIM_SEED replays one. */
export function lifecycleSeeds(count: number, base: number): number[] {
  const replay = process.env.SMAC_SIM_SEED;
  return replay ? [Number(replay)] : Array.from({ length: count }, (_, i) => base + i);
}
