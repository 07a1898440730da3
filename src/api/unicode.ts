/**
 * Text the API accepts is Unicode (issue 9): a body that is not valid UTF-8, a percent-encoded
 * URL whose bytes are not UTF-8, or a JSON string (a value, a field, an object's key) holding a
 * lone surrogate (`"\ud800"`, which JSON allows) is refused with INVALID_UTF8. Node would
 * otherwise store U+FFFD in place of the bad bytes, or keep the lone surrogate, which no UTF-8
 * encoding (a URL, a file, most other languages' JSON) can carry, so the key could not be
 * addressed again. A client-input rule: remote events are validated by their wire version only.
 */
import { isUtf8 } from 'node:buffer';
import { ApiError, ApiErrorCode } from './errors.js';

/** A lone surrogate: in `u` mode a valid pair is one code point, so it does not match. */
const LONE_SURROGATE = /\p{Cs}/u;

/** The first JSON string or property name holding a lone surrogate, as a JSON-pointer-ish path. */
export function findLoneSurrogate(value: unknown): string | undefined {
  const stack: [unknown, string][] = [[value, '']];
  for (let item = stack.pop(); item !== undefined; item = stack.pop()) {
    const [v, path] = item;
    if (typeof v === 'string') {
      if (LONE_SURROGATE.test(v)) return path === '' ? '/' : path;
    } else if (Array.isArray(v)) {
      v.forEach((x, i) => stack.push([x, `${path}/${i}`]));
    } else if (typeof v === 'object' && v !== null) {
      for (const [k, x] of Object.entries(v)) {
        if (LONE_SURROGATE.test(k)) return `${path}/${escapeForPath(k)}`;
        stack.push([x, `${path}/${k}`]);
      }
    }
  }
  return undefined;
}

function escapeForPath(k: string): string {
  return JSON.stringify(k).slice(1, -1);
}

/** Throws INVALID_UTF8 when a parsed JSON body holds a lone surrogate anywhere. */
export function checkJsonText(value: unknown): void {
  const at = findLoneSurrogate(value);
  if (at !== undefined) {
    throw new ApiError(
      ApiErrorCode.InvalidUtf8,
      `The body holds a lone UTF-16 surrogate at ${JSON.stringify(at).slice(0, 200)}; ` +
        'keys and values must be valid Unicode text (send surrogate pairs whole).',
    );
  }
}

/** Throws INVALID_UTF8 when a raw body is not valid UTF-8. */
export function checkUtf8Body(body: Buffer): void {
  if (!isUtf8(body)) {
    throw new ApiError(ApiErrorCode.InvalidUtf8, 'The body is not valid UTF-8; send JSON encoded as UTF-8.');
  }
}

/**
 * Whether the bytes a URL's percent-escapes (and other characters) stand for are valid UTF-8.
 * Only meaningful for a URL whose escapes are well-formed (`%` and two hex digits).
 */
export function urlBytesAreUtf8(url: string): boolean {
  if (!url.includes('%')) return true;
  const bytes: number[] = [];
  for (let i = 0; i < url.length; i++) {
    const c = url.charCodeAt(i);
    if (c === 0x25 && /^[0-9a-fA-F]{2}$/.test(url.slice(i + 1, i + 3))) {
      bytes.push(parseInt(url.slice(i + 1, i + 3), 16));
      i += 2;
    } else if (c < 0x80) bytes.push(c);
    else bytes.push(...Buffer.from(url[i] ?? '', 'utf8'));
  }
  return isUtf8(Buffer.from(bytes));
}

/** True when every `%` in the URL starts a two-hex-digit escape. */
export function escapesAreWellFormed(url: string): boolean {
  return !/%(?![0-9a-fA-F]{2})/.test(url);
}

export function invalidUtf8InUrl(): ApiError {
  return new ApiError(
    ApiErrorCode.InvalidUtf8,
    'The URL percent-encodes bytes that are not UTF-8; encode keys and prefixes as UTF-8 (encodeURIComponent does).',
  );
}
