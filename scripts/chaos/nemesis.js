// The nemesis: a seeded schedule of faults, one at a time, each healed before the next.
// Kinds: SIGKILL + restart (one of them timed to hit a request in flight), SIGSTOP/SIGCONT,
// isolating one agent (its link down), splitting the cluster (a minority on another bridge),
// store loss (SIGKILL, delete smac.db*, keep identity.key, restart), force-leave (an agent
// isolated while its client writes, force-left by the majority until the reap's cut is
// agreed, then healed or killed and restarted, so that it rebases and re-runs its writes
// beyond the cut: nemesis-leave.js), and two reaps at once (nemesis-reaps.js): a split whose
// sides reap each other, and two reaps started in opposite orders; with 4 agents or more, three-way
// splits (with and without reaps) and a fresh agent joining during a split (nemesis-splits.js).
// Every kind runs at least
// once (the schedule starts with each kind in a seeded order); choices come only from the
// PRNG, so a seed replays the same faults on the same agents with the same hold times.
import { waitUntil } from './agents.js';
import { statusClock } from './converge.js';
import { forceLeave, sleep } from './nemesis-leave.js';
import { settleRebases, unplannedReaps } from './nemesis-rebase.js';
import { mutualReap, oppositeReaps } from './nemesis-reaps.js';
import { SPLIT_KINDS, joinDuringSplit, threeWaySplit } from './nemesis-splits.js';

export const FAULT_KINDS = [
  'kill',
  'kill-mid-write',
  'pause',
  'isolate',
  'split',
  'store-loss',
  'force-leave',
];

/** The kinds whose faults reap a member. */
const REAPING = new Set(['force-leave', 'reap-timer', 'mutual-reap', 'three-way-reap']);

/** The kinds that pick their own agents (not one target). */
const OWN_PICKS = new Set(['mutual-reap', 'opposite-reaps', ...SPLIT_KINDS]);

/** The kinds whose faults hold a cut for 3.5-6 s. */
const CUTTING = new Set(['isolate', 'split', 'force-leave', 'mutual-reap', 'opposite-reaps', ...SPLIT_KINDS]);

/** How long the store-loss fault waits for each other agent's status (each try up to 15 s). */
const STATUS_WAIT_MS = 60_000;

export class Nemesis {
  constructor({
    rng,
    agents,
    apis,
    clients,
    net,
    history,
    storeLoss,
    forceLeaveRestart = true,
    reapAfterMs,
    reapFaults = false,
    splitFaults = false,
    addAgent,
    log,
  }) {
    this.forceLeaveRestart = forceLeaveRestart;
    this.rng = rng;
    this.agents = agents;
    this.apis = apis;
    this.clients = clients;
    this.net = net;
    this.history = history;
    this.kinds = FAULT_KINDS.filter((k) => storeLoss || k !== 'store-loss');
    // Opt-in, and last, so that a seed's plan without it does not change.
    this.reapAfterMs = reapAfterMs;
    if (reapAfterMs !== undefined) this.kinds.push('reap-timer');
    // Two reaps at once (nemesis-reaps.js); opposite-order reaps need two members and two
    // survivors. Also last, so that a seed's plan without them is the plan of before.
    if (reapFaults) {
      this.kinds.push('mutual-reap');
      if (agents.length >= 4) this.kinds.push('opposite-reaps');
    }
    // Three-way splits and a joiner during a split (nemesis-splits.js): 4 agents or more, so
    // the CI-sized run keeps its plan; last, so that without them a seed's plan is as before.
    // The joiner needs `addAgent` (run.js: a spare network slot) and joins once per run.
    if (splitFaults && agents.length >= 4)
      this.kinds.push(...SPLIT_KINDS.filter((k) => k !== 'join-during-split' || addAgent !== undefined));
    this.addAgent = addAgent;
    this.log = log;
    /** Every fault: { kind, targets, start, end, midWrite?, sides?, compactions }. */
    this.faults = [];
    /** Network cuts: { start, end, side: agent index -> side name }. */
    this.cuts = [];
  }

