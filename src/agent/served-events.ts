/**
 * What a sync response serves (DESIGN.md "Anti-entropy (sync)"): the logged events a
 * requester's clock lacks, in log order (a causal order), up to our clock when the response
 * started.
 */
import { type ReadonlyVectorClock, vcGet } from '../core/clock/vector-clock.js';
import type { Store } from '../store/store.js';

/**
 * Logged events `vc` lacks, up to `upTo` (our clock when the pull started): a pull served while
 * we keep writing must end, not follow the writer (gossip carries the newer events).
 */
export function* envelopesUpTo(
  store: Pick<Store, 'eventsSince'>,
  upTo: ReadonlyVectorClock,
  vc: ReadonlyVectorClock,
): Generator<Uint8Array> {
  let remaining = 0;
  for (const [origin, seq] of upTo) remaining += Math.max(0, seq - vcGet(vc, origin));
  for (const e of store.eventsSince(vc)) {
    if (remaining <= 0) return;
    if (e.seq > vcGet(upTo, e.origin)) continue;
    remaining--;
    yield e.bytes;
  }
}
