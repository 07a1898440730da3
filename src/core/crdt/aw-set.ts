/**
 * Add-wins set: the observed-remove set (OR-set) of Shapiro et al., INRIA RR-7506, §3.3.5,
 * Specification 15. An add tags its element with the dot of its event; remove and clear drop
 * the tags their source had observed, named by an observed context (crdt.ts) instead of the
 * tags themselves. An add concurrent with a remove was not observed by it, so its tag survives:
 * add wins. An add also drops the tags it observed, so an element carries at most one tag per
 * concurrent adder rather than one per add ever made, and there are no tombstones to compact.
 *
 * Elements are JSON values identified by canonical JSON (json.ts): {"a":1,"b":2} and
 * {"b":2,"a":1} are one element, and the set stores and returns the canonical form. The parsing
 * helpers here are shared with the remove-wins set (rw-set.ts), which has the same op shapes.
 */
import { type Dot, type VectorClock, compareDots } from '../clock/vector-clock.js';
import { ErrorCode, fail, isSmacError } from '../errors.js';
import { type Json, canonicalJson, isRecord } from '../json.js';
import type { CrdtType, ParseContext } from './crdt.js';
import {
  type CtxRecord,
  ctxFromJson,
  ctxToJson,
  dotFromJson,
  dotToJson,
  dropCovered,
  observedOfDots,
  onlyKeys,
} from './dots.js';

/** A user op on a set (add-wins or remove-wins), after `parseOp`: `value` is in canonical form. */
export type SetOp =
  | { readonly kind: 'add'; readonly value: Json }
  | { readonly kind: 'remove'; readonly value: Json }
  | { readonly kind: 'clear' };

/**
 * Downstream op of a set: add (`a`), remove (`r`) or clear (`x: 1`), each with the observed
 * context `c` of its source (of the element for add and remove, of the whole set for clear).
 */
export type SetDown =
  | { readonly a: Json; readonly c: CtxRecord }
  | { readonly r: Json; readonly c: CtxRecord }
  | { readonly x: 1; readonly c: CtxRecord };

export type AwSetOp = SetOp;
export type AwSetDown = SetDown;

export interface AwSetEntry {
  /** The element in canonical form. */
  readonly value: Json;
  /** Dots of the adds that no remove, clear, reset or later add has observed. Never empty. */
  tags: Dot[];
}

/** Canonical JSON of the element -> its entry. Only present elements have an entry. */
export type AwSetState = Map<string, AwSetEntry>;

/** Identity of an element that has already been validated (so no bound applies). */
export function elementKey(value: Json): string {
  return canonicalJson(value, Number.POSITIVE_INFINITY, 'set element');
}

/**
 * Validates an element and returns its identity and canonical form. Throws INVALID_VALUE or
 * TOO_LARGE (canonicalJson).
 */
export function parseElement(v: unknown, pc: ParseContext): { key: string; value: Json } {
  const key = canonicalJson(v, pc.limits.maxValueBytes, 'set element');
  // Storing the canonical form makes states equal whichever spelling each replica saw.
  return { key, value: JSON.parse(key) as Json };
}

/** Parses `{ kind: 'add' | 'remove', value }` or `{ kind: 'clear' }`. */
export function parseSetOp(op: unknown, pc: ParseContext, typeName: string): SetOp {
  const shape = `A ${typeName} op must be {"kind":"add"|"remove","value":<JSON>} or {"kind":"clear"}.`;
  if (!isRecord(op)) fail(ErrorCode.InvalidOp, shape);
  switch (op.kind) {
    case 'add':
    case 'remove': {
      onlyKeys(op, ['kind', 'value'], `A ${typeName} ${op.kind} op`, ErrorCode.InvalidOp);
      if (op.value === undefined) fail(ErrorCode.InvalidOp, `A ${typeName} ${op.kind} op needs a "value".`);
      return { kind: op.kind, value: parseElement(op.value, pc).value };
    }
    case 'clear':
      onlyKeys(op, ['kind'], `A ${typeName} clear op`, ErrorCode.InvalidOp);
      return { kind: 'clear' };
    default:
      return fail(ErrorCode.InvalidOp, shape);
  }
}

/** Parses a downstream op `{ a | r: element, c }` or `{ x: 1, c }` received from a peer. */
export function parseSetDown(d: unknown, pc: ParseContext, typeName: string): SetDown {
  const shape = `A ${typeName} downstream op must be {"a"|"r": <element>, "c": <context>} or {"x": 1, "c": <context>}.`;
  if (!isRecord(d)) fail(ErrorCode.InvalidOp, shape);
  const has = (k: string) => Object.hasOwn(d, k) && d[k] !== undefined;
  const kinds = ['a', 'r', 'x'].filter(has);
  const [kind] = kinds;
  if (kind === undefined || kinds.length !== 1) fail(ErrorCode.InvalidOp, shape);
  onlyKeys(d, [kind, 'c'], `A ${typeName} downstream op`, ErrorCode.InvalidOp);
  const c = ctxToJson(ctxFromJson(d.c, `${typeName} downstream context`));
  switch (kind) {
    case 'a':
      return { a: parseElement(d.a, pc).value, c };
    case 'r':
      return { r: parseElement(d.r, pc).value, c };
    default:
      if (d.x !== 1) fail(ErrorCode.InvalidOp, `A ${typeName} clear downstream op must have "x": 1.`);
      return { x: 1, c };
  }
}

/** True when the observed context `c` (as carried in a downstream op) covers `dot`. */
export function coveredBy(c: CtxRecord, dot: Dot): boolean {
  return Object.hasOwn(c, dot.origin) && dot.seq <= (c[dot.origin] ?? 0);
}

