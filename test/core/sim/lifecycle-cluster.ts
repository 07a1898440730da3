/**
 * A simulated cluster with the whole life of an agent's data (issue 7): each node has a Replica,
 * a compacting log it serves anti-entropy from, a stability view fed by heartbeats (clocks sent
 * through the simulated network, so partitions silence them), periodic compaction, snapshot
 * install (refused when it lacks events we hold: we push ours first, as src/agent/agent.ts
 * `syncWith` does), and membership changes: graceful leave, death, reaping, return after a long
 * absence, restart with a lost store (a new epoch origin), and a mixed-version pair. Virtual
 * time and a seeded PRNG only.
 */
import { type VectorClock, vcGet, vcLeq } from '../../../src/core/clock/vector-clock.js';
import { decodeEvent, type WireEvent } from '../../../src/core/codec/event-codec.js';
import { decodeSnapshot, encodeSnapshot } from '../../../src/core/codec/snapshot-codec.js';
import type { Effect } from '../../../src/core/replica.js';
import type { Prng } from '../../support/prng.js';
import { LifeNode } from './life-node.js';
import { type InFlight, type NetworkFaults, SIM_START_MS } from './network.js';
import type { StabilityRule } from './stability-rules.js';

export interface LifecycleOptions {
  readonly n: number;
  readonly rule: StabilityRule;
  readonly faults: NetworkFaults;
  readonly heartbeatMs: number;
  /** A node compacts every this many of its heartbeats. */
  readonly compactEvery: number;
  /** A stopped member is reaped this long after it stopped. */
  readonly reapAfterMs: number;
  /** How a stopped member is reaped: by an agreed cut, or by each node alone as the agent does. */
  readonly reap: 'agreed-cut' | 'local';
  /** Wire version each node emits (the mixed-version pair: 1 for an older release, 2 for newer). */
  readonly wireVersion: (i: number) => number;
}

interface Message extends InFlight {
  readonly from: number;
  readonly event: WireEvent;
}

export class LifecycleCluster {
  readonly nodes: LifeNode[];
  nowMs = SIM_START_MS;
  private inflight: Message[] = [];
  private side: number[];
  /** Every event ever made, in creation order (a causal order), with its `acked` increment. */
  readonly archive: { event: WireEvent; acked: number }[] = [];
  readonly created = new Map<string, number>();
  /** Per origin no longer written (stopped or lost): the least seq the survivors must end with. */
  readonly mustHave = new Map<string, number>();
  readonly stats = {
    rejected: 0,
    installed: 0,
    refused: 0,
    compactions: 0,
    dropped: 0,
    reaps: 0,
    isolations: 0,
    leaves: 0,
    deaths: 0,
    lostStores: 0,
  };
  readonly trace: string[] = [];

  constructor(
    readonly rng: Prng,
    public opts: LifecycleOptions,
  ) {
    const peers = Array.from({ length: opts.n }, (_, i) => `n${i}`);
    this.nodes = peers.map((p, i) => new LifeNode(p, opts.wireVersion(i), peers));
    this.side = this.nodes.map(() => 0);
  }

  node(i: number): LifeNode {
    const n = this.nodes[i];
    if (!n) throw new Error(`no node ${i}`);
    return n;
  }

  up(i: number): boolean {
    return this.node(i).status === 'up';
  }

  upNodes(): number[] {
    return this.nodes.map((_, i) => i).filter((i) => this.up(i));
  }

  connected(a: number, b: number): boolean {
    return a !== b && this.up(a) && this.up(b) && this.side[a] === this.side[b];
  }

  private note(s: string): void {
    this.trace.push(`t=${this.nowMs - SIM_START_MS} ${s}`);
  }

  // ---- partitions -----------------------------------------------------------------------

  /** A random split into two sides, leaving isolated nodes where they are. */
  splitRandomly(): void {
    this.side = this.side.map((s) => (s >= 2 ? s : this.rng.int(0, 1)));
  }

  /** Heals the random split (isolated nodes stay isolated). */
  healSplit(): void {
    this.side = this.side.map((s) => (s >= 2 ? s : 0));
  }

  isolate(i: number): void {
    this.side[i] = 2 + i;
    this.stats.isolations++;
    this.note(`isolate n${i}`);
  }

