/**
 * The replica: the single owner of one agent's CRDT state (paper §V-A: the CmRDT Handlers
 * and the causal half of the Asynchronous Communicator). It follows the raft/foca pattern
 * (DESIGN.md "Architecture"): `step(input, nowMs)` changes state and returns effects, and
 * the agent carries the effects out in order — persist, then broadcast, then acknowledge.
 * Nothing here does I/O, reads a clock or draws randomness.
 *
 * This class is the facade; the work is done in replica/: local writes (local-write.ts),
 * remote events through the causal buffer (delivery.ts), the tick's eviction and gap repair
 * (gap-repair.ts), and snapshots and log replay (snapshot-install.ts), all on one mutable
 * state (state.ts) that only this class holds.
 */
import type { Gap } from './causal/causal-buffer.js';
import type { Hlc } from './clock/hlc.js';
import {
  type ReadonlyVectorClock,
  type ReplicaId,
  type VectorClock,
  vcClone,
  vcGet,
} from './clock/vector-clock.js';
import {
  isSupportedEventVersion,
  MAX_EVENT_WIRE_VERSION,
  MIN_EVENT_WIRE_VERSION,
} from './codec/event-codec.js';
import type { TypeName } from './crdt/crdt.js';
import { ErrorCode, fail } from './errors.js';
import type { Event } from './event.js';
import { mergeSnapshot } from './replica/merge.js';
import type { KeyspaceRows } from './codec/snapshot-codec.js';
import type { Json } from './json.js';
import { compactKeyspace, KeyspaceBuilder, listObjects, type ObjectView, readObject } from './keyspace.js';
import type { Limits } from './limits.js';
import type { ReapState } from './reaping.js';
import type { ReplicaConfig } from './replica/config.js';
import { receiveRemote } from './replica/delivery.js';
import { repairTick } from './replica/gap-repair.js';
import { writeLocal } from './replica/local-write.js';
import {
  install,
  installKeeping,
  type ReplicaSnapshot,
  restore,
  snapshotOf,
  snapshotRowsOf,
} from './replica/snapshot-install.js';
import { createReplicaState, type ReplicaState } from './replica/state.js';
import type { ReplicaInput, StepResult } from './replica/step.js';

export { DEFAULT_REPLICA, type ReplicaConfig } from './replica/config.js';
export type { ReplicaSnapshot } from './replica/snapshot-install.js';
export type {
  Effect,
  LocalInput,
  RemoteInput,
  ReplicaInput,
  StepResult,
  TickInput,
  TouchedObject,
} from './replica/step.js';

export interface ReplicaStats {
  readonly buffered: number;
  readonly bufferedBytes: number;
  readonly objects: number;
  readonly rejected: number;
  /** Ops of remote events skipped because their writer does not own the record (ownership.ts). */
  readonly notOwner: number;
  /** Remote events of a reaped epoch refused beyond its limit or cut (reaping.ts). */
  readonly reaped: number;
  readonly duplicates: number;
  readonly clockDrift: number;
  /** Buffered events evicted: past maxBufferAgeMs, or the oldest to make room when full. */
  readonly evicted: number;
  /** Events refused for being more than maxSeqAhead ahead of what we delivered. */
  readonly farAhead: number;
}

export class Replica {
  readonly id: ReplicaId;
  readonly limits: Limits;
  private readonly s: ReplicaState;

  constructor(config: ReplicaConfig) {
    this.s = createReplicaState(config);
    this.id = this.s.id;
    this.limits = this.s.limits;
    if (config.wireVersion !== undefined) this.setWireVersion(config.wireVersion);
  }

  /** Sets the wire version of the events this replica makes from now on (event-codec.ts). */
  setWireVersion(version: number): void {
    if (!isSupportedEventVersion(version)) {
      fail(
        ErrorCode.UnsupportedVersion,
        `This build writes event wire versions ${MIN_EVENT_WIRE_VERSION} to ${MAX_EVENT_WIRE_VERSION}, not ${String(version)}.`,
      );
    }
    this.s.wireVersion = version;
  }

  /** The wire version of the events this replica makes. */
  get eventWireVersion(): number {
    return this.s.wireVersion;
  }

  /** Restores a replica from its snapshot (after a restart, or a snapshot from a peer). */
  static fromSnapshot(config: ReplicaConfig, snap: ReplicaSnapshot): Replica {
    const r = new Replica(config);
    r.install(snap);
    return r;
  }

  step(input: ReplicaInput, nowMs: number): StepResult {
    switch (input.kind) {
      case 'local':
        return writeLocal(this.s, input, nowMs);
      case 'remote':
        return { effects: receiveRemote(this.s, input, nowMs) };
      case 'tick':
        return { effects: repairTick(this.s, nowMs) };
    }
  }

  // ---- reads and state ----------------------------------------------------------------

  read(type: TypeName, key: string): ObjectView | undefined {
    return readObject(this.s.keyspace, type, key);
  }

  list(prefix = ''): ObjectView[] {
    return listObjects(this.s.keyspace, prefix);
  }