export function sameDot(a: Dot, b: Dot): boolean {
  return a.origin === b.origin && a.seq === b.seq;
}

/** An element from a snapshot; bad or oversized elements are DECODE_ERROR like any other damage. */
export function decodeElement(v: unknown, pc: ParseContext, typeName: string): { key: string; value: Json } {
  try {
    return parseElement(v, pc);
  } catch (e) {
    if (!isSmacError(e)) throw e;
    return fail(ErrorCode.DecodeError, `Cannot decode a ${typeName} snapshot: ${e.message}`);
  }
}

/** A list of distinct dots from a snapshot. */
export function decodeDots(v: unknown, what: string): Dot[] {
  if (!Array.isArray(v))
    fail(ErrorCode.DecodeError, `Cannot decode ${what}: expected an array of [origin, seq].`);
  const dots = (v as unknown[]).map((x) => dotFromJson(x, `dot in ${what}`));
  const seen = new Set(dots.map((x) => JSON.stringify([x.origin, x.seq])));
  if (seen.size !== dots.length) fail(ErrorCode.DecodeError, `Cannot decode ${what}: a dot is listed twice.`);
  return dots;
}

export function encodeDots(dots: readonly Dot[]): Json {
  return [...dots].sort(compareDots).map(dotToJson);
}

/** Keys in the reader's order: by canonical JSON (UTF-16 code units, so it is locale-free). */
export function sortedKeys(keys: Iterable<string>): string[] {
  return [...keys].sort((x, y) => (x < y ? -1 : x > y ? 1 : 0));
}

function observedAw(state: AwSetState): VectorClock {
  const out: VectorClock = new Map();
  for (const e of state.values()) observedOfDots(e.tags, out);
  return out;
}

function decodeAw(j: unknown, pc: ParseContext): AwSetState {
  const shape =
    'Cannot decode an aw-set snapshot: expected {"elems": [[element, [[origin, seq], ...]], ...]}.';
  if (!isRecord(j) || !Array.isArray(j.elems)) fail(ErrorCode.DecodeError, shape);
  onlyKeys(j, ['elems'], 'An aw-set snapshot', ErrorCode.DecodeError);
  const state: AwSetState = new Map();
  for (const row of j.elems as unknown[]) {
    if (!Array.isArray(row) || row.length !== 2) fail(ErrorCode.DecodeError, shape);
    const [rawValue, rawTags] = row as [unknown, unknown];
    const { key, value } = decodeElement(rawValue, pc, 'aw-set');
    if (state.has(key))
      fail(ErrorCode.DecodeError, `Cannot decode an aw-set snapshot: the element ${key} is listed twice.`);
    const tags = decodeDots(rawTags, 'an aw-set element');
    // An element without tags is absent; the encoder never writes one, so it means damage.
    if (tags.length === 0)
      fail(ErrorCode.DecodeError, `Cannot decode an aw-set snapshot: the element ${key} has no tags.`);
    state.set(key, { value, tags });
  }
  return state;
}

export const awSet: CrdtType<AwSetState, AwSetOp, AwSetDown> = {
  name: 'aw-set',

  empty: () => new Map(),

  parseOp: (op, pc) => parseSetOp(op, pc, 'aw-set'),

  prepare(state, op) {
    if (op.kind === 'clear') return { x: 1, c: ctxToJson(observedAw(state)) };
    const c = ctxToJson(observedOfDots(state.get(elementKey(op.value))?.tags ?? []));
    return op.kind === 'add' ? { a: op.value, c } : { r: op.value, c };
  },

  parseDownstream: (d, pc) => parseSetDown(d, pc, 'aw-set'),

  effect(state, d, ctx) {
    const own = ctx.dot;
    // The event's own dot counts as observed (as in ew-flag.ts): within one event the later op
    // decides, and an element never holds the same tag twice.
    const keep = (t: Dot) => !coveredBy(d.c, t) && !sameDot(t, own);
    if ('x' in d) {
      for (const [key, e] of state) {
        e.tags = e.tags.filter(keep);
        if (e.tags.length === 0) state.delete(key);
      }
      return;
    }
    const value = 'a' in d ? d.a : d.r;
    const key = elementKey(value);
    const e = state.get(key);
    const tags = e ? e.tags.filter(keep) : [];
    if ('a' in d) tags.push({ origin: own.origin, seq: own.seq });
    if (tags.length > 0) state.set(key, { value: e?.value ?? value, tags });
    else state.delete(key);
  },

  value: (state) => sortedKeys(state.keys()).map((k) => state.get(k)?.value ?? null),

  observed: (state) => observedAw(state),

  reset(state, ctx) {
    for (const [key, e] of state) {
      e.tags = dropCovered(e.tags, ctx);
      if (e.tags.length === 0) state.delete(key);
    }
  },

  isEmpty: (state) => state.size === 0,

  // Nothing to fold: tags are already bounded by the number of concurrent adders, and a removed
  // element leaves no tombstone. Dropping a stable tag would hide a present element.
  compact: () => undefined,

  encode: (state): Json => ({
    elems: sortedKeys(state.keys()).map((k) => {
      const e = state.get(k);
      return [e?.value ?? null, encodeDots(e?.tags ?? [])];
    }),
  }),

  decode: (j, pc) => decodeAw(j, pc),

  // Elements are never mutated in place, so entries share them.
  clone: (state) => new Map([...state].map(([k, e]) => [k, { value: e.value, tags: [...e.tags] }])),
};