  /** The seeded plan: every kind once in a shuffled order, then random kinds. */
  plan(count) {
    const first = [...this.kinds];
    for (let i = first.length - 1; i > 0; i--) {
      const j = this.rng.int(0, i);
      [first[i], first[j]] = [first[j], first[i]];
    }
    // The first opposite-reaps fault comes before every other reap: a member once reaped is
    // excused from every later reap (src/core/reaping.ts), so a later marker never waits for it,
    // and two reaps of such members do not wait on each other (nemesis-reaps.js).
    const o = first.indexOf('opposite-reaps');
    const r = first.findIndex((k) => REAPING.has(k));
    if (o > r && r >= 0) first.splice(r, 0, ...first.splice(o, 1));
    const rest = [];
    // The joiner takes the one spare slot: it joins once.
    const again = this.kinds.filter((k) => k !== 'join-during-split');
    for (let i = first.length; i < count; i++) rest.push(this.rng.pick(again));
    return [...first, ...rest];
  }

  /** Runs faults until `deadline` (ms) but at least one of each kind; bounded by 200 faults. */
  async run(deadline) {
    const plan = this.plan(200);
    for (let i = 0; i < plan.length; i++) {
      if (i >= this.kinds.length && Date.now() >= deadline) break;
      await this.fault(plan[i]);
      await sleep(this.rng.int(800, 1800)); // writes continue on a healthy cluster in between
    }
  }

  async compactions() {
    const out = new Map();
    await Promise.all(
      this.agents.map(async (a, i) => {
        if (a.state !== 'running') return;
        const s = await this.apis[i].get('/v1/status');
        if (s?.counters) out.set(`${i}:${a.starts}`, s.counters.compactions ?? 0);
      }),
    );
    return out;
  }

  async fault(kind) {
    const n = this.agents.length;
    const target = this.rng.int(0, n - 1);
    const hold =
      kind === 'reap-timer'
        ? this.reapAfterMs + this.rng.int(3000, 6000) // silent past reapAfterMs, then some
        : CUTTING.has(kind)
          ? this.rng.int(3500, 6000)
          : this.rng.int(1500, 3500);
    const f = { kind, targets: [target], start: Date.now(), end: 0, hold };
    // The two-reap and split faults pick their own agents (nemesis-reaps.js, nemesis-splits.js).
    const whom = OWN_PICKS.has(kind) ? '' : ` a${target}`;
    this.log(`fault ${this.faults.length + 1}: ${kind}${whom} for ${hold} ms`);
    const before = await this.compactions();
    f.start = Date.now();
    switch (kind) {
      case 'kill':
      case 'kill-mid-write':
        if (kind === 'kill-mid-write') {
          await waitUntil(() => this.clients[target].inFlight > 0, 'a request in flight', 5_000, 1).catch(
            () => false,
          );
        }
        f.midWrite = this.clients[target].inFlight > 0;
        await this.agents[target].kill();
        await sleep(hold);
        f.end = Date.now();
        break;
      case 'pause':
        this.agents[target].pause();
        await sleep(hold);
        f.end = Date.now();
        break;
      case 'isolate':
      case 'split': {
        let side = [target];
        if (kind === 'split') {
          const size = this.rng.int(1, Math.floor(n / 2));
          const others = [...Array(n).keys()].filter((x) => x !== target);
          while (side.length < size) side.push(others.splice(this.rng.int(0, others.length - 1), 1)[0]);
          this.net.split(side);
        } else this.net.isolate(target);
        const sideOf = {};
        for (let i = 0; i < n; i++)
          sideOf[i] = side.includes(i) ? (kind === 'split' ? 'br1' : `alone${i}`) : 'br0';
        f.targets = side;
        const cut = { start: Date.now(), end: 0, side: sideOf };
        f.start = cut.start;
        await sleep(hold);
        await this.endCut(f, cut, before);
        break;
      }
      case 'force-leave':
      case 'reap-timer':
        await this.forceLeave(f, target, before);
        break;
      case 'mutual-reap':
        await mutualReap(this, f, before);
        break;
      case 'opposite-reaps':
        await oppositeReaps(this, f, before);
        break;
      case 'three-way-split':
      case 'three-way-reap':
        await threeWaySplit(this, f, before, kind === 'three-way-reap');
        break;
      case 'join-during-split':
        await joinDuringSplit(this, f, before);
        break;
      case 'store-loss':
        f.midWrite = this.clients[target].inFlight > 0;
        await this.agents[target].kill();
        f.reclassified = await this.reclassifyLost(target);
        f.removed = this.agents[target].deleteStore();
        await sleep(hold);
        f.end = Date.now();
        break;
      default:
        throw new Error(`unknown fault ${kind}`);
    }
    f.compactions ??= this.delta(before, await this.compactions());
    // Heal: restart or resume the target.
    const a = this.agents[target];
    if (a.state === 'stopped') a.resume();
    if (a.state === 'dead') await a.start();
    this.faults.push(f);
    this.log(`  healed after ${f.end - f.start} ms; compactions during it: ${f.compactions}`);
  }

