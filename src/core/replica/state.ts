/**
 * The replica's mutable state, owned by one `Replica` and changed only by its step and its
 * install/restore calls (the modules of this folder take it as their first argument). Also the
 * reap bookkeeping derived from that state: which epochs are being reaped or retired.
 */
import { CausalBuffer } from '../causal/causal-buffer.js';
import { type Hlc, HLC_ZERO } from '../clock/hlc.js';
import type { ReplicaId, VectorClock } from '../clock/vector-clock.js';
import {
  DEFAULT_EVENT_CODEC_LIMITS,
  EVENT_CODEC_VERSION,
  type EventCodecLimits,
} from '../codec/event-codec.js';
import type { ParseContext } from '../crdt/crdt.js';
import type { AwSetState } from '../crdt/aw-set.js';
import { type EntryDown, entryId } from '../crdt/or-map.js';
import { ErrorCode, fail } from '../errors.js';
import type { Event } from '../event.js';
import { type KeyspaceState, listObjects } from '../keyspace.js';
import { DEFAULT_LIMITS, type Limits } from '../limits.js';
import { epochOfReapKey, type ReapState, reapStatesOf, SYS_REAPS_PREFIX } from '../reaping.js';
import { type ReportTags, RetiredEpochs } from '../retired-epochs.js';
import { DEFAULT_REPLICA, type ReplicaConfig } from './config.js';

export interface ReplicaCounters {
  rejected: number;
  notOwner: number;
  reaped: number;
  duplicates: number;
  clockDrift: number;
  evicted: number;
  farAhead: number;
}

export interface ReplicaState {
  readonly id: ReplicaId;
  readonly limits: Limits;
  readonly maxDriftMs: number;
  readonly repairAfterMs: number;
  readonly repairBackoffMaxMs: number;
  readonly maxBufferAgeMs: number;
  readonly maxSeqAhead: number;
  readonly pc: ParseContext;
  readonly codecLimits: EventCodecLimits;
  vc: VectorClock;
  hlc: Hlc;
  /** Our clock when we made our last event: the base of the next event's delta deps. */
  lastDeps: VectorClock;
  keyspace: KeyspaceState;
  readonly buffer: CausalBuffer<Event>;
  readonly counters: ReplicaCounters;
  /** Gap repair backoff: for which oldest arrival, when next, and the interval after that. */
  gapRepair: { forArrivalMs: number; nextMs: number; intervalMs: number };
  /** Epochs with a reap marker in the state (reaping.ts), derived from `_sys/reaps/`. */
  reapStates: Map<ReplicaId, ReapState>;
  /**
   * Per epoch, the highest seq reported by a report received but not delivered yet (reaping.ts
   * `reportsIn`): it raises the limit so that the events it depends on can be accepted.
   */
  readonly pendingReports: Map<ReplicaId, number>;
  /** Reaps with a cut, and their witnesses (retired-epochs.ts): pruned from the clocks shown. */
  retired: RetiredEpochs;
  wireVersion: number;
}

/** A fresh, empty state; refuses a config without an id. */
export function createReplicaState(config: ReplicaConfig): ReplicaState {
  if (typeof config.id !== 'string' || config.id.length === 0) {
    fail(ErrorCode.InvalidArgument, 'A replica needs a non-empty id.');
  }
  const limits = { ...DEFAULT_LIMITS, ...config.limits };
  return {
    id: config.id,
    limits,
    maxDriftMs: config.maxDriftMs ?? DEFAULT_REPLICA.maxDriftMs,
    repairAfterMs: config.repairAfterMs ?? DEFAULT_REPLICA.repairAfterMs,
    repairBackoffMaxMs: config.repairBackoffMaxMs ?? DEFAULT_REPLICA.repairBackoffMaxMs,
    maxBufferAgeMs: config.maxBufferAgeMs ?? DEFAULT_REPLICA.maxBufferAgeMs,
    maxSeqAhead: config.maxSeqAhead ?? DEFAULT_REPLICA.maxSeqAhead,
    pc: { limits, depth: 0 },
    codecLimits: {
      ...DEFAULT_EVENT_CODEC_LIMITS,
      maxOpsPerEvent: limits.maxOpsPerEvent,
      ...config.eventCodec,
    },
    vc: new Map(),
    hlc: HLC_ZERO,
    lastDeps: new Map(),
    keyspace: new Map(),
    buffer: new CausalBuffer<Event>({ ...DEFAULT_REPLICA.buffer, ...config.buffer }),
    counters: {
      rejected: 0,
      notOwner: 0,
      reaped: 0,
      duplicates: 0,
      clockDrift: 0,
      evicted: 0,
      farAhead: 0,
    },
    gapRepair: { forArrivalMs: Number.NaN, nextMs: 0, intervalMs: 0 },
    reapStates: new Map(),
    pendingReports: new Map(),
    retired: RetiredEpochs.EMPTY,
    wireVersion: EVENT_CODEC_VERSION,
  };
}

/** Recomputes the reap states when `ops` touched a report set (reaping.ts `reapStatesOf`). */
export function refreshReaps(s: ReplicaState, ops: readonly EntryDown[]): void {
  if (ops.some((d) => d.t === 'aw-set' && epochOfReapKey(d.f) !== undefined)) refreshAllReaps(s);
}

export function refreshAllReaps(s: ReplicaState): void {
  s.reapStates = reapStatesIn(s.keyspace);
  s.retired = RetiredEpochs.of(s.reapStates.values(), reportTagsIn(s.keyspace));
}

/** The report elements of each epoch's set in `ks`, with the dots of the events that added them. */
function reportTagsIn(ks: KeyspaceState): ReportTags {
  return (epoch) => {
    const e = ks.get(entryId('aw-set', SYS_REAPS_PREFIX + epoch));
    return e ? (e.state as AwSetState).values() : [];
  };
}

/** The reap states of the report sets `_sys/reaps/<epoch>` in `ks` (reaping.ts). */
export function reapStatesIn(ks: KeyspaceState): Map<ReplicaId, ReapState> {
  const sets = new Map<ReplicaId, unknown>();
  for (const o of listObjects(ks, SYS_REAPS_PREFIX)) {
    const epoch = o.type === 'aw-set' ? epochOfReapKey(o.key) : undefined;
    if (epoch !== undefined) sets.set(epoch, o.value);
  }
  return reapStatesOf(sets, reportTagsIn(ks));
}
