/**
 * Bounds on every input of the services (service and metric names, endpoint records, checks,
 * load deltas), and the validators that enforce them. The REST schemas (src/api/routes) are
 * built from the same constants, so the API and the library reject the same inputs; the
 * validators here still run behind the schemas, because the SDK and tests call the services
 * directly. Names end up in keys (`_sys/services/<name>`) and map fields, so their charset is
 * narrow: no `/`, no spaces, nothing that needs escaping in a URL path.
 */
import { ErrorCode, fail } from '../core/errors.js';
import { canonicalJson, isRecord } from '../core/json.js';

/** Service names, metric names, endpoint ids and meta keys: letters, digits, `.`, `_`, `-`. */
export const NAME_PATTERN = '^[A-Za-z0-9][A-Za-z0-9._-]*$';
export const NAME_MAX_LENGTH = 64;
export const ENDPOINT_ID_MAX_LENGTH = 128;
/** A hostname, IPv4 or IPv6 literal (brackets and a `%zone` allowed). */
export const ADDRESS_PATTERN = '^[A-Za-z0-9._:%\\[\\]-]+$';
export const ADDRESS_MAX_LENGTH = 255;
export const TAG_PATTERN = '^[A-Za-z0-9._:=/+@-]+$';
export const TAG_MAX_LENGTH = 64;
export const MAX_TAGS = 32;
export const META_VALUE_MAX_LENGTH = 512;
export const MAX_META_KEYS = 32;
/** The whole meta object as JSON: endpoint records are replicated to every agent. */
export const MAX_META_BYTES = 4096;
export const URL_MAX_LENGTH = 2048;
export const MIN_INTERVAL_MS = 100;
export const MAX_INTERVAL_MS = 86_400_000;
export const DEFAULT_INTERVAL_MS = 10_000;
export const MIN_TIMEOUT_MS = 10;
export const MAX_TIMEOUT_MS = 60_000;
export const DEFAULT_TIMEOUT_MS = 5_000;
export const MIN_TTL_MS = 100;
export const MAX_TTL_MS = 86_400_000;
/** A check's output as replicated (longer output is cut): it rides along every status write. */
export const OUTPUT_MAX_LENGTH = 512;
/** Largest increment or decrement of a load counter in one call. */
export const MAX_LOAD_DELTA = 1_000_000_000;

const NAME_RE = new RegExp(NAME_PATTERN);
const ADDRESS_RE = new RegExp(ADDRESS_PATTERN);
const TAG_RE = new RegExp(TAG_PATTERN);

/** A name that fits the name charset and length (names read back from keys are checked so). */
export function isSafeName(v: string, max = NAME_MAX_LENGTH): boolean {
  return v.length <= max && NAME_RE.test(v);
}

function bad(message: string): never {
  fail(ErrorCode.InvalidArgument, message);
}

function checkToken(v: unknown, what: string, max: number, re: RegExp, charset: string): string {
  if (typeof v !== 'string' || v.length === 0) bad(`The ${what} must be a non-empty string.`);
  if (v.length > max) bad(`The ${what} is ${v.length} characters; at most ${max} are allowed.`);
  if (!re.test(v)) bad(`The ${what} ${JSON.stringify(v)} may only contain ${charset}.`);
  return v;
}

const NAME_CHARSET = 'letters, digits, ".", "_" and "-", starting with a letter or digit';

export function checkServiceName(v: unknown): string {
  return checkToken(v, 'service name', NAME_MAX_LENGTH, NAME_RE, NAME_CHARSET);
}

export function checkMetricName(v: unknown): string {
  return checkToken(v, 'metric name', NAME_MAX_LENGTH, NAME_RE, NAME_CHARSET);
}

export function checkEndpointId(v: unknown): string {
  return checkToken(v, 'endpoint id', ENDPOINT_ID_MAX_LENGTH, NAME_RE, NAME_CHARSET);
}

export function checkAddress(v: unknown, what = 'address'): string {
  return checkToken(
    v,
    what,
    ADDRESS_MAX_LENGTH,
    ADDRESS_RE,
    'letters, digits and ".", "_", ":", "%", "[", "]", "-" (a hostname or an IP address)',
  );
}

export function checkPort(v: unknown, what = 'port'): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > 65_535)
    bad(`The ${what} must be an integer from 1 to 65535.`);
  return v;
}

export function checkTags(v: unknown): string[] {
  if (v === undefined) return [];
  if (!Array.isArray(v)) bad('The tags must be an array of strings.');
  if (v.length > MAX_TAGS) bad(`There are ${v.length} tags; at most ${MAX_TAGS} are allowed.`);
  return v.map((t) =>
    checkToken(
      t,
      'tag',
      TAG_MAX_LENGTH,
      TAG_RE,
      'letters, digits and ".", "_", ":", "=", "/", "+", "@", "-"',
    ),
  );
}

export function checkMeta(v: unknown): Record<string, string> {
  if (v === undefined) return {};
  if (!isRecord(v) || Object.getPrototypeOf(v) !== Object.prototype)
    bad('The meta must be an object of string values.');
  const keys = Object.keys(v);
  if (keys.length > MAX_META_KEYS)
    bad(`The meta has ${keys.length} keys; at most ${MAX_META_KEYS} are allowed.`);
  const out: Record<string, string> = {};
  for (const k of keys) {
    checkToken(k, 'meta key', NAME_MAX_LENGTH, NAME_RE, NAME_CHARSET);
    const value = v[k];
    if (typeof value !== 'string') bad(`The meta value of ${JSON.stringify(k)} must be a string.`);
    if (value.length > META_VALUE_MAX_LENGTH)
      bad(`The meta value of ${JSON.stringify(k)} is longer than ${META_VALUE_MAX_LENGTH} characters.`);
    out[k] = value;
  }
  canonicalJson(out, MAX_META_BYTES, 'meta');
  return out;
}

/** An integer in [min, max], or `dflt` when absent. */
export function checkIntMs(v: unknown, what: string, min: number, max: number, dflt?: number): number {
  if (v === undefined && dflt !== undefined) return dflt;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max)
    bad(`The ${what} must be an integer number of milliseconds from ${min} to ${max}.`);
  return v;
}

export function checkLoadDelta(v: unknown): number {
  if (v === undefined) return 1;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > MAX_LOAD_DELTA)
    bad(`"by" must be an integer from 1 to ${MAX_LOAD_DELTA}; use the other operation to go the other way.`);
  return v;
}

export function checkGaugeValue(v: unknown): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) bad('A gauge value must be a finite number.');
  return v;
}

/** Cuts a check's output to the replicated bound. */
export function clipOutput(s: string): string {
  return s.length <= OUTPUT_MAX_LENGTH ? s : s.slice(0, OUTPUT_MAX_LENGTH - 1) + '…';
}
