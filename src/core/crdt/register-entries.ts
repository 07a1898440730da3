/**
 * The entry list shared by the LWW-register (Shapiro et al., INRIA RR-7506, §3.2.1,
 * Specs 8-9) and the MV-register (§3.2.2, Spec 10). Both keep one entry per write that no later write has observed: a
 * write carries the observed context of its source and drops exactly the entries it covers,
 * so a write that causally follows another overwrites it whatever their timestamps, and
 * concurrent writes coexist. The two types differ only in how a reader sees the entries
 * (`makeRegisterType`'s `read`): LWW picks the greatest (HLC, origin), MV returns them all.
 *
 * Keeping every concurrent entry (bounded by the number of concurrent writers, since each
 * origin's own writes observe its previous one) is what makes causal reset exact: a delete
 * removes only the entries it saw, and a concurrent write, even one that would lose under
 * LWW, survives at every replica alike.
 *
 * Values are stored as deep-frozen copies of their canonical JSON (sorted keys), so equal
 * values encode alike wherever they were written, and a reader holding `value`'s result
 * cannot change the state through it.
 */
import { type Dot, compareDots, covers, isCount } from '../clock/vector-clock.js';
import type { Hlc } from '../clock/hlc.js';
import { ErrorCode, SmacError, fail } from '../errors.js';
import { type Json, canonicalJson, isRecord } from '../json.js';
import type { CrdtType, ParseContext } from './crdt.js';
import { type CtxRecord, ctxFromJson, ctxToJson, observedOfDots, onlyKeys } from './dots.js';

export interface RegisterEntry {
  readonly dot: Dot;
  readonly hlc: Hlc;
  /** Deep-frozen; never mutate. */
  readonly value: Json;
}

export interface RegisterState {
  /** Sorted by dot (`compareDots`), at most one entry per dot. */
  entries: RegisterEntry[];
}

export interface RegisterOp {
  readonly kind: 'set';
  readonly value: Json;
}

/** Downstream op: the value and the observed context of the entries its source held. */
export interface RegisterDown {
  readonly v: Json;
  readonly c: CtxRecord;
}

function deepFreeze(v: Json): Json {
  if (typeof v === 'object' && v !== null) {
    for (const x of Object.values(v)) deepFreeze(x);
    Object.freeze(v);
  }
  return v;
}

/** Validates a value against the size bound and returns its frozen canonical copy. */
function storedValue(v: unknown, pc: ParseContext, what: string): Json {
  return deepFreeze(JSON.parse(canonicalJson(v, pc.limits.maxValueBytes, what)) as Json);
}

function parseOp(op: unknown, pc: ParseContext): RegisterOp {
  if (!isRecord(op)) {
    fail(ErrorCode.InvalidOp, 'A register op must be an object such as {"kind":"set","value":...}.');
  }
  onlyKeys(op, ['kind', 'value'], 'A register op', ErrorCode.InvalidOp);
  if (op.kind !== 'set') fail(ErrorCode.InvalidOp, 'A register op kind must be "set".');
  if (!('value' in op)) {
    fail(ErrorCode.InvalidOp, 'A register set op needs a "value" (use null for an empty value).');
  }
  return { kind: 'set', value: storedValue(op.value, pc, 'register value') };
}

function parseDownstream(d: unknown, pc: ParseContext): RegisterDown {
  if (!isRecord(d)) {
    fail(ErrorCode.InvalidOp, 'A register downstream op must be an object {"v": value, "c": context}.');
  }
  onlyKeys(d, ['v', 'c'], 'A register downstream op', ErrorCode.InvalidOp);
  if (!('v' in d)) fail(ErrorCode.InvalidOp, 'A register downstream op needs a value "v".');
  const v = storedValue(d.v, pc, 'register value');
  return { v, c: ctxToJson(ctxFromJson(d.c, 'register downstream context')) };
}

function coveredBy(c: CtxRecord, dot: Dot): boolean {
  return Object.hasOwn(c, dot.origin) && dot.seq <= (c[dot.origin] ?? 0);
}

