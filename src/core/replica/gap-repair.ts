/**
 * The replica's tick: evicts buffered events that waited too long, and asks for repair of gaps
 * with a backoff, so that a gap no peer can fill does not ask on every tick.
 */
import type { ReplicaState } from './state.js';
import type { Effect } from './step.js';

/**
 * Evicts buffered events past maxBufferAgeMs, and asks for repair of a gap older than
 * repairAfterMs: again after repairAfterMs, then after twice as long each time (up to
 * repairBackoffMaxMs). The interval starts over once the oldest event waiting was delivered,
 * not when it was evicted: an origin that keeps sending events nobody can fill keeps its
 * backoff. At most one repair per tick.
 */
export function repairTick(s: ReplicaState, nowMs: number): Effect[] {
  const first = s.buffer.oldestArrivalMs();
  if (first === undefined || first !== s.gapRepair.forArrivalMs) {
    // Empty, or the event that waited longest went out by delivery: a new gap.
    s.gapRepair = { forArrivalMs: first ?? Number.NaN, nextMs: 0, intervalMs: s.repairAfterMs };
    if (first === undefined) return [];
  }
  const evicted = s.buffer.evictArrivedBy(nowMs - s.maxBufferAgeMs);
  const oldest = s.buffer.oldestArrivalMs();
  const r = s.gapRepair;
  r.forArrivalMs = oldest ?? Number.NaN;
  const effects: Effect[] = [];
  const waiting = evicted > 0 || (oldest !== undefined && nowMs - oldest >= s.repairAfterMs);
  if (waiting && nowMs >= r.nextMs) {
    effects.push({
      kind: 'repair',
      reason: evicted > 0 ? 'expired' : 'gap',
      gaps: s.buffer.gaps(s.vc),
    });
    r.nextMs = nowMs + r.intervalMs;
    r.intervalMs = Math.min(2 * r.intervalMs, s.repairBackoffMaxMs);
  }
  if (evicted > 0) {
    s.counters.evicted += evicted;
    effects.push({ kind: 'dropped', reason: 'age', count: evicted });
  }
  return effects;
}
