/**
 * The network half of the lifecycle simulation (lifecycle-cluster.ts adds membership changes
 * and time): nodes, partitions, writes, gossip, anti-entropy with snapshot install (refused
 * when it lacks events we hold: we push ours first, as src/agent/agent.ts `syncWith` does),
 * heartbeats that carry clocks through the simulated network (so partitions silence them),
 * and periodic compaction by the injected stability rule.
 */
import type { Logger } from 'pino';
import { Reaper } from '../../../src/agent/reaper.js';
import { type VectorClock, vcGet, vcLeq } from '../../../src/core/clock/vector-clock.js';
import { decodeEvent, type WireEvent } from '../../../src/core/codec/event-codec.js';
import { decodeSnapshot, encodeSnapshot } from '../../../src/core/codec/snapshot-codec.js';
import { REAPED } from '../../../src/core/reaping.js';
import type { Effect } from '../../../src/core/replica.js';
import { prunedSnapshot, withRetiredCuts } from '../../../src/core/retired-epochs.js';
import { PRUNED_CLOCKS_WIRE_VERSION } from '../../../src/core/wire-version.js';
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
  /**
   * Wire version each node emits at start (the mixed-version pair: 1 for an older release, this
   * build's newest for the others; the older one may be upgraded during the run).
   */
  readonly wireVersion: (i: number) => number;
  /** The peers node `i` knows of at start (its join addresses); every node by default. */
  readonly seeds?: (i: number) => readonly string[];
  /**
   * A puller whose events a snapshot still lacks after its push, some of them folded away,
   * merges the snapshot (src/core/replica/merge.ts, as the agent does with a diverged peer)
   * instead of giving up.
   */
  readonly mergeDiverged?: boolean;
}

interface Message extends InFlight {
  readonly from: number;
  readonly event: WireEvent;
}

export class LifecycleNetwork {
  readonly nodes: LifeNode[];
  nowMs = SIM_START_MS;
  protected inflight: Message[] = [];
  protected side: number[];
  /** Pairs cut from each other although on the same side (`a b`, a < b). */
  protected blocked = new Set<string>();
  /** Every event ever made, in creation order (a causal order), with its `acked` increment. */
  readonly archive: { event: WireEvent; acked: number }[] = [];
  readonly created = new Map<string, number>();
  readonly stats = {
    rejected: 0,
    /** Events of a reaped epoch refused beyond its limit or cut (expected, not a problem). */
    refusedReaped: 0,
    installed: 0,
    refused: 0,
    merged: 0,
    compactions: 0,
    dropped: 0,
    reaps: 0,
    isolations: 0,
    leaves: 0,
    deaths: 0,
    lostStores: 0,
    joins: 0,
  };
  readonly trace: string[] = [];
  /** Each node's reaper (src/agent/reaper.ts), for the replica it runs now. */
  private readonly reapers = new Map<LifeNode, { replica: unknown; reaper: Reaper }>();

  constructor(
    readonly rng: Prng,
    public opts: LifecycleOptions,
  ) {
    const peers = Array.from({ length: opts.n }, (_, i) => `n${i}`);
    this.nodes = peers.map((p, i) => new LifeNode(p, opts.wireVersion(i), opts.seeds?.(i) ?? peers));
    this.side = this.nodes.map(() => 0);
  }

  node(i: number): LifeNode {
    const n = this.nodes[i];
    if (!n) throw new Error(`no node ${i}`);
    return n;
  }

  /** Node `i`'s reaper, as the agent runs it: its writes are system writes of node `i`. */
  reaper(i: number): Reaper {
    const n = this.node(i);
    const had = this.reapers.get(n);
    if (had?.replica === n.replica) return had.reaper;
    const reaper = new Reaper({
      self: n.peer,
      replica: () => n.replica,
      write: (ops) => {
        this.write(i, [...ops], 0, true);
        return Promise.resolve();
      },
      members: () => n.view.members(n.candidates()),
      log: SILENT,
    });
    this.reapers.set(n, { replica: n.replica, reaper });
    return reaper;
  }

  /**
   * Whether clocks on the wire leave out retired epochs: once every node that may still talk
   * reads that (the agent's negotiation, src/core/wire-version.ts).
   */
  pruning(): boolean {
    return this.nodes.every(
      (n) => n.status === 'dead' || n.status === 'left' || n.wireVersion >= PRUNED_CLOCKS_WIRE_VERSION,
    );
  }

  /** The clock node `i` sends in heartbeats and sync requests. */
  sentClock(i: number): VectorClock {
    const r = this.node(i).replica;
    return this.pruning() ? r.shownClock() : r.clock();
  }

  /** An upgrade of node `i` to this build's newest wire version. */
  upgrade(i: number, version: number): void {
    this.node(i).upgrade(version);
    this.note(`n${i} upgraded to wire version ${version}`);
  }

  up(i: number): boolean {
    return this.node(i).status === 'up';
  }

  upNodes(): number[] {
    return this.nodes.map((_, i) => i).filter((i) => this.up(i));
  }

  connected(a: number, b: number): boolean {
    return (
      a !== b &&
      this.up(a) &&
      this.up(b) &&
      this.side[a] === this.side[b] &&
      !this.blocked.has(`${Math.min(a, b)} ${Math.max(a, b)}`)
    );
  }

  protected note(s: string): void {
    this.trace.push(`t=${this.nowMs - SIM_START_MS} ${s}`);
  }

  // ---- partitions -----------------------------------------------------------------------

  /** A random split into two sides, leaving isolated nodes where they are. */
  splitRandomly(): void {
    this.side = this.side.map((s) => (s >= 2 ? s : this.rng.int(0, 1)));
  }

