/**
 * Snapshots of a replica and installing them: a peer's, when we are behind its compacted log
 * (whole, or keeping the events it lacks), or our own at a restart, followed by replaying the
 * durable log on top (`restore`). Every install checks before it changes anything.
 */
import type { Hlc } from '../clock/hlc.js';
import { type ReplicaId, type VectorClock, vcClone, vcGet, vcLeq } from '../clock/vector-clock.js';
import { ErrorCode, fail } from '../errors.js';
import type { KeyspaceRows } from '../codec/snapshot-codec.js';
import type { Event } from '../event.js';
import type { Json } from '../json.js';
import { decodeKeyspace, encodeKeyspace, keyspaceRows, type KeyspaceState } from '../keyspace.js';
import { withRetiredCuts } from '../retired-epochs.js';
import { deliver } from './delivery.js';
import { reapStatesIn, refreshAllReaps, type ReplicaState } from './state.js';

/**
 * Plain state of a replica, for snapshots. The keyspace is its JSON value, or its rows (a
 * snapshot decoded as it streamed in, keyspace.ts `DecodedKeyspace`, whose state installing takes).
 */
export interface ReplicaSnapshot<K extends Json | KeyspaceRows = Json | KeyspaceRows> {
  readonly vc: VectorClock;
  readonly hlc: Hlc;
  readonly keyspace: K;
  /**
   * Retired epochs pruned from `vc`, with their cuts (retired-epochs.ts): the snapshot covers
   * each up to its cut. Installing checks them against the snapshot's own reap reports.
   */
  readonly retired?: ReadonlyMap<ReplicaId, number>;
}

export function snapshotOf(s: ReplicaState): ReplicaSnapshot<Json> {
  return { vc: vcClone(s.vc), hlc: s.hlc, keyspace: encodeKeyspace(s.keyspace) };
}

/** As snapshotOf, the keyspace as rows of the live state (keyspace.ts `keyspaceRows`). */
export function snapshotRowsOf(s: ReplicaState): ReplicaSnapshot<KeyspaceRows> {
  return { vc: vcClone(s.vc), hlc: s.hlc, keyspace: keyspaceRows(s.keyspace) };
}

/**
 * Installs a snapshot that covers everything we have (a peer's, when we are behind its
 * compacted log). Refuses one that would lose our events: push those first.
 */
export function install(s: ReplicaState, snap: ReplicaSnapshot): void {
  const vc = withRetiredCuts(snap.vc, snap.retired ?? new Map());
  if (!vcLeq(s.vc, vc)) {
    fail(
      ErrorCode.InvalidArgument,
      "The snapshot does not cover this replica's clock; installing it would lose events.",
    );
  }
  installState(s, snap, decodeSnapshotState(s, snap)); // throws before any change
}

/**
 * Installs a snapshot that lacks some events we hold, then re-applies `kept` — exactly those
 * events, in our log's order (a causal order) — on top of it: a returning writer that kept
 * writing (or kept receiving) while it pushed still catches up. Nothing the snapshot holds
 * can depend on events it lacks, and every dependency of a kept event is in the snapshot or
 * kept before it, so this is a causal order. Throws (changing nothing) unless `kept` is
 * exactly what the snapshot lacks of our clock, per origin in seq order.
 */
export function installKeeping(
  s: ReplicaState,
  snap: ReplicaSnapshot,
  kept: readonly Event[],
  nowMs: number,
): void {
  const snapVc = withRetiredCuts(snap.vc, snap.retired ?? new Map());
  const next = new Map<ReplicaId, number>();
  for (const e of kept) {
    const n = next.get(e.origin) ?? vcGet(snapVc, e.origin) + 1;
    if (e.seq !== n)
      fail(ErrorCode.InvalidArgument, `A kept event of ${e.origin} must have seq ${n}, not ${e.seq}.`);
    next.set(e.origin, n + 1);
  }
  const covers = (o: ReplicaId, seq: number): boolean =>
    Math.max(vcGet(snapVc, o), (next.get(o) ?? 0) - 1) === Math.max(seq, vcGet(snapVc, o));
  if (![...s.vc].every(([o, seq]) => covers(o, seq)) || ![...next.keys()].every((o) => s.vc.has(o))) {
    fail(
      ErrorCode.InvalidArgument,
      "The snapshot and the kept events are not exactly this replica's clock; installing them would lose events.",
    );
  }
  installState(s, snap, decodeSnapshotState(s, snap));
  for (const e of kept) restore(s, e, nowMs);
}

/**
 * Re-applies an event from the durable log during recovery (ours or a peer's), in log order,
 * after installing the latest snapshot. Events the snapshot already covers are skipped.
 */
export function restore(s: ReplicaState, e: Event, nowMs: number): void {
  if (e.seq <= vcGet(s.vc, e.origin)) return;
  if (e.seq !== vcGet(s.vc, e.origin) + 1) {
    fail(ErrorCode.InvalidEvent, `The log skips from ${e.origin}:${vcGet(s.vc, e.origin)} to seq ${e.seq}.`);
  }
  deliver(s, e, nowMs, []);
  if (e.origin === s.id) s.lastDeps = new Map(); // the next event carries full deps
}

/**
 * Decodes a snapshot's keyspace, and checks that every retired epoch it claims is retired at
 * that cut by its own reap reports (a snapshot must not pass off a live epoch as pruned).
 */
export function decodeSnapshotState(s: ReplicaState, snap: ReplicaSnapshot): KeyspaceState {
  const ks = decodeKeyspace(snap.keyspace, s.limits);
  if (!snap.retired || snap.retired.size === 0) return ks;
  const states = reapStatesIn(ks);
  for (const [epoch, cut] of snap.retired) {
    if (states.get(epoch)?.cut !== cut)
      fail(
        ErrorCode.InvalidArgument,
        `The snapshot claims epoch ${epoch} retired at ${cut}, which its own reap reports do not show.`,
      );
  }
  return ks;
}

export function installState(s: ReplicaState, snap: ReplicaSnapshot, ks: KeyspaceState): void {
  s.keyspace = ks;
  s.vc = withRetiredCuts(snap.vc, snap.retired ?? new Map());
  if (snap.hlc.wall > s.hlc.wall || (snap.hlc.wall === s.hlc.wall && snap.hlc.logical > s.hlc.logical)) {
    s.hlc = snap.hlc;
  }
  s.lastDeps = new Map(); // the next event carries full deps: always valid
  s.buffer.prune(s.vc);
  refreshAllReaps(s);
}
