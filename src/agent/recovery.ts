/**
 * Recovery on start (DESIGN.md "Durability"): the latest snapshot, then every event logged
 * after it, re-applied in log order. The agent gets back its state, its clock and so its next
 * sequence number: it never reuses an (origin, seq) pair.
 *
 * Recovery only reads the store. A snapshot or event in a format this build does not know (the
 * store was last run by a newer release: a downgrade) is refused with STORE_UNSUPPORTED_VERSION,
 * naming the format and the formats this build reads (docs/store.md "Upgrades and downgrades");
 * the agent writes nothing to the store before recovery succeeded, so the store stays as it was.
 */
import type { Snapshot } from '../core/codec/index.js';
import { MAX_EVENT_WIRE_VERSION, MIN_EVENT_WIRE_VERSION } from '../core/codec/event-codec.js';
import {
  type KeyspaceRows,
  PRUNED_SNAPSHOT_CODEC_VERSION,
  PROVEN_SNAPSHOT_CODEC_VERSION,
  SNAPSHOT_CODEC_VERSION,
} from '../core/codec/snapshot-codec.js';
import { SnapshotDecoder } from '../core/codec/snapshot-decoder.js';
import { ErrorCode, isSmacError, SmacError } from '../core/errors.js';
import type { Event } from '../core/event.js';
import { Replica, type ReplicaConfig } from '../core/replica.js';
import { readTrustedEnvelope } from '../net/envelope.js';
import { StoreError, StoreErrorCode } from '../store/store-errors.js';
import type { Store } from '../store/store.js';

/** The snapshot formats this build reads. */
const SNAPSHOT_FORMATS = [
  SNAPSHOT_CODEC_VERSION,
  PROVEN_SNAPSHOT_CODEC_VERSION,
  PRUNED_SNAPSHOT_CODEC_VERSION,
];

export function recoverReplica(store: Store, config: ReplicaConfig, nowMs: number): Replica {
  const snap = store.latestSnapshot();
  const replica = new Replica(config);
  if (snap) replica.install(storedSnapshot(store, snap.bytes, replica));
  for (const row of store.eventsAfter(snap?.pos ?? 0)) {
    // Verified when received; re-verifying 100k signatures would slow every restart by seconds.
    replica.restore(storedEvent(store, row.bytes), nowMs);
  }
  const own = replica.clock().get(config.id) ?? 0;
  const stored = store.maxSeq(config.id);
  if (stored > own) {
    throw new SmacError(
      ErrorCode.InvalidEvent,
      `The store holds events of this agent up to seq ${stored} but recovery reached only ${own}; ` +
        'the data directory is damaged. Restore it from a backup or start with an empty one.',
    );
  }
  return replica;
}

/**
 * The stored snapshot, its keyspace decoded into `into`'s state row by row (as a peer's snapshot
 * is, snapshot-exchange.ts): its JSON value and the state are never both whole.
 */
function storedSnapshot(store: Store, bytes: Uint8Array, into: Replica): Snapshot<KeyspaceRows> {
  try {
    const d = new SnapshotDecoder<KeyspaceRows>(undefined, bytes.length, into.keyspaceBuilder());
    d.push(bytes);
    return d.end();
  } catch (e) {
    if (!isSmacError(e) || e.code !== ErrorCode.UnsupportedVersion) throw e;
    const format = bytes[0] ?? 0;
    throw new StoreError(
      StoreErrorCode.UnsupportedVersion,
      `The store ${store.file} holds a snapshot in format ${String(format)}, written by a newer SMAC; ` +
        `this build reads snapshot formats ${String(SNAPSHOT_FORMATS[0])} to ${String(SNAPSHOT_FORMATS.at(-1))}. ` +
        'Run a release that reads it, or see docs/store.md "Upgrades and downgrades" for a downgrade; ' +
        'the store was left as it was.',
      { details: { file: store.file, snapshotFormat: format, supported: SNAPSHOT_FORMATS }, cause: e },
    );
  }
}

function storedEvent(store: Store, bytes: Uint8Array): Event {
  try {
    return readTrustedEnvelope(bytes).event;
  } catch (e) {
    if (!isSmacError(e) || e.code !== ErrorCode.UnsupportedVersion) throw e;
    throw new StoreError(
      StoreErrorCode.UnsupportedVersion,
      `The store ${store.file} holds an event this build cannot read (${e.message}), written by a newer ` +
        `SMAC; this build reads event wire versions ${String(MIN_EVENT_WIRE_VERSION)} to ` +
        `${String(MAX_EVENT_WIRE_VERSION)}. Run a release that reads it, or see docs/store.md ` +
        '"Upgrades and downgrades" for a downgrade; the store was left as it was.',
      { details: { file: store.file, ...(e.details ?? {}) }, cause: e },
    );
  }
}
