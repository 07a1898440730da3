/**
 * The cluster of the mutual-reap simulation (mutual-reap-scenario.ts): the lifecycle cluster with
 * sides that split and move, each event's clock at its making (a rebase from another member's
 * epoch reads it), the hand-over before such a rebase, and the agent's `own_ops` pruning
 * (src/agent/compaction.ts): a rebase re-runs only the client batches its node still keeps.
 */
import { vcGet, type VectorClock } from '../../../src/core/clock/vector-clock.js';
import { mayLoseMutualReap } from '../../../src/core/mutual-reap.js';
import { peerOfOrigin } from '../../../src/core/origin.js';
import { LifecycleCluster } from './lifecycle-cluster.js';

/**
 * When a node keeps its client batches beyond what its members hold: `reaped`, as the agent
 * (compaction.ts `mayLoseMutualReap`), while it holds any member reaped (not left); `sides`, a
 * rule of before (the mutation), while the members it holds reaped would win against the side
 * of the reaps retiring them (mutual-reap.ts `mayLoseMutualReap`).
 */
export type OwnOpsRule = 'reaped' | 'sides';

export class MutualCluster extends LifecycleCluster {
  ownOps: OwnOpsRule = 'reaped';

  /** Splits the nodes into sides (`sides[i]`: node i's side). */
  splitInto(sides: readonly number[]): void {
    this.side = [...sides];
    this.note(`split ${this.sides()}`);
  }

  /** Moves node `i` to side `to` (the other nodes stay where they are). */
  move(i: number, to: number): void {
    this.side[i] = to;
    this.note(`n${i} moves to side ${to}: ${this.sides()}`);
  }

  sides(): string {
    const groups = new Map<number, string[]>();
    for (const [i, s] of this.side.entries())
      if (this.node(i).status === 'up') groups.set(s, [...(groups.get(s) ?? []), `n${i}`]);
    return [...groups.entries()]
      .sort(([a], [b]) => a - b)
      .map(([, g]) => g.join(','))
      .join(' | ');
  }

  sideOf(i: number): number {
    return this.side[i] ?? 0;
  }

  say(s: string): void {
    this.note(s);
  }

  /** The clock each event was made at, per origin by seq (what a foreign rebase reads). */
  private readonly madeAt = new Map<string, (VectorClock | undefined)[]>();

  override write(i: number, ops: unknown[], acked: number, system = false, onlyTo?: number): void {
    super.write(i, ops, acked, system, onlyTo);
    const { event } = this.archive.at(-1)!;
    const made = this.madeAt.get(event.origin) ?? [];
    made[event.seq] = this.node(i).replica.clock();
    this.madeAt.set(event.origin, made);
  }

  /**
   * The seq of node `i`'s first event (of its current epoch) made while it held an epoch of
   * `cuts` beyond its cut (every later one depends on it), or undefined when none was. When its
   * compacted log holds such an epoch beyond the cut (a joiner that took a losing side's state),
   * 1, as the agent (rebase-ops.ts `firstOwnBeyond`; the agent also carries older epochs of its own across a rebase, which the simulation does not make: it has no unclean restarts): the order there is lost, nothing is handed over.
   */
  firstBeyond(i: number, cuts: ReadonlyMap<string, number>): number | undefined {
    const n = this.node(i);
    const compacted = n.log.compacted();
    if ([...cuts].some(([e, cut]) => vcGet(compacted, e) > cut)) return 1;
    const made = this.madeAt.get(n.origin) ?? [];
    for (const [seq, vc] of made.entries())
      if (vc && [...cuts].some(([e, cut]) => vcGet(vc, e) > cut)) return seq;
    return undefined;
  }

  /**
   * Per origin, the seq up to which its node dropped its client batches (`own_ops`): each
   * compaction drops those every member it waits for holds, unless the node keeps them by the
   * `ownOps` rule. A rebase re-runs only the batches still kept.
   */
  readonly pruned = new Map<string, number>();

  override compact(i: number): VectorClock {
    const stable = super.compact(i);
    const n = this.node(i);
    const reaped = Object.entries(n.view.retirements())
      .filter(([, r]) => r.reason !== 'left')
      .map(([peer]) => peer);
    const waited = () => [n.peer, ...n.view.stabilityMembers(n.candidates(), this.nowMs)];
    if (this.ownOps === 'reaped' ? reaped.length > 0 : mayLoseMutualReap(reaped, n.replica.reaps(), waited))
      return stable;
    for (const origin of n.replica.clock().keys())
      if (peerOfOrigin(origin) === n.peer)
        this.pruned.set(origin, Math.max(this.pruned.get(origin) ?? 0, vcGet(stable, origin)));
    return stable;
  }

  /** Node `i` pushes its current epoch's events up to `upTo` to `to` (rebase.ts hands them over). */
  handOver(i: number, upTo: number, to: readonly number[]): void {
    const n = this.node(i);
    for (const j of to)
      if (j !== i && this.connected(i, j))
        for (const e of n.log.since(this.node(j).replica.clock()))
          if (e.origin === n.origin && e.seq <= upTo) this.receive(j, e);
  }
}
