/**
 * The contract every CmRDT in SMAC implements: the op-based split of Shapiro et al.,
 * "A comprehensive study of Convergent and Commutative Replicated Data Types" (INRIA RR-7506,
 * 2011), §2.2. `prepare` runs once, at the source, against the source's state and produces a
 * downstream op; `effect` applies that downstream op at every replica, the source included,
 * in causal order (the causal buffer guarantees it). Effects of concurrent ops commute.
 *
 * SMAC's types are "dot-based": every effect is tagged with the dot (origin, seq) of the event
 * that carries it. Remove-like ops (remove, overwrite, disable, delete) carry an *observed
 * context*: the per-origin maximum seq of the dots present at the source when it prepared
 * the op. Under causal delivery, a dot present at another replica was observed by the source
 * exactly when it is covered by that context, so "drop every covered dot" is the observed-
 * remove of RR-7506 without shipping each tag. It also gives every type one generic *causal
 * reset* (`reset`), which is how deleting an object or a map field behaves against concurrent
 * updates: effects the deleter saw are gone, concurrent ones survive.
 *
 * Rules for implementers:
 * - `parseOp` / `parseDownstream` validate untrusted input completely and throw SmacError.
 *   `prepare` and `effect` never throw on parsed input, so a batch validated up front can be
 *   applied without ever being half-applied.
 * - `effect` mutates the state in place; callers that need isolation use `clone`.
 * - Nothing here reads a clock, draws randomness or does I/O.
 */
import type { Dot, ReadonlyVectorClock, VectorClock } from '../clock/vector-clock.js';
import type { Hlc } from '../clock/hlc.js';
import type { Json } from '../json.js';
import type { Limits } from '../limits.js';

export const TYPE_NAMES = [
  'pn-counter',
  'lww-register',
  'mv-register',
  'aw-set',
  'rw-set',
  'ew-flag',
  'or-map',
] as const;

export type TypeName = (typeof TYPE_NAMES)[number];

export function isTypeName(v: unknown): v is TypeName {
  return typeof v === 'string' && (TYPE_NAMES as readonly string[]).includes(v);
}

/** What `parseOp`/`parseDownstream` need besides the input. */
export interface ParseContext {
  readonly limits: Limits;
  /** How many maps enclose this value (0 at the top level of the keyspace). */
  readonly depth: number;
}

/** The event an op belongs to. All ops of one event share it. */
export interface OpContext {
  /** The event's dot: (origin, seq). */
  readonly dot: Dot;
  /** The event's hybrid logical timestamp. */
  readonly hlc: Hlc;
}

export interface CrdtType<S, Op, D> {
  readonly name: TypeName;
  /** A state that holds no dots: what a replica has before any op. */
  empty(): S;
  /** Validates an untrusted user op (no state needed). Throws SmacError (INVALID_OP, TOO_LARGE, ...). */
  parseOp(op: unknown, pc: ParseContext): Op;
  /** Source only: the downstream op for a parsed op, capturing the observed context. Never throws. */
  prepare(state: S, op: Op, ctx: OpContext): D;
  /** Validates an untrusted downstream op received from a peer. Throws SmacError. */
  parseDownstream(d: unknown, pc: ParseContext): D;
  /** Every replica: applies a downstream op (mutates `state`). Never throws on parsed input. */
  effect(state: S, d: D, ctx: OpContext): void;
  /** The value a reader sees. Deterministic: equal states give equal (deep-equal) values. */
  value(state: S): Json;
  /** Per-origin maximum seq of the dots present (the context a reset of this state carries). */
  observed(state: S): VectorClock;
  /** Causal reset: removes the effect of every dot covered by `ctx`; keeps the rest. */
  reset(state: S, ctx: ReadonlyVectorClock): void;
  /** True when no dot is present: the state is indistinguishable from `empty()`. */
  isEmpty(state: S): boolean;
  /**
   * Folds information that is causally stable (covered by every replica, so every future op
   * has observed it) into a compact form. Must not change `value`.
   */
  compact(state: S, stable: ReadonlyVectorClock): void;
  /** Snapshot form of the state: plain JSON, deterministic for equal states. */
  encode(state: S): Json;
  /** Inverse of `encode`, validating untrusted input. Throws SmacError DECODE_ERROR. */
  decode(j: unknown, pc: ParseContext): S;
  clone(state: S): S;
}

/** A type whose state, op and downstream op types are erased (the registry's view). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyCrdt = CrdtType<any, any, any>;
