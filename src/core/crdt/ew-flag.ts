/**
 * Enable-wins flag: an observed-remove set of a single element (Shapiro et al., INRIA RR-7506,
 * §3.3.5, Spec 15 OR-Set). Each enable adds its event's dot; enable and disable both remove
 * the dots their source had observed. The flag is on while any dot is present, so an enable
 * concurrent with a disable (which cannot have observed it) wins. The OR-map uses the flag as
 * an entry's presence marker through the ordinary `prepare`/`effect`/`reset`.
 */
import { type Dot, compareDots } from '../clock/vector-clock.js';
import { ErrorCode, fail } from '../errors.js';
import { type Json, isRecord } from '../json.js';
import type { CrdtType } from './crdt.js';
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

export type EwFlagOp = { readonly kind: 'enable' } | { readonly kind: 'disable' };

/** Downstream op: enable (`e`) or disable, with the observed context `c` of its source. */
export interface EwFlagDown {
  readonly e: boolean;
  readonly c: CtxRecord;
}

export interface EwFlagState {
  /** The enables no op has observed yet, sorted by `compareDots`. */
  dots: Dot[];
}

function coveredBy(c: CtxRecord, dot: Dot): boolean {
  return Object.hasOwn(c, dot.origin) && dot.seq <= (c[dot.origin] ?? 0);
}

function decode(j: unknown): EwFlagState {
  if (!isRecord(j)) {
    fail(ErrorCode.DecodeError, 'Cannot decode a flag snapshot: expected an object {"dots": [...]}.');
  }
  onlyKeys(j, ['dots'], 'A flag snapshot', ErrorCode.DecodeError);
  if (!Array.isArray(j.dots)) {
    fail(ErrorCode.DecodeError, 'Cannot decode a flag snapshot: "dots" must be an array.');
  }
  const dots: Dot[] = [];
  for (const raw of j.dots as unknown[]) {
    const dot = dotFromJson(raw, 'flag dot');
    const prev = dots[dots.length - 1];
    if (prev && compareDots(prev, dot) >= 0) {
      fail(ErrorCode.DecodeError, 'Cannot decode a flag snapshot: dots must be sorted, without duplicates.');
    }
    dots.push(dot);
  }
  return { dots };
}

export const ewFlag: CrdtType<EwFlagState, EwFlagOp, EwFlagDown> = {
  name: 'ew-flag',

  empty: () => ({ dots: [] }),

  parseOp(op) {
    if (!isRecord(op)) fail(ErrorCode.InvalidOp, 'A flag op must be an object such as {"kind":"enable"}.');
    onlyKeys(op, ['kind'], 'A flag op', ErrorCode.InvalidOp);
    if (op.kind === 'enable') return { kind: 'enable' };
    if (op.kind === 'disable') return { kind: 'disable' };
    return fail(ErrorCode.InvalidOp, 'A flag op kind must be "enable" or "disable".');
  },

  prepare: (state, op) => ({ e: op.kind === 'enable', c: ctxToJson(observedOfDots(state.dots)) }),

  parseDownstream(d) {
    if (!isRecord(d)) {
      fail(ErrorCode.InvalidOp, 'A flag downstream op must be an object {"e": boolean, "c": context}.');
    }
    onlyKeys(d, ['e', 'c'], 'A flag downstream op', ErrorCode.InvalidOp);
    if (typeof d.e !== 'boolean') fail(ErrorCode.InvalidOp, 'A flag downstream op needs a boolean "e".');
    return { e: d.e, c: ctxToJson(ctxFromJson(d.c, 'flag downstream context')) };
  },

  effect(state, d, ctx) {
    // The event's own dot counts as observed, so the last op of an event decides, whether or
    // not the source prepared it after applying the earlier ones.
    const own = ctx.dot;
    const kept = state.dots.filter(
      (x) => !coveredBy(d.c, x) && !(x.origin === own.origin && x.seq === own.seq),
    );
    if (d.e) {
      const dot = { origin: own.origin, seq: own.seq };
      let i = kept.length;
      while (i > 0 && compareDots(kept[i - 1] ?? dot, dot) > 0) i--;
      kept.splice(i, 0, dot);
    }
    state.dots = kept;
  },

  value: (state) => state.dots.length > 0,

  observed: (state) => observedOfDots(state.dots),

  reset(state, ctx) {
    state.dots = dropCovered(state.dots, ctx);
  },

  isEmpty: (state) => state.dots.length === 0,

  // Nothing to fold: each origin holds at most one dot (its ops observe its previous one), and
  // dropping a stable dot would shrink `observed`, so a later disable prepared here would miss
  // that dot at replicas that kept it.
  compact: () => undefined,

  encode: (state): Json => ({ dots: state.dots.map(dotToJson) }),

  decode: (j) => decode(j),

  // Dots are immutable, so sharing them is safe.
  clone: (state) => ({ dots: [...state.dots] }),
};
