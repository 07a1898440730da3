// The nemesis: a seeded schedule of faults, one at a time, each healed before the next.
// Kinds: SIGKILL + restart (one of them timed to hit a request in flight), SIGSTOP/SIGCONT,
// isolating one agent (its link down), splitting the cluster (a minority on another bridge),
// and store loss (SIGKILL, delete smac.db*, keep identity.key, restart). Every kind runs at
// least once (the schedule starts with each kind in a seeded order); choices come only from
// the PRNG, so a seed replays the same faults on the same agents with the same hold times.
import { waitUntil } from './agents.js';

export const FAULT_KINDS = ['kill', 'kill-mid-write', 'pause', 'isolate', 'split', 'store-loss'];

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export class Nemesis {
  constructor({ rng, agents, apis, clients, net, history, storeLoss, log }) {
    this.rng = rng;
    this.agents = agents;
    this.apis = apis;
    this.clients = clients;
    this.net = net;
    this.history = history;
    this.kinds = FAULT_KINDS.filter((k) => storeLoss || k !== 'store-loss');
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
    const rest = [];
    for (let i = first.length; i < count; i++) rest.push(this.rng.pick(this.kinds));
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
    const hold = kind === 'isolate' || kind === 'split' ? this.rng.int(3500, 6000) : this.rng.int(1500, 3500);
    const f = { kind, targets: [target], start: Date.now(), end: 0, hold };
    this.log(`fault ${this.faults.length + 1}: ${kind} a${target} for ${hold} ms`);
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
        f.compactions = this.delta(before, await this.compactions());
        cut.end = Date.now();
        f.end = cut.end;
        this.cuts.push(cut);
        this.net.healAll();
        break;
      }
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
      const s = await this.apis[i].get('/v1/status');
      if (!s) throw new Error(`a${i} did not answer while a${target}'s store was being deleted`);
      for (const [o, v] of Object.entries(s.clock)) held[o] = Math.max(held[o] ?? 0, v);
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
