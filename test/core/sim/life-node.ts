/**
 * One node of the lifecycle simulation (lifecycle-cluster.ts): a Replica under its current
 * epoch origin, the log it serves, its stability view (src/agent/stability-view.ts, the
 * agent's own bookkeeping) and when it last heard from each peer.
 */
import { peerOfOrigin, originOf } from '../../../src/core/origin.js';
import { Replica } from '../../../src/core/replica.js';
import { StabilityView } from '../../../src/agent/stability-view.js';
import { CompactingLog } from './compacting-log.js';

export type NodeStatus = 'up' | 'down' | 'dead' | 'left';

export class LifeNode {
  epoch = 0;
  origin = '';
  replica!: Replica;
  log!: CompactingLog;
  view!: StabilityView;
  lastHeard = new Map<string, number>();
  status: NodeStatus = 'up';
  /** When it stopped (dead, left) or when it comes back (down). */
  at = 0;
  heartbeats = 0;

  constructor(
    readonly peer: string,
    /** The wire version it emits (an upgrade raises it: `LifecycleNetwork.upgrade`). */
    public wireVersion: number,
    private readonly seedMembers: readonly string[],
  ) {
    this.fresh();
  }

  /** A new or lost store: empty state and a fresh epoch, so (origin, seq) is never reused. */
  fresh(): void {
    this.origin = originOf(this.peer, `e${this.epoch}`);
    this.replica = new Replica({ id: this.origin, wireVersion: this.wireVersion, repairAfterMs: 50 });
    this.log = new CompactingLog();
    // Retirements and last-seen times live in the store: a lost store loses them too.
    this.view = new StabilityView({
      self: this.peer,
      load: () => ({ retired: {}, lastSeen: {} }),
      persist: () => undefined,
    });
    this.lastHeard = new Map();
  }

  /** An upgrade to this build: from now on it emits `version`. */
  upgrade(version: number): void {
    this.wireVersion = version;
    this.replica.setWireVersion(version);
  }

  /** Every peer id that shows a member: the seed list, clock origins, heartbeat senders. */
  candidates(): Set<string> {
    const out = new Set(this.seedMembers);
    for (const origin of this.replica.clock().keys()) out.add(peerOfOrigin(origin));
    for (const p of this.lastHeard.keys()) out.add(p);
    return out;
  }
}