  rejoin(i: number): void {
    this.side[i] = 0;
    this.note(`rejoin n${i}`);
  }

  isolated(i: number): boolean {
    return (this.side[i] ?? 0) >= 2;
  }

  healAll(): void {
    this.side = this.side.map(() => 0);
  }

  // ---- writes and delivery ----------------------------------------------------------------

  /**
   * A local write at `i`, gossiped to the nodes it reaches; with `onlyTo`, delivered to that
   * node alone at once (the other copies lost), so only it can relay the event afterwards.
   */
  write(i: number, ops: unknown[], acked: number, system = false, onlyTo?: number): void {
    const n = this.node(i);
    const { encoded } = n.replica.step({ kind: 'local', ops, system }, this.nowMs);
    if (!encoded) throw new Error('a local write made no event');
    // What peers receive: the signed bytes decoded, so it carries the wire version it was made in.
    const event = decodeEvent(encoded);
    n.log.append(event);
    this.archive.push({ event, acked });
    this.created.set(event.origin, event.seq);
    if (onlyTo === undefined) this.gossip(i, event);
    else if (this.connected(i, onlyTo)) this.receive(onlyTo, event);
  }

  private gossip(from: number, event: WireEvent): void {
    for (let to = 0; to < this.nodes.length; to++) {
      if (!this.connected(from, to) || this.rng.chance(this.opts.faults.drop)) continue;
      const copies = this.rng.chance(this.opts.faults.duplicate) ? 2 : 1;
      const at = this.nowMs + this.rng.int(0, this.opts.faults.maxDelayMs);
      for (let c = 0; c < copies; c++) this.inflight.push({ to, from, event, at });
    }
  }

  deliverDue(): void {
    const due = this.rng.shuffle(this.inflight.filter((m) => m.at <= this.nowMs));
    this.inflight = this.inflight.filter((m) => m.at > this.nowMs);
    for (const m of due) if (this.up(m.to)) this.receive(m.to, m.event);
  }

  private receive(i: number, event: WireEvent): void {
    const { effects } = this.node(i).replica.step({ kind: 'remote', event, bytes: 100 }, this.nowMs);
    this.handle(i, effects);
  }

  private handle(i: number, effects: readonly Effect[]): void {
    for (const fx of effects) {
      // The persisted event is the received one, with the wire version it was made in.
      if (fx.kind === 'persist') this.node(i).log.append(fx.event);
      else if (fx.kind === 'rejected') {
        this.stats.rejected++;
        this.note(`n${i} rejected ${fx.origin}:${fx.seq} ${fx.code} ${fx.message}`);
      } else if (fx.kind === 'repair') this.pullFromRandomPeer(i);
    }
  }

  // ---- anti-entropy -----------------------------------------------------------------------

  /**
   * `to` pulls from `from`. Behind `from`'s compacted log, it gets a snapshot first; if the
   * snapshot lacks events `to` holds, `to` pushes those and pulls again, once (agent.ts).
   */
  pull(to: number, from: number, retry = true): void {
    if (!this.connected(to, from)) return;
    const a = this.node(to);
    const b = this.node(from);
    if (!b.log.servable(a.replica.clock())) {
      const snap = decodeSnapshot(encodeSnapshot(b.replica.snapshot()));
      if (!vcLeq(a.replica.clock(), snap.vc)) {
        this.stats.refused++;
        if (!retry) return;
        for (const e of a.log.since(b.replica.clock())) this.receive(from, e);
        this.pull(to, from, false);
        return;
      }
      if (!vcLeq(snap.vc, a.replica.clock())) {
        a.replica.install(snap);
        a.log.installed(snap.vc);
        this.stats.installed++;
      }
    }
    const upTo = b.replica.clock();
    for (const e of b.log.since(a.replica.clock())) if (e.seq <= vcGet(upTo, e.origin)) this.receive(to, e);
  }

  pullFromRandomPeer(i: number): void {
    const peers = this.nodes.map((_, j) => j).filter((j) => this.connected(i, j));
    if (peers.length > 0) this.pull(i, this.rng.pick(peers));
  }

  // ---- heartbeats, stability, compaction ----------------------------------------------------