  /** Puts node `i` on side `sides[i]` (0 or 1): two groups that cannot reach each other. */
  setSides(sides: readonly number[]): void {
    this.side = this.side.map((s, i) => sides[i] ?? s);
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
    this.blocked.clear();
  }

  /** Cuts the link between `a` and `b` alone (until healAll). */
  block(a: number, b: number): void {
    this.blocked.add(`${Math.min(a, b)} ${Math.max(a, b)}`);
    this.note(`cut n${a}-n${b}`);
  }

  unblock(a: number, b: number): void {
    this.blocked.delete(`${Math.min(a, b)} ${Math.max(a, b)}`);
    this.note(`link n${a}-n${b} back`);
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

  protected receive(i: number, event: WireEvent): void {
    const { effects } = this.node(i).replica.step({ kind: 'remote', event, bytes: 100 }, this.nowMs);
    this.handle(i, effects);
  }

  private handle(i: number, effects: readonly Effect[]): void {
    for (const fx of effects) {
      // The persisted event is the received one, with the wire version it was made in.
      if (fx.kind === 'persist') this.node(i).log.append(fx.event);
      else if (fx.kind === 'rejected' && fx.code === REAPED) this.stats.refusedReaped++;
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
    // The request's clock, as the server reads it (retired epochs the puller pruned at their cut).
    const seen = b.replica.expandClock(this.sentClock(to));
    // The server learns of the puller and of the clock it holds (src/agent/agent.ts).
    b.view.pulled(a.peer, seen, b.replica.clock(), this.nowMs);
    if (!b.log.servable(seen)) {
      const whole = b.replica.snapshot();
      const served = this.pruning() ? prunedSnapshot({ ...whole, heads: [] }, b.replica.shownClock()) : whole;
      const snap = decodeSnapshot(encodeSnapshot(served));
      const snapVc = withRetiredCuts(snap.vc, snap.retired ?? new Map());
      if (this.pastOurCut(a, snapVc)) {
        this.stats.refused++;
        return;
      }
      if (!vcLeq(a.replica.clock(), snapVc) && !retry && this.mayMerge(a, snapVc)) {
        a.replica.merge(snap);
        a.log.installed(a.replica.clock());
        this.stats.merged++;
        this.note(`n${to} merged n${from}'s snapshot`);
      } else if (!vcLeq(a.replica.clock(), snapVc)) {
        this.stats.refused++;
        if (!retry) return;
        for (const e of a.log.since(b.replica.clock())) this.receive(from, e);
        this.pull(to, from, false);
        return;
      }
      if (!vcLeq(snapVc, a.replica.clock())) {
        a.replica.install(snap);
        a.log.installed(snapVc);
        this.stats.installed++;
      }
    }
    const upTo = b.replica.clock();
    const have = b.replica.expandClock(this.sentClock(to));
    for (const e of b.log.since(have)) if (e.seq <= vcGet(upTo, e.origin)) this.receive(to, e);
  }

  /** With `mergeDiverged`: some events `a` holds beyond `snapVc` are no longer in its log. */
  /**
   * A snapshot that holds an epoch beyond a cut the puller's state agreed is refused, as the
   * agent does (snapshot-exchange.ts `refusePastCut`): its effects apply nowhere. Without this
   * the simulation let a member take the state of a member whose epoch it had reaped with
   * others, past the cut (seed 9336 of three sides and a mover: n4 installed n1's state, n1~e0
   * up to 35 over its own cut at 20, and later rebased from n1~e0 for a state that never came).
   */
  private pastOurCut(a: LifeNode, snapVc: VectorClock): boolean {
    for (const [origin, seq] of snapVc) {
      const cut = a.replica.reapOf(origin)?.cut;
      if (cut !== undefined && seq > cut) return true;
    }
    return false;
  }

  private mayMerge(a: LifeNode, snapVc: VectorClock): boolean {
    if (this.opts.mergeDiverged !== true) return false;
    let lacking = 0;
    for (const [origin, seq] of a.replica.clock()) lacking += Math.max(0, seq - vcGet(snapVc, origin));
    return a.log.since(snapVc).length < lacking;
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
        const theirs = this.node(j).replica;
        if (!vcLeq(theirs.expandClock(this.sentClock(i)), theirs.clock()) && this.rng.chance(0.3))
          this.pull(j, i);
      }
      this.handle(i, n.replica.step({ kind: 'tick' }, this.nowMs).effects);
      n.heartbeats++;
      if ((n.heartbeats + i) % this.opts.compactEvery === 0) this.compact(i);
    }
  }

  protected heartbeat(from: number, to: number, leaving: boolean): void {
    const sender = this.node(from);
    const receiver = this.node(to);
    receiver.lastHeard.set(sender.peer, this.nowMs);
    const local = receiver.replica.clock();
    const members = sender.view.firstHandMembers(sender.candidates(), this.nowMs);
    const vc = receiver.replica.expandClock(this.sentClock(from));
    receiver.view.heartbeat(sender.peer, vc, leaving, local, this.nowMs, members);
  }

  /** Node `i`'s stable clock now, by the injected rule. */
  stableAt(i: number): VectorClock {
    const n = this.node(i);
    return this.opts.rule({
      view: n.view,
      localVc: n.replica.clock(),
      candidates: n.candidates(),
      lastHeard: n.lastHeard,
      now: this.nowMs,
      heartbeatMs: this.opts.heartbeatMs,
    });
  }

  /** Compacts node `i` to its stable clock, which it returns. */
  compact(i: number): VectorClock {
    const n = this.node(i);
    const stable = this.stableAt(i);
    n.replica.compact(stable);
    this.stats.dropped += n.log.compact(stable);
    this.stats.compactions++;
    return stable;
  }
}

const SILENT = { info: () => undefined, warn: () => undefined } as unknown as Logger;
