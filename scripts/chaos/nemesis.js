// The nemesis: a seeded schedule of faults, one at a time, each healed before the next.
// Kinds: SIGKILL + restart (one of them timed to hit a request in flight), SIGSTOP/SIGCONT,
// isolating one agent (its link down), splitting the cluster (a minority on another bridge),
// store loss (SIGKILL, delete smac.db*, keep identity.key, restart), and force-leave (an agent
// isolated while its client writes, force-left by the majority until the reap's cut is
// agreed, then healed or killed and restarted, so that it rebases and re-runs its writes
// beyond the cut). Every kind runs at
// least once (the schedule starts with each kind in a seeded order); choices come only from
// the PRNG, so a seed replays the same faults on the same agents with the same hold times.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { waitUntil } from './agents.js';
import { statusClock } from './converge.js';
import { agreedReaps } from './reap-cuts.js';

export const FAULT_KINDS = [
  'kill',
  'kill-mid-write',
  'pause',
  'isolate',
  'split',
  'store-loss',
  'force-leave',
];

/**
 * How long the force-leave fault waits for the agreed cut, for the member's rebase to start,
 * and then for its re-run: one write after another, each durable (about 10 a second here).
 * The cut waits for every survivor's report: one just back from a store loss reported 36 s
 * after the force-leave at load 50 (seed 7), once it had a peer's state.
 */
const REAP_WAIT_MS = 60_000;
/**
 * A timer-driven reap comes reapAfterMs after the member was last heard, once it is also
 * declared dead: on a machine at load 25, a killed agent was suspected only after 41 s.
 */
const TIMER_REAP_WAIT_MS = 90_000;
const REBASE_WAIT_MS = 30_000;
const RERUN_WAIT_MS = (n) => Math.min(60_000, 15_000 + 250 * n);

