/**
 * Vector clocks (Lamport 1978; Mattern 1989): one counter per origin replica, counting the
 * events of that origin a replica has delivered. SMAC uses them for causal delivery
 * (DESIGN.md "Causal delivery"), for the observed context of remove-like operations, and for
 * causal stability. Absent entries are zero; zero entries are never stored.
 */
import { ErrorCode, fail } from '../errors.js';
import { isRecord } from '../json.js';

export type ReplicaId = string;
export type VectorClock = Map<ReplicaId, number>;
export type ReadonlyVectorClock = ReadonlyMap<ReplicaId, number>;

/** A dot names one event: the `seq`-th event of `origin`. Every effect is tagged with its event's dot. */
export interface Dot {
  readonly origin: ReplicaId;
  readonly seq: number;
}

export type Ordering = 'equal' | 'before' | 'after' | 'concurrent';

export function vcGet(vc: ReadonlyVectorClock, id: ReplicaId): number {
  return vc.get(id) ?? 0;
}

/** True when the event `dot` is included in `vc` (it happened-before or is the clock's own). */
export function covers(vc: ReadonlyVectorClock, dot: Dot): boolean {
  return dot.seq <= (vc.get(dot.origin) ?? 0);
}

/** a ≤ b pointwise: everything a has seen, b has seen too. */
export function vcLeq(a: ReadonlyVectorClock, b: ReadonlyVectorClock): boolean {
  for (const [id, n] of a) if (n > (b.get(id) ?? 0)) return false;
  return true;
}

export function vcCompare(a: ReadonlyVectorClock, b: ReadonlyVectorClock): Ordering {
  const aLeq = vcLeq(a, b);
  const bLeq = vcLeq(b, a);
  if (aLeq && bLeq) return 'equal';
  if (aLeq) return 'before';
  if (bLeq) return 'after';
  return 'concurrent';
}

export function vcConcurrent(a: ReadonlyVectorClock, b: ReadonlyVectorClock): boolean {
  return vcCompare(a, b) === 'concurrent';
}

/** Pointwise maximum, as a new clock. */
export function vcMerge(a: ReadonlyVectorClock, b: ReadonlyVectorClock): VectorClock {
  const out = new Map(a);
  vcMergeInto(out, b);
  return out;
}

/** Pointwise maximum into `target` (mutates it). */
export function vcMergeInto(target: VectorClock, b: ReadonlyVectorClock): void {
  for (const [id, n] of b) if (n > (target.get(id) ?? 0)) target.set(id, n);
}

/** Pointwise minimum over clocks (the frontier all of them have reached); empty input gives {}. */
export function vcMin(clocks: readonly ReadonlyVectorClock[]): VectorClock {
  const out: VectorClock = new Map();
  const [first, ...rest] = clocks;
  if (!first) return out;
  for (const [id, n] of first) {
    let m = n;
    for (const c of rest) m = Math.min(m, c.get(id) ?? 0);
    if (m > 0) out.set(id, m);
  }
  return out;
}

export function vcEquals(a: ReadonlyVectorClock, b: ReadonlyVectorClock): boolean {
  return vcCompare(a, b) === 'equal';
}

export function vcClone(a: ReadonlyVectorClock): VectorClock {
  return new Map(a);
}

/** Plain-object form, keys sorted, for JSON output and snapshots. */
export function vcToRecord(vc: ReadonlyVectorClock): Record<ReplicaId, number> {
  const out: Record<ReplicaId, number> = {};
  for (const id of [...vc.keys()].sort()) {
    const n = vc.get(id) ?? 0;
    // defineProperty, so that an id like "__proto__" is an ordinary key.
    if (n > 0)
      Object.defineProperty(out, id, { value: n, enumerable: true, writable: true, configurable: true });
  }
  return out;
}

/** Parses and validates a clock from untrusted input (a message, a request body). */
export function vcFromRecord(v: unknown, what = 'vector clock'): VectorClock {
  if (!isRecord(v)) fail(ErrorCode.InvalidArgument, `The ${what} must be an object of replica id to count.`);
  const out: VectorClock = new Map();
  for (const [id, n] of Object.entries(v)) {
    if (id.length === 0) fail(ErrorCode.InvalidArgument, `The ${what} has an empty replica id.`);
    if (!isCount(n)) {
      fail(ErrorCode.InvalidArgument, `The ${what} entry for ${id} must be a non-negative safe integer.`);
    }
    if (n > 0) out.set(id, n);
  }
  return out;
}

export function isCount(n: unknown): n is number {
  return typeof n === 'number' && Number.isSafeInteger(n) && n >= 0;
}

export function isDot(v: unknown): v is Dot {
  return isRecord(v) && typeof v.origin === 'string' && v.origin.length > 0 && isCount(v.seq) && v.seq > 0;
}

/** Total order on dots (origin, then seq), used only to make outputs deterministic. */
export function compareDots(a: Dot, b: Dot): number {
  if (a.origin !== b.origin) return a.origin < b.origin ? -1 : 1;
  return a.seq - b.seq;
}
