/**
 * PN-counter, op-based (Shapiro et al., INRIA RR-7506, §3.1.1, Spec 5 "op-based counter").
 * Increments and decrements commute, so the paper's counter is a plain sum. SMAC keeps the sum per dot
 * instead, so that a counter can be causally reset (deleting it, or the map field holding it):
 * a reset removes exactly the deltas its source had observed, and a concurrent increment
 * survives. Compaction folds each origin's causally stable deltas into one entry, so the state
 * stays at O(origins) under a steady stream of increments.
 *
 * Sums are bigints: concurrent deltas must add up to the same exact total in any order, and a
 * float sum beyond 2^53 would round differently depending on the order. `value` is a number
 * while the sum is a safe integer and its decimal string beyond that, so a reader never sees a
 * rounded total.
 */
import {
  type ReadonlyVectorClock,
  type ReplicaId,
  type VectorClock,
  isCount,
} from '../clock/vector-clock.js';
import { ErrorCode, fail } from '../errors.js';
import { type Json, isRecord } from '../json.js';
import { onlyKeys } from './dots.js';
import type { CrdtType, ParseContext } from './crdt.js';

/** A parsed user op; `by` is positive (a decrement subtracts it). */
export type PnCounterOp =
  { readonly kind: 'increment'; readonly by: number } | { readonly kind: 'decrement'; readonly by: number };

/** Downstream op: the signed, non-zero delta. */
export interface PnCounterDown {
  readonly d: number;
}

/** [seq, delta]: the summed deltas of one event (or, after compaction, of a stable prefix). */
export type PnCounterEntry = [seq: number, delta: bigint];

export interface PnCounterState {
  /** Per origin, entries in ascending seq. An origin with no entry has no key. */
  readonly entries: Map<ReplicaId, PnCounterEntry[]>;
  /** Cached sum of every entry's delta. */
  total: bigint;
}

// A merged entry sums at most 2^53 events of 10^4 ops of 2^53 each (about 10^36): 40 digits is
// ample, and the cap keeps a hostile snapshot from making BigInt parse megabytes of digits.
const MAX_DELTA_DIGITS = 40;
const DELTA_PATTERN = new RegExp(`^(?:0|-?[1-9][0-9]{0,${MAX_DELTA_DIGITS - 1}})$`);
const MIN_SAFE = BigInt(Number.MIN_SAFE_INTEGER);
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

function isSafeInt(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v);
}

function parseOp(op: unknown, pc: ParseContext): PnCounterOp {
  if (!isRecord(op)) {
    fail(ErrorCode.InvalidOp, 'A counter op must be an object such as {"kind":"increment","by":1}.');
  }
  onlyKeys(op, ['kind', 'by'], 'A counter op', ErrorCode.InvalidOp);
  const kind = op.kind;
  if (kind !== 'increment' && kind !== 'decrement') {
    fail(ErrorCode.InvalidOp, 'A counter op kind must be "increment" or "decrement".');
  }
  const by = op.by === undefined ? 1 : op.by;
  if (!isSafeInt(by) || by <= 0) {
    fail(
      ErrorCode.InvalidOp,
      `A counter ${kind} "by" must be a positive integer; use the other kind to go the other way.`,
    );
  }
  const max = pc.limits.maxCounterDelta;
  if (by > max) {
    fail(
      ErrorCode.InvalidOp,
      `A counter ${kind} "by" is ${by}, above the limit of ${max}; split it into several ops.`,
    );
  }
  return { kind, by };
}

function parseDownstream(d: unknown, pc: ParseContext): PnCounterDown {
  if (!isRecord(d)) fail(ErrorCode.InvalidOp, 'A counter downstream op must be an object {"d": delta}.');
  onlyKeys(d, ['d'], 'A counter downstream op', ErrorCode.InvalidOp);
  const delta = d.d;
  if (!isSafeInt(delta) || delta === 0) {
    fail(ErrorCode.InvalidOp, 'A counter downstream delta must be a non-zero safe integer.');
  }
  if (Math.abs(delta) > pc.limits.maxCounterDelta) {
    fail(
      ErrorCode.InvalidOp,
      `A counter downstream delta of ${delta} exceeds the limit of ${pc.limits.maxCounterDelta}; check that every agent runs with the same limits.`,
    );
  }
  return { d: delta };
}

/** Sum of the leading entries with seq <= upTo, and how many there are. */
function prefix(list: readonly PnCounterEntry[], upTo: number): { count: number; sum: bigint } {
  let count = 0;
  let sum = 0n;
  for (const [seq, delta] of list) {
    if (seq > upTo) break;
    sum += delta;
    count++;
  }
  return { count, sum };
}

