/**
 * Merging a peer's snapshot whose history diverged from ours (docs/agent.md "Divergence"): each
 * holds events the other lacks and can no longer hand over as events (folded into a snapshot),
 * so neither can install the other's snapshot. The merge joins the two states under their
 * delivered clocks (crdt/join.ts): the result is the state a replica that delivered both
 * histories would hold, with the join of the two clocks. Events beyond the peer's snapshot come
 * afterwards by ordinary sync, as after an install.
 */
import { compareHlc } from '../clock/hlc.js';
import { type ReadonlyVectorClock, vcLeq, vcMerge } from '../clock/vector-clock.js';
import { joinContainer } from '../crdt/join.js';
import { observedContainer } from '../crdt/or-map.js';
import { ErrorCode, fail } from '../errors.js';
import { decodeKeyspace, encodeKeyspace, type KeyspaceState } from '../keyspace.js';
import type { Limits } from '../limits.js';
import { withRetiredCuts } from '../retired-epochs.js';
import { decodeSnapshotState, installState, type ReplicaSnapshot } from './snapshot-install.js';
import type { ReplicaState } from './state.js';

/** The delivered clock a snapshot stands for (retired epochs counted at their cut). */
function clockOf(snap: ReplicaSnapshot): ReadonlyVectorClock {
  return withRetiredCuts(snap.vc, snap.retired ?? new Map());
}

/** The joined keyspace and clock of two decoded states. */
export function joinKeyspaces(
  a: KeyspaceState,
  ctxA: ReadonlyVectorClock,
  b: KeyspaceState,
  ctxB: ReadonlyVectorClock,
): { keyspace: KeyspaceState; vc: ReadonlyVectorClock } {
  return {
    keyspace: joinContainer({ state: a, ctx: ctxA }, { state: b, ctx: ctxB }),
    vc: vcMerge(ctxA, ctxB),
  };
}

/** The join of two snapshots (both validated as any snapshot is); commutative and idempotent. */
export function joinSnapshots(a: ReplicaSnapshot, b: ReplicaSnapshot, limits: Limits): ReplicaSnapshot {
  const ctxA = clockOf(a);
  const ctxB = clockOf(b);
  const { keyspace, vc } = joinKeyspaces(
    decodeKeyspace(a.keyspace, limits),
    ctxA,
    decodeKeyspace(b.keyspace, limits),
    ctxB,
  );
  return {
    vc: new Map(vc),
    hlc: compareHlc(a.hlc, b.hlc) >= 0 ? a.hlc : b.hlc,
    keyspace: encodeKeyspace(keyspace),
  };
}

/**
 * Joins a peer's snapshot into this replica's state. Validates the snapshot completely (as an
 * install does) before anything changes, so a bad one throws and leaves the state as it was.
 */
export function mergeSnapshot(s: ReplicaState, snap: ReplicaSnapshot): void {
  const theirs = decodeSnapshotState(s, snap); // throws before any change
  const ctx = clockOf(snap);
  // The join reads the clock as the state's causal context: a dot beyond it would be taken for
  // one we never saw, whatever we did with it. The signed heads prove the clock, not the state.
  if (!vcLeq(observedContainer(theirs), ctx)) {
    fail(ErrorCode.InvalidArgument, "The snapshot's state holds dots its clock does not cover.");
  }
  const { keyspace, vc } = joinKeyspaces(s.keyspace, s.vc, theirs, ctx);
  installState(s, { vc: new Map(vc), hlc: snap.hlc, keyspace: null }, keyspace);
}
