/**
 * Watch cursors (DESIGN.md "Services" → Watches): a cursor is the agent's vector clock, as
 * JSON with sorted keys, encoded base64url so it fits a URL and an SSE `id:` line unchanged.
 * Opaque to clients; only this module reads one.
 */
import {
  type ReadonlyVectorClock,
  type VectorClock,
  vcFromRecord,
  vcToRecord,
} from '../core/clock/vector-clock.js';
import { ApiError, ApiErrorCode } from './errors.js';

/** Longest cursor accepted, in characters (~500 origins); a URL line is bounded anyway. */
export const MAX_CURSOR_CHARS = 16_384;

export function encodeCursor(vc: ReadonlyVectorClock): string {
  return Buffer.from(JSON.stringify(vcToRecord(vc)), 'utf8').toString('base64url');
}

/** Decodes a cursor from untrusted input; throws ApiError INVALID_CURSOR on anything else. */
export function decodeCursor(cursor: string): VectorClock {
  const bad = (why: string): never => {
    throw new ApiError(
      ApiErrorCode.InvalidCursor,
      `The cursor ${why}; pass an \`id\` received from /v1/watch, or omit it to start from a snapshot.`,
    );
  };
  if (cursor.length > MAX_CURSOR_CHARS) bad(`is longer than ${MAX_CURSOR_CHARS} characters`);
  if (!/^[A-Za-z0-9_-]*$/.test(cursor)) bad('is not base64url');
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    bad('does not decode to JSON');
  }
  try {
    return vcFromRecord(parsed, 'cursor');
  } catch {
    return bad('is not a vector clock');
  }
}
