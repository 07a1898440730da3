/**
 * Helpers shared by the dot-based types: observed contexts and the downstream encoding of a
 * context (a plain object of origin -> max seq, so it travels inside JSON ops).
 */
import {
  type Dot,
  type ReadonlyVectorClock,
  type VectorClock,
  covers,
  isDot,
  vcFromRecord,
  vcToRecord,
} from '../clock/vector-clock.js';
import { ErrorCode, fail } from '../errors.js';
import type { Json } from '../json.js';

/** Context as carried in a downstream op. */
export type CtxRecord = Record<string, number>;

/** Adds one dot to an observed context (per-origin maximum). */
export function observeDot(ctx: VectorClock, dot: Dot): void {
  if (dot.seq > (ctx.get(dot.origin) ?? 0)) ctx.set(dot.origin, dot.seq);
}

export function observedOfDots(dots: Iterable<Dot>, into: VectorClock = new Map()): VectorClock {
  for (const d of dots) observeDot(into, d);
  return into;
}

/** Keeps the dots not covered by `ctx`. Returns the same array when nothing is dropped. */
export function dropCovered(dots: Dot[], ctx: ReadonlyVectorClock): Dot[] {
  if (!dots.some((d) => covers(ctx, d))) return dots;
  return dots.filter((d) => !covers(ctx, d));
}

export function ctxToJson(ctx: ReadonlyVectorClock): CtxRecord {
  return vcToRecord(ctx);
}

export function ctxFromJson(v: unknown, what: string): VectorClock {
  try {
    return vcFromRecord(v, what);
  } catch {
    return fail(ErrorCode.InvalidOp, `The ${what} must be an object of origin to positive sequence number.`);
  }
}

export function dotToJson(d: Dot): Json {
  return [d.origin, d.seq];
}

export function dotFromJson(v: unknown, what = 'dot'): Dot {
  if (Array.isArray(v) && v.length === 2) {
    const dot = { origin: v[0] as unknown, seq: v[1] as unknown };
    if (isDot(dot)) return dot;
  }
  return fail(ErrorCode.DecodeError, `A ${what} must be [origin, seq] with a positive integer seq.`);
}

/** Refuses fields a message does not define, so a typo like `bу` cannot pass as a default. */
export function onlyKeys(
  o: Record<string, unknown>,
  allowed: readonly string[],
  what: string,
  code: ErrorCode,
): void {
  for (const k of Object.keys(o)) {
    if (!allowed.includes(k)) {
      fail(code, `${what} has an unknown field ${JSON.stringify(k)}; allowed: ${allowed.join(', ')}.`);
    }
  }
}
