/**
 * Recovery on start (DESIGN.md "Durability"): the latest snapshot, then every event logged
 * after it, re-applied in log order. The agent gets back its state, its clock and so its next
 * sequence number: it never reuses an (origin, seq) pair.
 */
import { decodeSnapshot } from '../core/codec/index.js';
import { ErrorCode, SmacError } from '../core/errors.js';
import { Replica, type ReplicaConfig } from '../core/replica.js';
import { readTrustedEnvelope } from '../net/envelope.js';
import type { Store } from '../store/store.js';

export function recoverReplica(store: Store, config: ReplicaConfig, nowMs: number): Replica {
  const snap = store.latestSnapshot();
  const replica = snap ? Replica.fromSnapshot(config, decodeSnapshot(snap.bytes)) : new Replica(config);
  for (const row of store.eventsAfter(snap?.pos ?? 0)) {
    // Verified when received; re-verifying 100k signatures would slow every restart by seconds.
    replica.restore(readTrustedEnvelope(row.bytes).event, nowMs);
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
