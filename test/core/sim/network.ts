/**
 * A simulated cluster for the seeded deterministic simulation: N replicas, each with an
 * in-memory log, connected by a network that drops, duplicates, delays (so reorders) and
 * partitions messages; repair is anti-entropy by vector-clock exchange. Virtual time only.
 */
import { Replica, type Effect } from '../../../src/core/replica.js';
import { MemoryLog } from '../../../src/core/memory-log.js';
import type { Event } from '../../../src/core/event.js';
import type { Prng } from '../../support/prng.js';

/** Virtual time of a simulation's start (ms since the epoch). */
export const SIM_START_MS = 1_700_000_000_000;

export interface NetworkFaults {
  drop: number;
  duplicate: number;
  maxDelayMs: number;
}

export interface InFlight {
  to: number;
  event: Event;
  at: number;
}

export interface SimNode {
  readonly replica: Replica;
  readonly log: MemoryLog;
}

export class SimCluster {
  readonly nodes: SimNode[];
  nowMs = SIM_START_MS;
  private inflight: InFlight[] = [];
  /** side[i] = partition group of node i; nodes talk only within a group. */
  private side: number[];
  repairsRequested = 0;
  rejected = 0;

  constructor(
    readonly rng: Prng,
    n: number,
    public faults: NetworkFaults,
    bufferMaxEvents = 10_000,
  ) {
    this.nodes = Array.from({ length: n }, (_, i) => ({
      replica: new Replica({ id: `r${i}`, buffer: { maxEvents: bufferMaxEvents }, repairAfterMs: 50 }),
      log: new MemoryLog(),
    }));
    this.side = this.nodes.map(() => 0);
  }

  node(i: number): SimNode {
    const n = this.nodes[i];
    if (!n) throw new Error(`no node ${i}`);
    return n;
  }

  connected(a: number, b: number): boolean {
    return this.side[a] === this.side[b];
  }

  partitionRandomly(): void {
    this.side = this.nodes.map(() => this.rng.int(0, 1));
  }

  heal(): void {
    this.side = this.nodes.map(() => 0);
  }

  write(i: number, ops: unknown[]): void {
    const { effects } = this.node(i).replica.step({ kind: 'local', ops }, this.nowMs);
    this.handle(i, effects);
  }

  private handle(i: number, effects: Effect[]): void {
    for (const fx of effects) {
      switch (fx.kind) {
        case 'persist':
          this.node(i).log.append(fx.event);
          break;
        case 'broadcast':
          this.broadcast(i, fx.event);
          break;
        case 'repair':
          this.repairsRequested++;
          this.syncWithRandomPeer(i);
          break;
        case 'rejected':
          this.rejected++;
          break;
        case 'changed':
        case 'clock-drift':
          break;
      }
    }
  }

  private broadcast(from: number, event: Event): void {
    for (let to = 0; to < this.nodes.length; to++) {
      if (to === from || !this.connected(from, to) || this.rng.chance(this.faults.drop)) continue;
      const copies = this.rng.chance(this.faults.duplicate) ? 2 : 1;
      for (let c = 0; c < copies; c++) {
        this.inflight.push({ to, event, at: this.nowMs + this.rng.int(0, this.faults.maxDelayMs) });
      }
    }
  }

  /** Delivers every message that is due, in random order. */
  deliverDue(): void {
    const due = this.rng.shuffle(this.inflight.filter((m) => m.at <= this.nowMs));
    this.inflight = this.inflight.filter((m) => m.at > this.nowMs);
    for (const m of due) this.receive(m.to, m.event);
  }

  private receive(to: number, event: Event): void {
    const { effects } = this.node(to).replica.step({ kind: 'remote', event, bytes: 100 }, this.nowMs);
    this.handle(to, effects);
  }

  /** Anti-entropy: `to` sends its clock to `from`, which answers with what `to` is missing. */
  sync(to: number, from: number): void {
    if (to === from || !this.connected(to, from)) return;
    const missing = this.node(from).log.since(this.node(to).replica.clock());
    for (const e of missing) this.receive(to, e);
  }

  syncWithRandomPeer(i: number): void {
    const peers = this.nodes.map((_, j) => j).filter((j) => j !== i && this.connected(i, j));
    if (peers.length > 0) this.sync(i, this.rng.pick(peers));
  }

  tick(): void {
    for (let i = 0; i < this.nodes.length; i++) {
      const { effects } = this.node(i).replica.step({ kind: 'tick' }, this.nowMs);
      this.handle(i, effects);
    }
  }

  advance(ms: number): void {
    this.nowMs += ms;
  }

  /** Heals everything and runs anti-entropy until no node learns anything new. Returns rounds used. */
  settle(maxRounds = 50): number {
    this.heal();
    this.faults = { drop: 0, duplicate: 0, maxDelayMs: 0 };
    this.advance(10_000);
    this.deliverDue();
    for (let round = 1; round <= maxRounds; round++) {
      let learned = false;
      for (let a = 0; a < this.nodes.length; a++) {
        for (let b = 0; b < this.nodes.length; b++) {
          const before = this.node(a).log.size;
          this.sync(a, b);
          if (this.node(a).log.size !== before) learned = true;
        }
      }
      if (!learned) return round;
    }
    return maxRounds;
  }
}
