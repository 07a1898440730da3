/**
 * Plain JSON values: the only values SMAC stores. Validation walks the value once, rejects
 * anything that is not plain JSON, and measures its encoded size so bounds are enforced
 * before any state changes.
 */
import { ErrorCode, fail } from './errors.js';

export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

const MAX_DEPTH = 64;

/**
 * Checks that `v` is plain JSON and at most `maxBytes` when serialized. Returns the canonical
 * serialization (object keys sorted), which doubles as the value's identity in sets.
 */
export function canonicalJson(v: unknown, maxBytes: number, what = 'value'): string {
  const s = canon(v, 0, what);
  const bytes = utf8Length(s);
  if (bytes > maxBytes) {
    fail(ErrorCode.TooLarge, `The ${what} is ${bytes} bytes as JSON; the limit is ${maxBytes} bytes.`, {
      bytes,
      limit: maxBytes,
    });
  }
  return s;
}

function canon(v: unknown, depth: number, what: string): string {
  if (depth > MAX_DEPTH) fail(ErrorCode.InvalidValue, `The ${what} nests deeper than ${MAX_DEPTH} levels.`);
  if (v === null) return 'null';
  switch (typeof v) {
    case 'boolean':
      return v ? 'true' : 'false';
    case 'number':
      if (!Number.isFinite(v)) fail(ErrorCode.InvalidValue, `The ${what} contains a non-finite number.`);
      return JSON.stringify(v);
    case 'string':
      return JSON.stringify(v);
    case 'object': {
      if (Array.isArray(v)) return '[' + v.map((x) => canon(x, depth + 1, what)).join(',') + ']';
      const proto = Object.getPrototypeOf(v) as unknown;
      if (proto !== Object.prototype && proto !== null) {
        fail(ErrorCode.InvalidValue, `The ${what} contains a non-plain object; use JSON objects only.`);
      }
      const rec = v as Record<string, unknown>;
      const keys = Object.keys(rec).sort();
      return '{' + keys.map((k) => JSON.stringify(k) + ':' + canon(rec[k], depth + 1, what)).join(',') + '}';
    }
    default:
      return fail(ErrorCode.InvalidValue, `The ${what} contains a ${typeof v}, which is not JSON.`);
  }
}

/** UTF-8 byte length of a JS string without allocating (lone surrogates count as 3, as TextEncoder does). */
export function utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        n += 4;
        i++;
      } else n += 3;
    } else n += 3;
  }
  return n;
}

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