function decodeError(message: string): never {
  return fail(ErrorCode.DecodeError, `Cannot decode a counter snapshot: ${message}`);
}

function decode(j: unknown): PnCounterState {
  if (!isRecord(j)) decodeError('expected an object {"entries": [...]}.');
  onlyKeys(j, ['entries'], 'A counter snapshot', ErrorCode.DecodeError);
  const raw = j.entries;
  if (!Array.isArray(raw)) decodeError('"entries" must be an array of [origin, seq, delta].');
  const state: PnCounterState = { entries: new Map(), total: 0n };
  let prevOrigin = '';
  let prevSeq = 0;
  for (const item of raw as unknown[]) {
    if (!Array.isArray(item) || item.length !== 3) decodeError('each entry must be [origin, seq, delta].');
    const [origin, seq, delta] = item as unknown[];
    if (typeof origin !== 'string' || origin.length === 0) {
      decodeError('an entry origin must be a non-empty string.');
    }
    if (!isCount(seq) || seq === 0) decodeError('an entry seq must be a positive safe integer.');
    if (typeof delta !== 'string' || !DELTA_PATTERN.test(delta)) {
      decodeError(`an entry delta must be a decimal integer string of at most ${MAX_DELTA_DIGITS} digits.`);
    }
    // Canonical order, as `encode` writes it: origins ascending, then seqs strictly ascending.
    if (origin < prevOrigin || (origin === prevOrigin && seq <= prevSeq)) {
      decodeError('entries must be sorted by origin then seq, without duplicates.');
    }
    prevOrigin = origin;
    prevSeq = seq;
    const value = BigInt(delta);
    let list = state.entries.get(origin);
    if (!list) {
      list = [];
      state.entries.set(origin, list);
    }
    list.push([seq, value]);
    state.total += value;
  }
  return state;
}

export const pnCounter: CrdtType<PnCounterState, PnCounterOp, PnCounterDown> = {
  name: 'pn-counter',

  empty: () => ({ entries: new Map(), total: 0n }),

  parseOp,

  prepare: (_state, op) => ({ d: op.kind === 'increment' ? op.by : -op.by }),

  parseDownstream,

  effect(state, d, ctx) {
    const { origin, seq } = ctx.dot;
    const delta = BigInt(d.d);
    let list = state.entries.get(origin);
    if (!list) {
      list = [];
      state.entries.set(origin, list);
    }
    // Causal delivery makes seq the largest so far (or equal, for a second op of the same
    // event); the scan only guards the order invariant should that ever not hold.
    let i = list.length;
    while (i > 0 && (list[i - 1]?.[0] ?? 0) > seq) i--;
    const prev = list[i - 1];
    if (prev?.[0] === seq) prev[1] += delta;
    else list.splice(i, 0, [seq, delta]);
    state.total += delta;
  },

  value(state): Json {
    const t = state.total;
    return t >= MIN_SAFE && t <= MAX_SAFE ? Number(t) : t.toString();
  },

  observed(state) {
    const out: VectorClock = new Map();
    for (const [origin, list] of state.entries) {
      const last = list[list.length - 1];
      if (last) out.set(origin, last[0]);
    }
    return out;
  },

  reset(state, ctx: ReadonlyVectorClock) {
    for (const [origin, list] of state.entries) {
      const { count, sum } = prefix(list, ctx.get(origin) ?? 0);
      if (count === 0) continue;
      state.total -= sum;
      if (count === list.length) state.entries.delete(origin);
      else list.splice(0, count);
    }
  },

  isEmpty: (state) => state.entries.size === 0,

  compact(state, stable) {
    // Every future op has observed the stable prefix, so any later reset covers all of it or
    // none of it: one entry at the prefix's last seq behaves exactly like the prefix.
    for (const [origin, list] of state.entries) {
      const { count, sum } = prefix(list, stable.get(origin) ?? 0);
      const last = list[count - 1];
      if (count < 2 || !last) continue;
      list.splice(0, count, [last[0], sum]);
    }
  },

  encode(state): Json {
    const entries: Json[] = [];
    for (const origin of [...state.entries.keys()].sort()) {
      for (const [seq, delta] of state.entries.get(origin) ?? [])
        entries.push([origin, seq, delta.toString()]);
    }
    return { entries };
  },

  decode: (j) => decode(j),

  clone: (state) => ({
    entries: new Map(
      [...state.entries].map(([origin, list]) => [origin, list.map(([s, d]): PnCounterEntry => [s, d])]),
    ),
    total: state.total,
  }),
};
