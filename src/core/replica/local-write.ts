/**
 * Local writes: a batch of ops becomes one event (origin, seq, deps, hlc, ops). Every op is
 * validated before any is prepared, and prepare/effect cannot fail on validated input, so a
 * batch is applied whole or not at all.
 */
import { hlcTick } from '../clock/hlc.js';
import { type VectorClock, vcClone, vcGet } from '../clock/vector-clock.js';
import { encodeEvent } from '../codec/event-codec.js';
import type { OpContext } from '../crdt/crdt.js';
import type { EntryOp } from '../crdt/or-map.js';
import { ErrorCode, fail, isSmacError, SmacError } from '../errors.js';
import type { Event } from '../event.js';
import type { Json } from '../json.js';
import { parseKeyOp } from '../keyspace.js';
import { prepareBatch } from '../local-batch.js';
import { checkTypeConflicts } from '../type-conflict.js';
import { refreshReaps, type ReplicaState } from './state.js';
import { type LocalInput, type StepResult, touched } from './step.js';

export function writeLocal(s: ReplicaState, input: LocalInput, nowMs: number): StepResult {
  const n = input.ops.length;
  if (!Array.isArray(input.ops) || n === 0)
    fail(ErrorCode.InvalidOp, 'A write needs at least one operation.');
  if (n > s.limits.maxOpsPerEvent) {
    fail(
      ErrorCode.TooLarge,
      `A batch holds at most ${s.limits.maxOpsPerEvent} operations; this one has ${n}.`,
    );
  }
  // Validate everything first: nothing below may throw, so nothing is half-applied.
  const parsed: EntryOp[] = input.ops.map((raw, i) => {
    try {
      return parseKeyOp(raw, s.pc, input.system === true);
    } catch (e) {
      if (isSmacError(e) && n > 1)
        throw new SmacError(e.code, `Operation ${i}: ${e.message}`, { index: i, ...e.details });
      throw e;
    }
  });
  // A client-input rule, for clients' local batches only: one key, one type (type-conflict.ts).
  if (input.oneTypePerKey === true) checkTypeConflicts(s.keyspace, parsed);
  // Prepare aside, encode, and only then commit (local-batch.ts): an event over the size
  // limit (or any other refusal) leaves the replica exactly as it was.
  const seq = vcGet(s.vc, s.id) + 1;
  const hlc = hlcTick(s.hlc, nowMs);
  const ctx: OpContext = { dot: { origin: s.id, seq }, hlc };
  const batch = prepareBatch(s.keyspace, parsed, ctx);
  const ops = batch.ops;
  const deps = deltaDeps(s);
  const event: Event = { origin: s.id, seq, deps, hlc, ops: ops as unknown as Json[] };
  const encoded = encodeLocal(s, event);
  // Commit: nothing below throws.
  s.hlc = hlc;
  s.lastDeps = vcClone(s.vc);
  s.lastDeps.delete(s.id);
  batch.commit();
  s.vc.set(s.id, seq);
  refreshReaps(s, ops);
  return {
    event,
    encoded,
    effects: [
      { kind: 'persist', event, local: true },
      { kind: 'broadcast', event },
      { kind: 'changed', event, objects: touched(ops) },
    ],
  };
}

/** The event's encoding, or TOO_LARGE (nothing changed yet) when it is over the limit. */
function encodeLocal(s: ReplicaState, event: Event): Uint8Array {
  try {
    return encodeEvent(event, s.codecLimits, s.wireVersion);
  } catch (e) {
    if (isSmacError(e) && e.code === ErrorCode.TooLarge) {
      const limit = s.codecLimits.maxEventBytes;
      throw new SmacError(
        ErrorCode.TooLarge,
        `The batch makes an event larger than the ${limit}-byte event limit; nothing was applied. ` +
          'Split it into smaller batches.',
        { ...e.details, limit },
      );
    }
    throw e;
  }
}

/** Entries of our clock (other than ours) that grew since our previous event (reads only). */
function deltaDeps(s: ReplicaState): VectorClock {
  const deps: VectorClock = new Map();
  for (const [id, n] of s.vc) {
    if (id !== s.id && n > (s.lastDeps.get(id) ?? 0)) deps.set(id, n);
  }
  return deps;
}