/** How long the store-loss fault waits for each other agent's status (each try up to 15 s). */
const STATUS_WAIT_MS = 60_000;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

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
    const hold =
      kind === 'reap-timer'
        ? this.reapAfterMs + this.rng.int(3000, 6000) // silent past reapAfterMs, then some
        : kind === 'isolate' || kind === 'split' || kind === 'force-leave'
          ? this.rng.int(3500, 6000)
          : this.rng.int(1500, 3500);
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
      case 'force-leave':
      case 'reap-timer':
        await this.forceLeave(f, target, before);
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

  /**
   * Isolates `target` while its client keeps writing (so it holds writes nobody else has), has a
   * survivor force-leave it (POST /v1/members/<id>/force-leave) and waits, bounded, until every
   * survivor's /v1/status shows the reap of its epoch with a cut. Then it heals the link, or (a
   * seeded choice) kills the member, heals and restarts it, and waits, bounded, until the member
   * logged its rebase and, if it held writes beyond the cut, their re-run. The window from the
   * force-leave to the rebase counts as a store loss of the member for the checker: a write it
   * made after the rebase did not see what its reads saw before (its state may be a peer's).
   */
  async forceLeave(f, target, before) {
    const n = this.agents.length;
    const a = this.agents[target];
    const survivors = [...Array(n).keys()].filter((x) => x !== target);
    const by = survivors[this.rng.int(0, survivors.length - 1)];
    // The coin is always drawn, so a seed makes the same other choices in either mode.
    const timer = f.kind === 'reap-timer';
    // A timer-driven reap always kills the member (below): alive and cut off for reapAfterMs,
    // it would reap every survivor on its own timer too (docs/chaos.md).
    const restart = (this.rng.chance(0.5) && this.forceLeaveRestart) || timer;
    const peer = a.peerId;
    const logFrom = this.logSize(a);
    this.net.isolate(target);
    const sideOf = {};
    for (let i = 0; i < n; i++) sideOf[i] = i === target ? `alone${i}` : 'br0';
    const cut = { start: Date.now(), end: 0, side: sideOf };
    f.start = cut.start;
    f.by = by;
    f.restart = restart;
    const doneBefore = new Set(
      (await this.reapsAt(by)).filter((r) => r.cut !== undefined).map((r) => r.epoch),
    );
    // Let the member write beyond what the others hold before it is removed. A timer-driven
    // reap needs no request: the member writes for a while (well under reapAfterMs), is
    // killed, and each survivor reaps it once it was silent and not alive for reapAfterMs.
    // The window for the checker starts with the isolation.
    if (timer) {
      await sleep(Math.min(Math.floor(f.hold / 2), Math.floor(this.reapAfterMs / 3)));
      await a.kill();
    } else await sleep(Math.floor(f.hold / 2));
    const leftAt = timer ? f.start : Date.now();
    if (!timer) {
      const r = await this.apis[by].request('POST', `/v1/members/${encodeURIComponent(peer)}/force-leave`);
      f.forceLeave = { status: r.status, body: r.body };
      if (r.outcome !== 'ok')
        this.log(`  force-leave of a${target} at a${by} answered ${r.status} ${JSON.stringify(r.body)}`);
    }
    // Wait until every survivor computed the same cuts of the new reaps of the member's epochs:
    // all of them, since a reap covers every epoch of the member the survivors know (after an
    // unclean restart, its older epoch too; seed 6 reaped a2's at 2 and its current one).
    const agreed = await waitUntil(
      async () => agreedReaps(await Promise.all(survivors.map((i) => this.reapsAt(i))), peer, doneBefore),
      'the agreed cut',
      timer ? this.reapAfterMs + TIMER_REAP_WAIT_MS : REAP_WAIT_MS,
      100,
    ).catch(() => undefined);
    const afterMs = Date.now() - leftAt;
    // The fault's reap: the epoch the member rebases from (below); until its line is seen, the
    // one it acknowledged writes beyond the cut of, else the last.
    f.reaps = agreed?.map((r) => ({ epoch: r.epoch, cut: r.cut, afterMs }));
    f.reap = f.reaps && (f.reaps.find((r) => this.beyondCut(target, r) > 0) ?? f.reaps.at(-1));
    // The epoch the member wrote under then (its last acknowledged write's): one the survivors
    // never heard of (a store loss just before) is not reaped, and needs no rebase (seed 102).
    f.writingUnder = this.history.ops.findLast((o) => o.agent === target && o.outcome === 'ok')?.origin;
    const reap = f.reap;
    if (!reap) {
      // Evidence: what each survivor shows of the member's reaps (who is still missing).
      for (const i of survivors) {
        const st = await this.apis[i].get('/v1/status');
        const rs = (st?.compaction?.reaps ?? []).filter((x) => x.epoch.split('~')[0] === peer);
        const mine = Object.entries(st ? statusClock(st) : {}).filter(([o]) => o.split('~')[0] === peer);
        const compacted = Object.entries(st?.log?.compacted ?? {}).filter(([o]) => o.split('~')[0] === peer);
        this.log(
          `  a${i} (${st?.peerId}) shows reaps of a${target}: ${JSON.stringify(rs)}; its clock of a${target}: ${JSON.stringify(mine)}, compacted: ${JSON.stringify(compacted)}, buffered ${st?.buffered}, peers ${JSON.stringify(st?.peers)}`,
        );
      }
    }
    const who = timer ? `the survivors' timers (reapAfterMs ${this.reapAfterMs})` : `a${by}`;
    this.log(
      reap
        ? `  ${who} reaped a${target}: ${f.reaps.map((r) => `${r.epoch.slice(-16)} cut at ${r.cut}`).join(', ')} after ${afterMs} ms`
        : `  ${who} reaped a${target}: no agreed cut within ${timer ? this.reapAfterMs + TIMER_REAP_WAIT_MS : REAP_WAIT_MS} ms`,
    );
    // The rest of the hold: the member keeps writing beyond the cut.
    await sleep(Math.max(0, f.hold - (Date.now() - f.start)));
    f.compactions = this.delta(before, await this.compactions());
    if (restart && !timer) await a.kill();
    cut.end = Date.now();
    f.end = cut.end;
    this.cuts.push(cut);
    this.net.healAll();
    if (restart) await a.start();
    if (!reap) return;
    // The member's own words: the rebase line (with how many batches it keeps to re-run) and,
    // when there were some, the line saying they were re-run.
    const epochs = new Set(f.reaps.map((r) => r.epoch));
    const started = () =>
      this.logLines(a, logFrom).find(
        (l) => epochs.has(l.reaped) && typeof l.rerun === 'number' && 'cut' in l,
      );
    const start = await waitUntil(started, 'the rebase', REBASE_WAIT_MS, 200).catch(() => undefined);
    if (start) f.reap = f.reaps.find((r) => r.epoch === start.reaped);
    // The window from the removal to the end of the re-run counts as a store loss of the member;
    // open-ended until the end is seen (settleRebases may close it later).
    const window = [leftAt, Infinity];
    a.storeLosses.push(window);
    if (!start) {
      this.log(`  a${target} logged no rebase within ${REBASE_WAIT_MS} ms`);
      return;
    }
    f.rerunUnfinished = { ...start, logFrom, window };
    if (await this.settleRebase(f, RERUN_WAIT_MS(start.rerun))) {
      const r = f.rebase;
      this.log(
        `  a${target} rebased onto ${r.origin.slice(-16)}: held ${r.held}, cut ${r.cut}, re-ran ${r.rerun} writes in ${r.done - r.time} ms`,
      );
    } else
      this.log(
        `  a${target} started its rebase (held ${start.held}, cut ${start.cut}, ${start.rerun} writes to re-run) but logged no end of the re-run within ${RERUN_WAIT_MS(start.rerun)} ms; looked for again before the check`,
      );
  }

  /**
   * Waits (bounded) for the end of a started re-run: the member's log line after its rebase
   * line. On a loaded machine a re-run of a hundred writes can take a minute; the fault goes on
   * meanwhile, and the run looks again before its check (settleRebases).
   */
  async settleRebase(f, timeoutMs) {
    const start = f.rerunUnfinished;
    const a = this.agents[f.targets[0]];
    const done = await waitUntil(
      () =>
        start.rerun === 0
          ? { time: start.time }
          : this.logLines(a, start.logFrom).find(
              (l) => l.time >= start.time && typeof l.rerun === 'number' && !('cut' in l),
            ),
      'the re-run',
      timeoutMs,
      200,
    ).catch(() => undefined);
    if (!done) return false;
    f.rebase = rebaseRecord(start, done);
    start.window[1] = Math.max(done.time, Date.now());
    delete f.rerunUnfinished;
    return true;
  }

  /** Before the check: waits (bounded, in all) for every re-run not seen to end yet. */
  async settleRebases(timeoutMs) {
    const deadline = Date.now() + timeoutMs;
    for (const f of this.faults.filter((x) => x.rerunUnfinished)) {
      const ok = await this.settleRebase(f, Math.max(0, deadline - Date.now()));
      this.log(
        ok
          ? `  a${f.targets[0]}'s re-run of ${f.rebase.rerun} writes ended ${f.rebase.done - f.rebase.time} ms after its rebase`
          : `  a${f.targets[0]}'s re-run still not ended`,
      );
    }
  }

  /**
   * Agreed reaps that no force-leave or reap-timer fault asked for, as records shaped like
   * those faults' (`unplanned: true`): the member's rebase and re-run from its log, and their
   * window as a store loss of the member (from the rebase line, where its state was reset).
   */
  unplannedReaps(reaps) {
    const planned = new Set(
      this.faults.flatMap((f) => (f.reaps ?? (f.reap ? [f.reap] : [])).map((r) => r.epoch)),
    );
    const out = [];
    for (const r of reaps) {
      if (r.cut === undefined || planned.has(r.epoch)) continue;
      const target = this.agents.findIndex((a) => a.peerId === r.epoch.split('~')[0]);
      if (target < 0) continue;
      const a = this.agents[target];
      const lines = this.logLines(a, 0);
      const start = lines.find((l) => l.reaped === r.epoch && typeof l.rerun === 'number' && 'cut' in l);
      const f = {
        kind: 'unplanned-reap',
        unplanned: true,
        targets: [target],
        reap: { epoch: r.epoch, cut: r.cut },
        beyond: this.beyondCut(target, r),
        end: start ? start.time : Infinity,
      };
      if (start) {
        const done =
          start.rerun === 0
            ? start
            : lines.find((l) => l.time >= start.time && typeof l.rerun === 'number' && !('cut' in l));
        const window = [start.time, done ? done.time : Infinity];
        a.storeLosses.push(window);
        if (done) f.rebase = rebaseRecord(start, done);
        else f.rerunUnfinished = { ...start, window };
      }
      out.push(f);
    }
    return out;
  }

  /** How many writes agent `target` acknowledged under `reap.epoch` beyond `reap.cut`. */
  beyondCut(target, reap) {
    return this.history.ops.filter(
      (o) => o.agent === target && o.outcome === 'ok' && o.origin === reap.epoch && o.seq > reap.cut,
    ).length;
  }

  async reapsAt(i) {
    const s = await this.apis[i].get('/v1/status');
    return s?.compaction?.reaps ?? [];
  }

  logSize(a) {
    try {
      return readFileSync(join(a.dir, 'agent.log')).length;
    } catch {
      return 0;
    }
  }

  /** The agent's JSON log lines written since byte `from`. */
  logLines(a, from) {
    let text;
    try {
      text = readFileSync(join(a.dir, 'agent.log')).subarray(from).toString('utf8');
    } catch {
      return [];
    }
    const out = [];
    for (const line of text.split('\n')) {
      if (!line.startsWith('{')) continue;
      try {
        out.push(JSON.parse(line));
      } catch {
        // a line being written
      }
    }
    return out;
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

/**
 * A fault's rebase record from the member's rebase log line (`start`) and the line that ended
 * its re-run (`done`).
 */
function rebaseRecord(start, done) {
  return {
    cut: start.cut,
    held: start.held,
    origin: start.origin,
    rerun: start.rerun,
    // Rebased from an older epoch after an unclean restart: the epoch written under since then
    // is re-run too (src/agent/rebase.ts), and never applied anywhere.
    abandoned: start.abandoned,
    time: start.time,
    done: done.time,
  };
}
