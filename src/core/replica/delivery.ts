/**
 * Remote events: they go through the causal buffer and are applied exactly once, in causal
 * order. A signed event whose ops do not validate is *delivered as a no-op*: the clock advances
 * so the origin's later events are not blocked forever, nothing is applied, and a `rejected`
 * effect reports it. Every replica runs the same validation, so all of them skip the same event
 * and still converge. An event of an epoch being reaped is refused beyond its limit (reaping.ts).
 */
import { isDeliverable, isDuplicate } from '../causal/causal-buffer.js';
import { hlcReceive } from '../clock/hlc.js';
import { vcGet } from '../clock/vector-clock.js';
import type { OpContext } from '../crdt/crdt.js';
import type { EntryDown } from '../crdt/or-map.js';
import { ErrorCode, isSmacError } from '../errors.js';
import type { Event } from '../event.js';
import { applyKeyDown } from '../keyspace.js';
import { peerOfOrigin } from '../origin.js';
import { NOT_OWNER } from '../ownership.js';
import { REAPED, reportsIn, SYS_REAPS_PREFIX } from '../reaping.js';
import { validateRemoteEvent } from '../remote-validation.js';
import { refreshReaps, type ReplicaState } from './state.js';
import { type Effect, rejected, type RemoteInput, touched } from './step.js';

export function receiveRemote(s: ReplicaState, input: RemoteInput, nowMs: number): Effect[] {
  const e = input.event;
  const effects: Effect[] = [];
  if (e.origin === s.id) {
    if (e.seq > vcGet(s.vc, s.id)) {
      s.counters.rejected++;
      effects.push(
        rejected(e, ErrorCode.InvalidEvent, 'A peer sent an event in our name that we never made.'),
      );
    } else s.counters.duplicates++;
    return effects;
  }
  if (e.deps.has(e.origin)) {
    s.counters.rejected++;
    effects.push(
      rejected(e, ErrorCode.InvalidEvent, 'An event lists its own origin among its dependencies.'),
    );
    return effects;
  }
  if (isDuplicate(e, s.vc)) {
    s.counters.duplicates++;
    return effects;
  }
  notePendingReports(s, e);
  if (beyondReapLimit(s, e, effects)) return effects;
  if (!isDeliverable(e, s.vc)) {
    if (aheadBy(s, e) > s.maxSeqAhead) {
      s.counters.farAhead++;
      effects.push({ kind: 'repair', reason: 'far-ahead', gaps: s.buffer.gaps(s.vc) });
      effects.push({ kind: 'dropped', reason: 'far-ahead', count: 1 });
      return effects;
    }
    let r = s.buffer.add(e, input.bytes, nowMs);
    if (r === 'duplicate') s.counters.duplicates++;
    if (r === 'overflow') {
      // Make room by evicting the oldest (their gap has waited longest; sync fetches them
      // in order); an event that can never fit is dropped itself.
      const evicted = s.buffer.makeRoom(input.bytes);
      if (evicted > 0) {
        r = s.buffer.add(e, input.bytes, nowMs);
        // Evicted, not delivered: the gap repair keeps its backoff (see gap-repair.ts).
        s.gapRepair.forArrivalMs = s.buffer.oldestArrivalMs() ?? Number.NaN;
      }
      const dropped = evicted + (r === 'buffered' ? 0 : 1);
      s.counters.evicted += dropped;
      effects.push({ kind: 'repair', reason: 'overflow', gaps: s.buffer.gaps(s.vc) });
      effects.push({ kind: 'dropped', reason: 'overflow', count: dropped });
    }
    return effects;
  }
  deliver(s, e, nowMs, effects);
  for (let next = s.buffer.popDeliverable(s.vc); next; next = s.buffer.popDeliverable(s.vc)) {
    // A report that arrived meanwhile may have set a limit below a buffered event.
    if (!beyondReapLimit(s, next, effects)) deliver(s, next, nowMs, effects);
  }
  return effects;
}

