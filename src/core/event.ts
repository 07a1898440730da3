/**
 * Events: the unit of replication (DESIGN.md "Replication protocol"). An event is one atomic
 * batch of downstream ops from one origin. Per origin, `seq` counts 1, 2, 3, ...
 *
 * Dependencies are delta-encoded: `deps` holds only the entries of the origin's vector clock
 * (as it was just before this event) that grew since the origin's previous event; the origin's
 * own entry is implicit (`seq - 1`). Steady-state metadata is therefore proportional to the
 * number of origins heard from since the origin last wrote, not to the cluster size.
 * Deliverability needs only the delta: once the origin's previous event was delivered, the
 * entries the delta leaves out are already covered (see causal/causal-buffer.ts). Any superset
 * of the minimal delta (a full clock, say after a restart) is equally valid.
 */
import type { Hlc } from './clock/hlc.js';
import type { ReplicaId, VectorClock } from './clock/vector-clock.js';
import type { Json } from './json.js';

export interface Event {
  readonly origin: ReplicaId;
  readonly seq: number;
  /** Delta-encoded causal dependencies (never contains `origin`). */
  readonly deps: VectorClock;
  readonly hlc: Hlc;
  /** Downstream ops of the keyspace, in the order they were prepared. Opaque at this layer. */
  readonly ops: readonly Json[];
}
