/**
 * Remove-wins set (Shapiro et al., INRIA RR-7506, §3.3.3: the remove-wins alternative to the
 * add-wins OR-set discussed there, with add-tags and remove-tags). Each element holds the dots
 * of the adds and of the removes that no later op on it has observed. Every op on an element drops the dots its source
 * observed (an observed context, crdt.ts) and adds its own dot to its list. The element is
 * present while it has an add-dot and no remove-dot, so an add concurrent with a remove loses,
 * and a later add that observed both brings the element back. A remove of an element that was
 * never added still records its dot: it blocks a concurrent add.
 *
 * `clear` is a remove of every element, observed or not: it wins over every concurrent add, of
 * an element the clearer saw or of a new one. Carrying a list of the elements seen would make a
 * clear as large as the set; a remove limited to "elements holding a covered add-dot" cannot be
 * evaluated the same way at every replica (a concurrent add replaces the covered dot). So the
 * state is a model of every possible element: `clears` holds the remove-dots of all elements
 * without an entry, and `elems` holds only the elements whose dots differ from that default.
 * Ops on one element never touch another, and clear and reset treat all elements alike, so
 * concurrent effects commute element by element, and the representation is canonical.
 *
 * Compaction drops tombstones once stable. A replica that dropped a dot must still cover it in
 * the contexts it sends, or a peer that has not compacted yet would keep it and, with it, block
 * a later add forever: `floor` does that.
 */
import {
  type Dot,
  type ReadonlyVectorClock,
  type VectorClock,
  covers,
  vcClone,
  vcFromRecord,
  vcMergeInto,
  vcToRecord,
} from '../clock/vector-clock.js';
import { ErrorCode, fail } from '../errors.js';
import { type Json, isRecord } from '../json.js';
import type { CrdtType, ParseContext } from './crdt.js';
import {
  type SetDown,
  type SetOp,
  coveredBy,
  decodeDots,
  decodeElement,
  elementKey,
  encodeDots,
  parseSetDown,
  parseSetOp,
  sameDot,
  sortedKeys,
} from './aw-set.js';
import { ctxToJson, dropCovered, observedOfDots } from './dots.js';

export type RwSetOp = SetOp;
export type RwSetDown = SetDown;

export interface RwSetEntry {
  /** The element in canonical form. */
  readonly value: Json;
  /** Dots of the adds of this element that no later op on it has observed. */
  adds: Dot[];
  /** Dots of the removes (and clears) of this element that no later op on it has observed. */
  removes: Dot[];
}

export interface RwSetState {
  /**
   * Canonical JSON -> entry, for the elements whose dots differ from the default (no adds,
   * removes = `clears`). Absent elements that still block concurrent adds are here too.
   */
  readonly elems: Map<string, RwSetEntry>;
  /** The remove-dots of every element without an entry: clears no op on it has observed. */
  clears: Dot[];
  /**
   * Covers every dot compaction dropped since the last reset. Ops on an element without an
   * entry, and clears, carry it in their context, so peers that still hold a dropped dot drop
   * it (see `compact`). Empty until the first compaction of a non-empty state.
   */
  floor: VectorClock;
}

const NAME = 'rw-set';

function sameDots(a: readonly Dot[], b: readonly Dot[]): boolean {
  // Lists never hold a dot twice, so equal length and inclusion mean equal sets.
  return a.length === b.length && a.every((x) => b.some((y) => sameDot(x, y)));
}

/** Stores `e` under `key`, or drops it when it is indistinguishable from the default. */
function settle(state: RwSetState, key: string, e: RwSetEntry): void {
  if (e.adds.length === 0 && sameDots(e.removes, state.clears)) state.elems.delete(key);
  else state.elems.set(key, e);
}

function isPresent(e: RwSetEntry): boolean {
  return e.adds.length > 0 && e.removes.length === 0;
}

function isEmptyRw(state: RwSetState): boolean {
  return state.elems.size === 0 && state.clears.length === 0 && state.floor.size === 0;
}

function observedRw(state: RwSetState): VectorClock {
  const out = vcClone(state.floor);
  observedOfDots(state.clears, out);
  for (const e of state.elems.values()) {
    observedOfDots(e.adds, out);
    observedOfDots(e.removes, out);
  }
  return out;
}

function resetRw(state: RwSetState, ctx: ReadonlyVectorClock): void {
  state.clears = dropCovered(state.clears, ctx);
  for (const [key, e] of state.elems) {
    e.adds = dropCovered(e.adds, ctx);
    e.removes = dropCovered(e.removes, ctx);
    settle(state, key, e);
  }
  // A reset's context is the deleter's `observed`, which covers its floor. Every dot a floor
  // stands for was, at the deleter, present (covered now), dropped by an op the reset follows,
  // or compacted (covered by its floor): after the reset no replica holds one, so no context
  // needs to cover them any more. Clearing the floor lets a deleted set become empty again.
  state.floor = new Map();
}

function compactRw(state: RwSetState, stable: ReadonlyVectorClock): void {
  // An empty state stays empty, so compaction never changes `isEmpty` (the OR-map shows a
  // field while its state is non-empty). Raising the floor to the whole frontier rather than
  // to the dots dropped makes replicas that compacted at different times agree afterwards.
  if (isEmptyRw(state)) return;
  vcMergeInto(state.floor, stable);
  const isStable = (d: Dot) => covers(stable, d);
  if (state.clears.every(isStable)) state.clears = [];
  // While an unstable clear remains, an entry cannot fall back to the default: the default
  // carries that clear's dot, which ops on this element may already have observed.
  if (state.clears.length > 0) return;
  for (const [key, e] of state.elems) {
    // Absent with only stable dots: every future op on it observed them, so it stays absent
    // until an op that drops them all. Dropping it now changes nothing a reader can see.
    if (!isPresent(e) && e.adds.every(isStable) && e.removes.every(isStable)) state.elems.delete(key);
    else settle(state, key, e);
  }
}