function sameDot(a: Dot, b: Dot): boolean {
  return a.origin === b.origin && a.seq === b.seq;
}

function decodeError(message: string): never {
  return fail(ErrorCode.DecodeError, `Cannot decode a register snapshot: ${message}`);
}

function decode(j: unknown, pc: ParseContext): RegisterState {
  if (!isRecord(j)) decodeError('expected an object {"entries": [...]}.');
  onlyKeys(j, ['entries'], 'A register snapshot', ErrorCode.DecodeError);
  if (!Array.isArray(j.entries)) {
    decodeError('"entries" must be an array of [origin, seq, wall, logical, value].');
  }
  const entries: RegisterEntry[] = [];
  for (const item of j.entries as unknown[]) {
    if (!Array.isArray(item) || item.length !== 5) {
      decodeError('each entry must be [origin, seq, wall, logical, value].');
    }
    const [origin, seq, wall, logical, value] = item as unknown[];
    if (typeof origin !== 'string' || origin.length === 0) {
      decodeError('an entry origin must be a non-empty string.');
    }
    if (!isCount(seq) || seq === 0) decodeError('an entry seq must be a positive safe integer.');
    if (!isCount(wall) || !isCount(logical)) {
      decodeError('an entry timestamp must be non-negative safe integers.');
    }
    const dot = { origin, seq };
    const prev = entries[entries.length - 1];
    if (prev && compareDots(prev.dot, dot) >= 0) {
      decodeError('entries must be sorted by dot, without duplicates.');
    }
    let stored: Json;
    try {
      stored = storedValue(value, pc, 'register value');
    } catch (e) {
      if (e instanceof SmacError) decodeError(e.message);
      throw e;
    }
    entries.push({ dot, hlc: { wall, logical }, value: stored });
  }
  return { entries };
}

/** Builds a register type over the shared entry list; `read` turns the live entries into the value. */
export function makeRegisterType(
  name: 'lww-register' | 'mv-register',
  read: (entries: readonly RegisterEntry[]) => Json,
): CrdtType<RegisterState, RegisterOp, RegisterDown> {
  return {
    name,
    empty: () => ({ entries: [] }),
    parseOp,
    prepare: (state, op) => ({ v: op.value, c: ctxToJson(observedOfDots(state.entries.map((e) => e.dot))) }),
    parseDownstream,

    effect(state, d, ctx) {
      // The event's own dot counts as observed: a later op of the same event replaces an
      // earlier one, whether or not the source prepared it after applying the earlier one.
      const kept = state.entries.filter((e) => !coveredBy(d.c, e.dot) && !sameDot(e.dot, ctx.dot));
      const dot = { origin: ctx.dot.origin, seq: ctx.dot.seq };
      let i = kept.length;
      while (i > 0 && compareDots(kept[i - 1]?.dot ?? dot, dot) > 0) i--;
      kept.splice(i, 0, { dot, hlc: { wall: ctx.hlc.wall, logical: ctx.hlc.logical }, value: d.v });
      state.entries = kept;
    },

    value: (state) => read(state.entries),
    observed: (state) => observedOfDots(state.entries.map((e) => e.dot)),

    reset(state, ctx) {
      state.entries = state.entries.filter((e) => !covers(ctx, e.dot));
    },

    isEmpty: (state) => state.entries.length === 0,

    // Nothing to fold: each origin holds at most one entry (its writes observe its previous
    // one), so the state is already bounded by the number of concurrent writers. Dropping a
    // stable losing entry would shrink `observed`, and a later write prepared here would then
    // fail to overwrite that entry at replicas that kept it.
    compact: () => undefined,

    encode: (state) => ({
      entries: state.entries.map((e) => [e.dot.origin, e.dot.seq, e.hlc.wall, e.hlc.logical, e.value]),
    }),

    decode,

    // Entries and their values are immutable, so sharing them is safe.
    clone: (state) => ({ entries: [...state.entries] }),
  };
}