  /** Every up node sends its clock to every node it reaches; then ticks, and now and then compacts. */
  heartbeatRound(): void {
    for (const i of this.upNodes()) {
      const n = this.node(i);
      for (const j of this.upNodes()) {
        if (!this.connected(i, j) || this.rng.chance(this.opts.faults.drop)) continue;
        this.heartbeat(i, j, false);
        // A heartbeat that shows events we lack starts a pull (docs/agent.md).
        if (!vcLeq(n.replica.clock(), this.node(j).replica.clock()) && this.rng.chance(0.3)) this.pull(j, i);
      }
      this.handle(i, n.replica.step({ kind: 'tick' }, this.nowMs).effects);
      n.heartbeats++;
      if ((n.heartbeats + i) % this.opts.compactEvery === 0) this.compact(i);
    }
  }

  private heartbeat(from: number, to: number, leaving: boolean): void {
    const sender = this.node(from);
    const receiver = this.node(to);
    receiver.lastHeard.set(sender.peer, this.nowMs);
    const local = receiver.replica.clock();
    receiver.view.heartbeat(sender.peer, sender.replica.clock(), leaving, local, this.nowMs);
  }

  compact(i: number): void {
    const n = this.node(i);
    const stable = this.opts.rule({
      view: n.view,
      localVc: n.replica.clock(),
      candidates: n.candidates(),
      lastHeard: n.lastHeard,
      now: this.nowMs,
      heartbeatMs: this.opts.heartbeatMs,
    });
    n.replica.compact(stable);
    this.stats.dropped += n.log.compact(stable);
    this.stats.compactions++;
  }

  // ---- membership changes --------------------------------------------------------------------

  /** Origins that stop being written: the survivors must keep at least what they hold now. */
  private stopWriting(origin: string, except: number): void {
    let held = 0;
    for (const j of this.upNodes())
      if (j !== except) held = Math.max(held, vcGet(this.node(j).replica.clock(), origin));
    this.mustHave.set(origin, held);
    // A node that stops takes what only it held with it: lower every other promise to what is left.
    for (const [o, seq] of this.mustHave) {
      let max = 0;
      for (const j of this.upNodes())
        if (j !== except) max = Math.max(max, vcGet(this.node(j).replica.clock(), o));
      this.mustHave.set(o, Math.min(seq, max));
    }
  }

  /**
   * Graceful leave: the peers it reaches get its leaving heartbeat and retire it; with `handOver`
   * they first pull its events (the agent does not: it sends the leaving heartbeat after its
   * membership leave, and its events travel by gossip and anti-entropy). Peers it does not reach
   * keep it as a member until they reap it.
   */
  leave(i: number, handOver: boolean): void {
    const peers = this.upNodes().filter((j) => this.connected(i, j));
    if (handOver) for (const j of peers) this.pull(j, i);
    for (const j of peers) this.heartbeat(i, j, true);
    this.stopWriting(this.node(i).origin, i);
    this.node(i).status = 'left';
    this.node(i).at = this.nowMs;
    this.stats.leaves++;
    this.note(`n${i} leaves (told ${peers.map((j) => `n${j}`).join(',')})`);
  }

  /** Death: the node stops forever; messages it already sent are still delivered. */
  die(i: number): void {
    this.stopWriting(this.node(i).origin, i);
    this.node(i).status = 'dead';
    this.node(i).at = this.nowMs;
    this.stats.deaths++;
    this.note(`n${i} dies`);
  }

  /**
   * Crash with a lost store. Its unsent messages are lost with it (the sim drops what it still
   * has in flight). It comes back at `back` with an empty store under a new epoch.
   */
  loseStore(i: number, back: number): void {
    const n = this.node(i);
    this.stopWriting(n.origin, i);
    this.inflight = this.inflight.filter((m) => m.from !== i);
    n.status = 'down';
    n.at = back;
    this.stats.lostStores++;
    this.note(`n${i} crashes and loses its store (epoch ${n.origin})`);
  }

  /** Brings back crashed nodes that are due. */
  restartDue(): void {
    for (const n of this.nodes) {
      if (n.status !== 'down' || n.at > this.nowMs) continue;
      n.epoch++;
      n.fresh();
      n.status = 'up';
      this.note(`${n.peer} restarts as ${n.origin}`);
      this.announce(this.nodes.indexOf(n));
    }
  }

