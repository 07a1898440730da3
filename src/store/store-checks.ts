/**
 * Checks of the Store's arguments. Its callers are this agent's own code, so a bad argument is
 * a bug: STORE_INVALID_ARGUMENT with a sentence naming the argument, before anything is written.
 */
import { isWellFormedText } from '../core/codec/index.js';
import { isCount, type ReadonlyVectorClock } from '../core/clock/vector-clock.js';
import { StoreError, StoreErrorCode } from './store-errors.js';

export const MAX_PAGE_SIZE = 10_000;

export function invalid(message: string, details?: Record<string, unknown>): never {
  throw new StoreError(
    StoreErrorCode.InvalidArgument,
    message,
    details === undefined ? undefined : { details },
  );
}

export function checkOrigin(origin: unknown, what: string): asserts origin is string {
  if (typeof origin !== 'string' || origin.length === 0) invalid(`${what} must be a non-empty string.`);
  if (!isWellFormedText(origin)) invalid(`${what} must be well-formed text (it has a lone surrogate).`);
}

export function checkSeq(seq: unknown, what: string): asserts seq is number {
  if (!isCount(seq) || seq === 0) invalid(`${what} must be a positive safe integer (got ${String(seq)}).`);
}

export function checkCount(n: unknown, what: string): asserts n is number {
  if (!isCount(n)) invalid(`${what} must be a non-negative safe integer (got ${String(n)}).`);
}

export function checkBytes(bytes: unknown, what: string): asserts bytes is Uint8Array {
  if (!(bytes instanceof Uint8Array)) invalid(`${what} must be a Uint8Array.`);
}

export function checkPageSize(pageSize: unknown): asserts pageSize is number {
  if (!isCount(pageSize) || pageSize === 0 || pageSize > MAX_PAGE_SIZE) {
    invalid(`pageSize must be an integer from 1 to ${MAX_PAGE_SIZE} (got ${String(pageSize)}).`);
  }
}

export function checkClock(vc: unknown, what: string): asserts vc is ReadonlyVectorClock {
  if (!(vc instanceof Map)) invalid(`${what} must be a Map of replica id to count.`);
  for (const [id, n] of vc as Map<unknown, unknown>) {
    if (typeof id !== 'string' || id.length === 0)
      invalid(`${what} has a replica id that is not a non-empty string.`);
    if (!isCount(n))
      invalid(`${what} entry for ${id} must be a non-negative safe integer (got ${String(n)}).`);
  }
}

/** The argument of Store.appendEvents: an array of { origin, seq, bytes }. */
export function checkEventsToAppend(events: unknown): void {
  // Checked through `unknown`: Array.isArray would narrow a readonly array to any[].
  if (!Array.isArray(events)) invalid('appendEvents takes an array of { origin, seq, bytes }.');
  events.forEach((e: unknown, i) => {
    if (typeof e !== 'object' || e === null)
      invalid(`events[${i}] must be an object { origin, seq, bytes }.`);
    const { origin, seq, bytes } = e as { origin?: unknown; seq?: unknown; bytes?: unknown };
    checkOrigin(origin, `events[${i}].origin`);
    checkSeq(seq, `events[${i}].seq`);
    checkBytes(bytes, `events[${i}].bytes`);
  });
}