  /** The delivered clock: every event it covers has been applied here. */
  clock(): VectorClock {
    return vcClone(this.s.vc);
  }

  /**
   * The clock this replica shows and sends (status, heartbeats, sync requests): the delivered
   * clock without the retired epochs it holds exactly up to their cut (retired-epochs.ts).
   */
  shownClock(): VectorClock {
    return this.s.retired.prune(this.s.vc);
  }

  /**
   * `vc` (this replica's clock, or one it handed out) in the form the API shows: without the
   * retired epochs it provably holds at their cut, so that `expandClock` restores it exactly
   * when a client sends it back (a watch cursor; retired-epochs.ts).
   */
  pruneClock(vc: ReadonlyVectorClock): VectorClock {
    return this.s.retired.pruneRecoverable(vc);
  }

  /** Retired epochs (reaped, cut agreed) -> their cuts, whether or not they are pruned here. */
  retiredCuts(): VectorClock {
    return this.s.retired.cuts();
  }

  /**
   * A peer's clock (a heartbeat's, a sync request's) with the retired epochs it pruned counted
   * at their cut, where it proves it holds them (retired-epochs.ts); others read as zero.
   */
  expandClock(vc: ReadonlyVectorClock): VectorClock {
    return this.s.retired.expand(vc);
  }

  hybridClock(): Hlc {
    return this.s.hlc;
  }

  gaps(): Gap[] {
    return this.s.buffer.gaps(this.s.vc);
  }

  /** Every epoch with a reap marker, and where its reap stands (reaping.ts). */
  reaps(): ReapState[] {
    return [...this.s.reapStates.values()];
  }

  /** The reap state of `epoch`, if a marker for it is in the state. */
  reapOf(epoch: ReplicaId): ReapState | undefined {
    return this.s.reapStates.get(epoch);
  }

  /**
   * Retired epochs this replica holds beyond their cut: it delivered (or, for its own epoch,
   * made) events no other replica will apply. It must rebase (src/agent/rebase.ts).
   */
  pastCut(): { epoch: ReplicaId; cut: number; held: number }[] {
    const out: { epoch: ReplicaId; cut: number; held: number }[] = [];
    for (const r of this.s.reapStates.values()) {
      const held = vcGet(this.s.vc, r.epoch);
      if (r.cut !== undefined && held > r.cut) out.push({ epoch: r.epoch, cut: r.cut, held });
    }
    return out;
  }

  stats(): ReplicaStats {
    return {
      buffered: this.s.buffer.size,
      bufferedBytes: this.s.buffer.bytes,
      objects: this.s.keyspace.size,
      ...this.s.counters,
    };
  }

  // ---- snapshots, recovery and compaction ---------------------------------------------

  snapshot(): ReplicaSnapshot<Json> {
    return snapshotOf(this.s);
  }

  /**
   * The snapshot with its keyspace as rows made from the live state as they are read, for
   * encodeSnapshot to write one at a time: the whole JSON value is never built. Encode it at
   * once, before this replica changes.
   */
  snapshotRows(): ReplicaSnapshot<KeyspaceRows> {
    return snapshotRowsOf(this.s);
  }

  /**
   * A builder of a snapshot's keyspace from its rows as it is decoded (snapshot-decoder.ts
   * `KeyspaceSink`), under this replica's limits: installing what it builds takes its state as
   * it is, already validated, so a snapshot's JSON value and the state are never both whole.
   */
  keyspaceBuilder(): KeyspaceBuilder {
    return new KeyspaceBuilder(this.s.limits);
  }

  /**
   * Installs a snapshot that covers everything we have (a peer's, when we are behind its
   * compacted log). Refuses one that would lose our events: push those first.
   */
  install(snap: ReplicaSnapshot): void {
    install(this.s, snap);
  }

  /**
   * Installs a snapshot that lacks some events we hold, then re-applies `kept` (exactly those
   * events, in our log's order) on top of it (snapshot-install.ts). Throws, changing nothing,
   * unless `kept` is exactly what the snapshot lacks of our clock, per origin in seq order.
   */
  installKeeping(snap: ReplicaSnapshot, kept: readonly Event[], nowMs: number): void {
    installKeeping(this.s, snap, kept, nowMs);
  }

  /**
   * Re-applies an event from the durable log during recovery (ours or a peer's), in log order,
   * after installing the latest snapshot. Events the snapshot already covers are skipped.
   */
  restore(e: Event, nowMs: number): void {
    restore(this.s, e, nowMs);
  }

  /**
   * Joins a peer's snapshot whose history diverged from ours (replica/merge.ts): the state of a
   * replica that delivered both histories. Validates it first; throws, changing nothing.
   */
  merge(snap: ReplicaSnapshot): void {
    mergeSnapshot(this.s, snap);
  }

  /** Folds causally stable information (see stability.ts) into compact state. */
  compact(stable: ReadonlyVectorClock): void {
    compactKeyspace(this.s.keyspace, stable);
  }
}