/**
 * True (counted, reported) for an event of an epoch being reaped beyond the highest seq
 * reported (or, once all have reported, beyond the cut): it is neither delivered nor
 * buffered, the same rule everywhere (reaping.ts). If a later report raises the limit,
 * anti-entropy fetches the event again.
 */
function beyondReapLimit(s: ReplicaState, e: Event, effects: Effect[]): boolean {
  const state = s.reapStates.get(e.origin);
  if (!state) return false;
  const limit = state.cut ?? Math.max(state.limit, s.pendingReports.get(e.origin) ?? 0);
  if (e.seq <= limit) return false;
  s.counters.reaped++;
  const what =
    state.cut === undefined ? `the highest seq reported so far (${limit})` : `its cut (${state.cut})`;
  effects.push(rejected(e, REAPED, `Refused an event of a reaped epoch beyond ${what}.`));
  return true;
}

/** Records the reports `e` carries in its writer's own name (reaping.ts `reportsIn`). */
function notePendingReports(s: ReplicaState, e: Event): void {
  if (!e.ops.some((o) => isReapsOp(o))) return;
  for (const [epoch, r] of reportsIn(e.ops, peerOfOrigin(e.origin)))
    if (r.seq > (s.pendingReports.get(epoch) ?? 0)) s.pendingReports.set(epoch, r.seq);
}

/** Applies a causally ready event (or skips its ops that do not validate) and advances the clocks. */
export function deliver(s: ReplicaState, e: Event, nowMs: number, effects: Effect[]): void {
  let ops: readonly EntryDown[] | undefined;
  try {
    // By the rules of the event's own wire version only (remote-validation.ts).
    const v = validateRemoteEvent(e);
    ops = v.ops;
    if (v.skipped.length > 0) {
      s.counters.notOwner += v.skipped.length;
      const first = v.skipped[0]?.reason ?? '';
      effects.push(
        rejected(
          e,
          NOT_OWNER,
          `Skipped ${v.skipped.length} op(s) on records the writer does not own: ${first}`,
        ),
      );
    }
  } catch (err) {
    const code = isSmacError(err) ? err.code : ErrorCode.InvalidEvent;
    const msg = err instanceof Error ? err.message : String(err);
    s.counters.rejected++;
    effects.push(rejected(e, code, `Skipped an event whose ops do not validate: ${msg}`));
  }
  const r = hlcReceive(s.hlc, e.hlc, nowMs, s.maxDriftMs);
  s.hlc = r.clock;
  if (r.driftMs !== undefined) {
    s.counters.clockDrift++;
    effects.push({ kind: 'clock-drift', origin: e.origin, driftMs: r.driftMs });
  }
  if (ops) {
    const ctx: OpContext = { dot: { origin: e.origin, seq: e.seq }, hlc: e.hlc };
    for (const d of ops) applyKeyDown(s.keyspace, d, ctx);
  }
  s.vc.set(e.origin, e.seq);
  // A copy buffered before a snapshot install made it deliverable would otherwise stay.
  s.buffer.discard(e.origin, e.seq);
  if (ops) refreshReaps(s, ops);
  effects.push({ kind: 'persist', event: e, local: false });
  if (ops) effects.push({ kind: 'changed', event: e, objects: touched(ops) });
}

/** How far beyond our clock the event reaches: by its seq, or by one of its deps. */
function aheadBy(s: ReplicaState, e: Event): number {
  let ahead = e.seq - vcGet(s.vc, e.origin);
  for (const [x, n] of e.deps) ahead = Math.max(ahead, n - vcGet(s.vc, x));
  return ahead;
}

function isReapsOp(o: unknown): boolean {
  const f = (o as { f?: unknown } | null)?.f;
  return typeof f === 'string' && f.startsWith(SYS_REAPS_PREFIX);
}