  /**
   * A starting agent writes its member record before it has synced anything (after a lost
   * store: an event concurrent with everything, which makes the first snapshot it is offered
   * lack an event it holds, so it pushes first).
   */
  announce(i: number): void {
    const n = this.node(i);
    const value = { id: n.peer, incarnation: n.epoch };
    this.write(i, [{ type: 'aw-set', key: '_sys/members', op: { kind: 'add', value } }], 0, true);
  }

  /**
   * Reaping, modelled as an agreed cut: once a stopped member was silent for reapAfterMs and
   * every survivor reaches every other, each survivor that still counts it first fetches its
   * events up to the highest seq any survivor holds, then retires it. (The agent reaps by a
   * local timer, src/agent/compaction.ts `reapSilent`, with no such agreement: `reap: 'local'`.)
   * `force`: every stopped member now, as an operator's force-leave on every node.
   */
  reapDue(force = false): void {
    if (this.opts.reap === 'local') {
      this.reapLocally(force);
      return;
    }
    const ups = this.upNodes();
    const allConnected = ups.every((a) => ups.every((b) => a === b || this.connected(a, b)));
    if (!allConnected) return;
    for (const [d, dead] of this.nodes.entries()) {
      if (dead.status !== 'dead' && dead.status !== 'left') continue;
      if (!force && this.nowMs - dead.at < this.opts.reapAfterMs) continue;
      const behind = ups.filter((s) => !this.node(s).view.isRetired(dead.peer));
      if (behind.length === 0) continue;
      const seqOf = (s: number) => vcGet(this.node(s).replica.clock(), dead.origin);
      for (const s of behind) for (const h of ups) if (seqOf(h) > seqOf(s)) this.pull(s, h);
      for (const s of behind) this.node(s).view.retire(dead.peer, 'reaped', this.nowMs);
      this.stats.reaps++;
      this.note(`n${d} reaped by ${behind.map((s) => `n${s}`).join(',')}`);
    }
  }

  /** Each node retires the members it has not heard from for reapAfterMs, fetching nothing. */
  private reapLocally(force: boolean): void {
    for (const s of this.upNodes()) {
      const n = this.node(s);
      for (const p of n.view.members(n.candidates())) {
        n.view.noticed(p, this.nowMs);
        const status = this.nodes.find((x) => x.peer === p)?.status;
        const stopped = status === 'dead' || status === 'left';
        if (!(force && stopped) && (n.view.silentFor(p, this.nowMs) ?? 0) < this.opts.reapAfterMs) continue;
        n.view.retire(p, 'reaped', this.nowMs);
        this.stats.reaps++;
        this.note(`${p} reaped by n${s} alone`);
      }
    }
  }

  // ---- time and quiescence -------------------------------------------------------------------

  private nextHeartbeat = this.nowMs;

  advance(ms: number): void {
    const until = this.nowMs + ms;
    while (this.nextHeartbeat <= until) {
      this.nowMs = this.nextHeartbeat;
      this.restartDue();
      this.deliverDue();
      this.heartbeatRound();
      this.reapDue();
      this.nextHeartbeat += this.opts.heartbeatMs;
    }
    this.nowMs = until;
  }

  /** Heals everything, reaps the stopped, and runs until the up nodes agree for a few rounds. */
  settle(maxRounds = 60): number {
    this.healAll();
    this.opts = { ...this.opts, faults: { drop: 0, duplicate: 0, maxDelayMs: 0 } };
    for (const n of this.nodes) if (n.status === 'down') n.at = this.nowMs;
    let quiet = 0;
    for (let round = 1; round <= maxRounds; round++) {
      this.advance(this.opts.heartbeatMs);
      this.reapDue(round > 1);
      const ups = this.upNodes();
      for (const a of ups) for (const b of ups) this.pull(a, b);
      quiet = this.agreed() ? quiet + 1 : 0;
      if (quiet >= 3 * this.opts.compactEvery) return round;
    }
    return maxRounds;
  }

  private agreed(): boolean {
    const ups = this.upNodes();
    const first = this.node(ups[0] ?? 0).replica.clock();
    return (
      this.inflight.length === 0 &&
      ups.every((i) => {
        const r = this.node(i).replica;
        return r.stats().buffered === 0 && vcLeq(r.clock(), first) && vcLeq(first, r.clock());
      })
    );
  }

  /** The clock every up node should end with, were nothing lost. */
  createdClock(): VectorClock {
    return new Map(this.created);
  }
}
