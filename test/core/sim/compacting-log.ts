/**
 * The event log of a simulated node, as the agent's store keeps it (src/store/store.ts): events
 * in delivery order (a causal order), a per-origin compacted floor, and compaction that drops
 * the longest prefix a stable frontier covers. A peer whose clock does not cover the compacted
 * floor cannot be served events: it needs a snapshot first.
 */
import {
  type ReadonlyVectorClock,
  type VectorClock,
  vcClone,
  vcGet,
  vcLeq,
} from '../../../src/core/clock/vector-clock.js';
import type { WireEvent } from '../../../src/core/codec/event-codec.js';

export class CompactingLog {
  private events: WireEvent[] = [];
  /** Per origin, the highest seq the log no longer holds (its effect is in the state). */
  private floor: VectorClock = new Map();

  append(e: WireEvent): void {
    this.events.push(e);
  }

  /** Events not covered by `vc`, in causal order (some may be compacted away: see `servable`). */
  since(vc: ReadonlyVectorClock): WireEvent[] {
    return this.events.filter((e) => e.seq > vcGet(vc, e.origin));
  }

  /** Whether a peer at `vc` can be served events alone (it covers everything dropped). */
  servable(vc: ReadonlyVectorClock): boolean {
    return vcLeq(this.floor, vc);
  }

  compacted(): VectorClock {
    return vcClone(this.floor);
  }

  /** Drops the longest prefix covered by `stable`, like the agent (src/agent/compaction.ts). */
  compact(stable: ReadonlyVectorClock): number {
    let n = 0;
    while (n < this.events.length) {
      const e = this.events[n];
      if (!e || e.seq > vcGet(stable, e.origin)) break;
      n++;
    }
    for (const e of this.events.slice(0, n))
      if (e.seq > vcGet(this.floor, e.origin)) this.floor.set(e.origin, e.seq);
    this.events = this.events.slice(n);
    return n;
  }

  /** After a snapshot install: everything the snapshot covers is compacted. */
  installed(vc: ReadonlyVectorClock): void {
    this.events = this.events.filter((e) => e.seq > vcGet(vc, e.origin));
    for (const [origin, seq] of vc) if (seq > vcGet(this.floor, origin)) this.floor.set(origin, seq);
  }

  get size(): number {
    return this.events.length;
  }
}