  /** Ends fault `f`'s network cut `cut` now: its compactions since `before`, the cut recorded, every port healed. */
  async endCut(f, cut, before) {
    f.compactions = this.delta(before, await this.compactions());
    cut.end = Date.now();
    f.end = cut.end;
    this.cuts.push(cut);
    this.net.healAll();
  }

  forceLeave(f, target, before) {
    return forceLeave(this, f, target, before);
  }

  settleRebases(timeoutMs) {
    return settleRebases(this, timeoutMs);
  }

  unplannedReaps(reaps) {
    return unplannedReaps(this, reaps);
  }

  /**
   * Every reap a fault asked for, one record per reaped member: the force-leave and reap-timer
   * faults themselves, and each member of a mutual-reap, three-way-reap or opposite-reaps fault.
   */
  reapRecords() {
    return this.faults.flatMap((f) =>
      f.kind === 'force-leave' || f.kind === 'reap-timer' ? [f] : (f.members ?? []),
    );
  }

  async reapsAt(i) {
    const s = await this.apis[i].get('/v1/status');
    return s?.compaction?.reaps ?? [];
  }

  /** Compactions by agents that were up (same process) at both ends of the window. */
  delta(before, after) {
    let d = 0;
    for (const [k, v] of after) {
      const b = before.get(k);
      if (b !== undefined && v > b) d += v - b;
    }
    return d;
  }

  /**
   * The store of `target` is about to be deleted. Acknowledged ops of its own that no other
   * agent holds yet are lost with it, by the operator's hand: they become unknown ops. The
   * others are all up (faults come one at a time), so their clocks say what survives.
   */
  async reclassifyLost(target) {
    const held = {};
    for (let i = 0; i < this.agents.length; i++) {
      if (i === target) continue;
      // A busy agent (catching up after a rebase, on a loaded machine) may miss one request.
      const s = await waitUntil(
        () => this.apis[i].get('/v1/status'),
        `a${i}'s status`,
        STATUS_WAIT_MS,
        500,
      ).catch(() => undefined);
      if (!s)
        throw new Error(
          `a${i} did not answer /v1/status within ${STATUS_WAIT_MS} ms while a${target}'s store was being deleted: ${this.agents[i].describe()}`,
        );
      for (const [o, v] of Object.entries(statusClock(s))) held[o] = Math.max(held[o] ?? 0, v);
    }
    let n = 0;
    for (const op of this.history.ops) {
      if (
        op.agent === target &&
        op.outcome === 'ok' &&
        !op.lostWithStore &&
        op.seq > (held[op.origin] ?? 0)
      ) {
        op.lostWithStore = true;
        op.lostAt = this.agents[target].diedAt;
        n++;
      }
    }
    return n;
  }
}