function decodeRw(j: unknown, pc: ParseContext): RwSetState {
  const shape =
    'Cannot decode an rw-set snapshot: expected {"elems": [[element, adds, removes], ...], "clears": [...], "floor": {...}}.';
  if (!isRecord(j) || !Array.isArray(j.elems)) fail(ErrorCode.DecodeError, shape);
  for (const k of Object.keys(j)) {
    if (!['elems', 'clears', 'floor'].includes(k)) fail(ErrorCode.DecodeError, shape);
  }
  let floor: VectorClock;
  try {
    floor = vcFromRecord(j.floor, 'rw-set floor');
  } catch {
    return fail(
      ErrorCode.DecodeError,
      'Cannot decode an rw-set snapshot: "floor" must be an object of origin to count.',
    );
  }
  const state: RwSetState = {
    elems: new Map(),
    clears: decodeDots(j.clears, 'the clears of an rw-set'),
    floor,
  };
  for (const row of j.elems as unknown[]) {
    if (!Array.isArray(row) || row.length !== 3) fail(ErrorCode.DecodeError, shape);
    const [rawValue, rawAdds, rawRemoves] = row as [unknown, unknown, unknown];
    const { key, value } = decodeElement(rawValue, pc, NAME);
    if (state.elems.has(key)) {
      fail(ErrorCode.DecodeError, `Cannot decode an rw-set snapshot: the element ${key} is listed twice.`);
    }
    const e: RwSetEntry = {
      value,
      adds: decodeDots(rawAdds, 'the adds of an rw-set element'),
      removes: decodeDots(rawRemoves, 'the removes of an rw-set element'),
    };
    // The encoder leaves such entries out; keeping them would make equal states encode apart.
    if (e.adds.length === 0 && sameDots(e.removes, state.clears)) {
      fail(
        ErrorCode.DecodeError,
        `Cannot decode an rw-set snapshot: the element ${key} holds only the default dots.`,
      );
    }
    state.elems.set(key, e);
  }
  return state;
}

export const rwSet: CrdtType<RwSetState, RwSetOp, RwSetDown> = {
  name: NAME,

  empty: () => ({ elems: new Map(), clears: [], floor: new Map() }),

  parseOp: (op, pc) => parseSetOp(op, pc, NAME),

  prepare(state, op) {
    if (op.kind === 'clear') return { x: 1, c: ctxToJson(observedRw(state)) };
    const e = state.elems.get(elementKey(op.value));
    // Without an entry the element may have been compacted away here: cover what was dropped.
    const seen = e
      ? observedOfDots(e.removes, observedOfDots(e.adds))
      : observedOfDots(state.clears, vcClone(state.floor));
    const c = ctxToJson(seen);
    return op.kind === 'add' ? { a: op.value, c } : { r: op.value, c };
  },

  parseDownstream: (d, pc) => parseSetDown(d, pc, NAME),

  effect(state, d, ctx) {
    const own = ctx.dot;
    const dot: Dot = { origin: own.origin, seq: own.seq };
    // The event's own dot counts as observed, as in aw-set.ts: within one event the later op decides.
    const keep = (x: Dot) => !coveredBy(d.c, x) && !sameDot(x, own);
    if ('x' in d) {
      state.clears = [...state.clears.filter(keep), dot];
      for (const [key, e] of state.elems) {
        e.adds = e.adds.filter(keep);
        e.removes = [...e.removes.filter(keep), dot];
        settle(state, key, e);
      }
      return;
    }
    const value = 'a' in d ? d.a : d.r;
    const key = elementKey(value);
    const e = state.elems.get(key) ?? { value, adds: [], removes: [...state.clears] };
    e.adds = e.adds.filter(keep);
    e.removes = e.removes.filter(keep);
    if ('a' in d) e.adds.push(dot);
    else e.removes.push(dot);
    settle(state, key, e);
  },

  value(state) {
    const out: Json[] = [];
    for (const k of sortedKeys(state.elems.keys())) {
      const e = state.elems.get(k);
      if (e && isPresent(e)) out.push(e.value);
    }
    return out;
  },

  observed: (state) => observedRw(state),

  reset: (state, ctx) => {
    resetRw(state, ctx);
  },

  isEmpty: (state) => isEmptyRw(state),

  compact: (state, stable) => {
    compactRw(state, stable);
  },

  encode: (state): Json => ({
    elems: sortedKeys(state.elems.keys()).map((k) => {
      const e = state.elems.get(k);
      return [e?.value ?? null, encodeDots(e?.adds ?? []), encodeDots(e?.removes ?? [])];
    }),
    clears: encodeDots(state.clears),
    floor: vcToRecord(state.floor),
  }),

  decode: (j, pc) => decodeRw(j, pc),

  clone: (state) => ({
    elems: new Map(
      [...state.elems].map(([k, e]) => [k, { value: e.value, adds: [...e.adds], removes: [...e.removes] }]),
    ),
    clears: [...state.clears],
    floor: vcClone(state.floor),
  }),
};
