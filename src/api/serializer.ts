/**
 * Response serialization without ajv (issue 8, "Idle per agent: RSS ≤ 100 MB";
 * docs/benchmarks.md "Idle memory").
 *
 * Fastify serializes a reply through its route's response schema with fast-json-stringify,
 * which loads ajv (and ajv-formats, fast-uri) at start for the `anyOf` branches of the members,
 * services and load replies: about 0.35 MB of minified module source that an idle agent keeps in
 * its heap.
 * This module gives Fastify a serializer compiler (server.ts) that writes the same bytes as
 * fast-json-stringify 7 for the schema forms the API uses, and refuses, when the route is
 * registered, a schema with any other keyword, so that a new form cannot serialize differently
 * unnoticed. What it keeps of fast-json-stringify (test/api/serializer.test.ts compares the two
 * on every response schema of the API):
 * - an object writes its declared properties, required ones first, then in schema order; the
 *   others only when `patternProperties` or `additionalProperties` admits them (in the object's
 *   key order); a missing required property throws (the reply becomes a 500); `toJSON` is
 *   called on an object first, and null writes `{}`;
 * - strings, integers (truncated), numbers (±Infinity writes null, NaN throws) and booleans are
 *   coerced as fast-json-stringify coerces them; a `const` writes the constant; a schema
 *   without a type writes `JSON.stringify` of the value;
 * - `anyOf` / `oneOf` writes the value by the first branch it matches, matched as
 *   fast-json-stringify's ajv matches it (a string also matches an object with `toJSON`;
 *   numbers must be finite), and throws when none does.
 */
import type { FastifySerializerCompiler } from 'fastify';

type Schema = boolean | Readonly<Record<string, unknown>>;
type Obj = Readonly<Record<string, unknown>>;
/** Returns `undefined` only where fast-json-stringify would append "undefined" too. */
type Serialize = (value: unknown) => string;

/** Keywords that change nothing in the output (fast-json-stringify reads them at most for `anyOf`). */
const ANNOTATIONS = new Set(['description', 'title', 'examples', '$comment', 'deprecated', 'readOnly']);
const VALIDATION = new Set([
  'minimum',
  'maximum',
  'exclusiveMinimum',
  'exclusiveMaximum',
  'minLength',
  'maxLength',
  'pattern',
  'minItems',
  'maxItems',
]);
const STRUCTURE = new Set([
  'type',
  'const',
  'properties',
  'required',
  'additionalProperties',
  'patternProperties',
  'items',
  'default',
  'anyOf',
  'oneOf',
]);
const TYPES = new Set(['string', 'integer', 'number', 'boolean', 'null', 'object', 'array']);

/** Fastify's serializer compiler: one serializer per response schema. */
export const serializerCompiler: FastifySerializerCompiler<unknown> = ({ schema }) =>
  compileSerializer(schema as Schema);

/** A serializer for `schema`; throws when the schema uses a form this module does not write. */
export function compileSerializer(schema: Schema): (value: unknown) => string {
  return build(schema, '#');
}

function unsupported(path: string, what: string): Error {
  return new Error(`response schema at ${path}: ${what} is not supported by src/api/serializer.ts`);
}

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null;
const withToJson = (v: unknown): unknown =>
  isObj(v) && typeof (v as { toJSON?: unknown }).toJSON === 'function'
    ? (v as { toJSON: () => unknown }).toJSON()
    : v;

function checkKeywords(s: Obj, path: string): void {
  for (const k of Object.keys(s)) {
    if (!ANNOTATIONS.has(k) && !VALIDATION.has(k) && !STRUCTURE.has(k)) throw unsupported(path, `"${k}"`);
  }
  if (s.type !== undefined && !(typeof s.type === 'string' && TYPES.has(s.type)))
    throw unsupported(path, `type ${JSON.stringify(s.type)}`);
  if (s.const !== undefined && isObj(s.const)) throw unsupported(path, 'a non-primitive const');
  if (Array.isArray(s.items) || typeof s.items === 'boolean') throw unsupported(path, 'tuple items');
}

/** fast-json-stringify's type inference for a schema without `type`. */
function typeOf(s: Obj): unknown {
  if (s.type !== undefined) return s.type;
  const has = (ks: string[]) => ks.some((k) => k in s);
  if (has(['properties', 'required', 'additionalProperties', 'patternProperties'])) return 'object';
  if (has(['items', 'minItems', 'maxItems'])) return 'array';
  if (has(['minLength', 'maxLength', 'pattern'])) return 'string';
  if (has(['minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum'])) return 'number';
  return undefined;
}

function build(schema: Schema, path: string): Serialize {
  if (typeof schema === 'boolean') return (v) => JSON.stringify(v);
  checkKeywords(schema, path);
  const branches = (schema.anyOf ?? schema.oneOf) as Schema[] | undefined;
  if (branches !== undefined) return buildUnion(schema, branches, path);
  if (schema.const !== undefined) {
    const text = JSON.stringify(schema.const);
    return () => text;
  }
  switch (typeOf(schema)) {
    case 'null':
      return () => 'null';
    case 'string':
      return asString;
    case 'integer':
      return asInteger;
    case 'number':
      return asNumber;
    case 'boolean':
      return (v) => (v ? 'true' : 'false');
    case 'object':
      return buildObject(schema, path);
    case 'array':
      return buildArray(schema, path);
    default:
      return (v) => JSON.stringify(v);
  }
}

function asString(v: unknown): string {
  if (typeof v === 'string') return quote(v);
  if (v === null) return '""';
  if (v instanceof Date) return `"${v.toISOString()}"`;
  if (v instanceof RegExp) return JSON.stringify(v.source);
  return JSON.stringify((v as { toString: () => unknown }).toString());
}

/** JSON.stringify of a string; plain short strings without a call into JSON (faster on V8 13). */
function quote(s: string): string {
  if (s.length > 40) return JSON.stringify(s);
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 32 || c === 0x22 || c === 0x5c || (c >= 0xd800 && c <= 0xdfff)) return JSON.stringify(s);
  }
  return `"${s}"`;
}

function asInteger(v: unknown): string {
  if (Number.isInteger(v)) return String(v);
  if (typeof v === 'bigint') return v.toString();
  const i = Math.trunc(v as number);
  if (!Number.isFinite(i)) throw new Error(`The value "${String(v)}" cannot be converted to an integer.`);
  return String(i);
}

function asNumber(v: unknown): string {
  const n = Number(v);
  if (Number.isNaN(n)) throw new Error(`The value "${String(v)}" cannot be converted to a number.`);
  return Number.isFinite(n) ? String(n) : 'null';
}

function buildObject(s: Obj, path: string): Serialize {
  const declared = (s.properties ?? {}) as Record<string, Schema>;
  const required = (s.required ?? []) as string[];
  // Required first, otherwise in schema order (a stable sort, as fast-json-stringify's).
  const props = Object.entries(declared)
    .sort(([a], [b]) => Number(required.includes(b)) - Number(required.includes(a)))
    .map(([key, sub]) => {
      const dflt = typeof sub === 'object' ? sub.default : undefined;
      return {
        key,
        prefix: `${JSON.stringify(key)}:`,
        write: build(sub, `${path}/properties/${key}`),
        dflt: dflt === undefined ? undefined : JSON.stringify(dflt),
        required: required.includes(key),
      };
    });
  const keys = props.map((p) => p.key);
  const undeclaredRequired = required.filter((k) => !keys.includes(k));
  const patterns = Object.entries((s.patternProperties ?? {}) as Record<string, Schema>).map(
    ([p, sub]) => [new RegExp(p), build(sub, `${path}/patternProperties/${p}`)] as const,
  );
  const extra = s.additionalProperties;
  const writeExtra: Serialize | undefined =
    extra === undefined || extra === false
      ? undefined
      : extra === true
        ? (v) => JSON.stringify(v)
        : build(extra as Schema, `${path}/additionalProperties`);
  const scanExtras = patterns.length > 0 || writeExtra !== undefined;
  const declaredSet = new Set(keys);
  return (input) => {
    const obj = withToJson(input) as Record<string, unknown> | null;
    if (obj === null) return '{}';
    for (const k of undeclaredRequired) if (obj[k] === undefined) throw new Error(`"${k}" is required!`);
    let json = '';
    for (const p of props) {
      const v = obj[p.key];
      if (v !== undefined) json += (json.length === 0 ? '{' : ',') + p.prefix + p.write(v);
      else if (p.dflt !== undefined) json += (json.length === 0 ? '{' : ',') + p.prefix + p.dflt;
      else if (p.required) throw new Error(`"${p.key}" is required!`);
    }
    if (scanExtras) {
      for (const key of Object.keys(obj)) {
        const v = obj[key];
        if (declaredSet.has(key) || v === undefined || typeof v === 'function' || typeof v === 'symbol')
          continue;
        const pattern = patterns.find(([re]) => re.test(key));
        const write = pattern === undefined ? writeExtra : pattern[1];
        if (write !== undefined) json += `${json.length === 0 ? '{' : ','}${JSON.stringify(key)}:${write(v)}`;
      }
    }
    return json.length === 0 ? '{}' : `${json}}`;
  };
}

function buildArray(s: Obj, path: string): Serialize {
  const write = build((s.items ?? {}) as Schema, `${path}/items`);
  return (input) => {
    if (input === null) return '[]';
    if (!Array.isArray(input))
      throw new TypeError(`The value of '${path}' does not match schema definition.`);
    let json = '[';
    for (let i = 0; i < input.length; i++) json += (i > 0 ? ',' : '') + write(input[i]);
    return `${json}]`;
  };
}

function buildUnion(s: Obj, branches: readonly Schema[], path: string): Serialize {
  const kind = s.anyOf !== undefined ? 'anyOf' : 'oneOf';
  for (const k of Object.keys(s)) {
    if (k !== kind && !ANNOTATIONS.has(k)) throw unsupported(path, `"${k}" beside ${kind}`);
  }
  const options = branches.map((b, i) => {
    const at = `${path}/${kind}/${i}`;
    checkAll(b, at);
    return { matches: (v: unknown) => matches(b, v), write: build(b, at) };
  });
  return (v) => {
    const option = options.find((o) => o.matches(v));
    if (option === undefined) throw new TypeError(`The value of '${path}' does not match schema definition.`);
    return option.write(v);
  };
}

/** Checks the keywords of a whole schema (matches() assumes only these). */
function checkAll(schema: Schema, path: string): void {
  if (typeof schema === 'boolean') return;
  checkKeywords(schema, path);
  for (const [k, sub] of Object.entries(schema)) {
    if (k === 'properties' || k === 'patternProperties') {
      for (const [name, s] of Object.entries(sub as Record<string, Schema>))
        checkAll(s, `${path}/${k}/${name}`);
    } else if (k === 'items' || (k === 'additionalProperties' && isObj(sub)))
      checkAll(sub as Schema, `${path}/${k}`);
    else if (k === 'anyOf' || k === 'oneOf')
      (sub as Schema[]).forEach((s, i) => {
        checkAll(s, `${path}/${k}/${i}`);
      });
  }
}

/** Whether `v` matches `schema` as fast-json-stringify's ajv decides it (for an `anyOf` branch). */
function matches(schema: Schema, v: unknown): boolean {
  if (typeof schema === 'boolean') return schema;
  const s = schema as Obj & Record<string, unknown>;
  if (s.const !== undefined && v !== s.const) return false;
  if (s.type !== undefined && !hasType(s.type as string, v)) return false;
  if (typeof v === 'string') {
    const length = codePoints(v);
    if (typeof s.minLength === 'number' && length < s.minLength) return false;
    if (typeof s.maxLength === 'number' && length > s.maxLength) return false;
    if (typeof s.pattern === 'string' && !new RegExp(s.pattern, 'u').test(v)) return false;
  }
  if (typeof v === 'number') {
    if (typeof s.minimum === 'number' && !(v >= s.minimum)) return false;
    if (typeof s.maximum === 'number' && !(v <= s.maximum)) return false;
    if (typeof s.exclusiveMinimum === 'number' && !(v > s.exclusiveMinimum)) return false;
    if (typeof s.exclusiveMaximum === 'number' && !(v < s.exclusiveMaximum)) return false;
  }
  if (Array.isArray(v)) {
    if (typeof s.minItems === 'number' && v.length < s.minItems) return false;
    if (typeof s.maxItems === 'number' && v.length > s.maxItems) return false;
    if (s.items !== undefined && !v.every((x: unknown) => matches(s.items as Schema, x))) return false;
  } else if (isObj(v) && !objectMatches(s, v)) return false;
  if (s.anyOf !== undefined && !(s.anyOf as Schema[]).some((b) => matches(b, v))) return false;
  if (s.oneOf !== undefined && (s.oneOf as Schema[]).filter((b) => matches(b, v)).length !== 1) return false;
  return true;
}

/** The length ajv's minLength and maxLength compare: code points, not UTF-16 units. */
function codePoints(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) i++;
    }
    n++;
  }
  return n;
}

function hasType(type: string, v: unknown): boolean {
  switch (type) {
    case 'string':
      // fast-json-stringify lets an object with toJSON (a Date) stand for a string.
      return typeof v === 'string' || (isObj(v) && !Array.isArray(v) && typeof v.toJSON === 'function');
    case 'integer':
      return typeof v === 'number' && Number.isFinite(v) && v % 1 === 0;
    case 'number':
      return typeof v === 'number' && Number.isFinite(v);
    case 'null':
      return v === null;
    case 'object':
      return isObj(v) && !Array.isArray(v);
    case 'array':
      return Array.isArray(v);
    default:
      return typeof v === type;
  }
}

function objectMatches(s: Obj, v: Record<string, unknown>): boolean {
  for (const k of (s.required ?? []) as string[]) if (v[k] === undefined) return false;
  const declared = (s.properties ?? {}) as Record<string, Schema>;
  for (const [k, sub] of Object.entries(declared))
    if (v[k] !== undefined && !matches(sub, v[k])) return false;
  const patterns = Object.entries((s.patternProperties ?? {}) as Record<string, Schema>).map(
    ([p, sub]) => [new RegExp(p, 'u'), sub] as const,
  );
  const extra = s.additionalProperties as Schema | undefined;
  for (const k in v) {
    let matched = Object.hasOwn(declared, k);
    for (const [re, sub] of patterns) {
      if (!re.test(k)) continue;
      matched = true;
      if (!matches(sub, v[k])) return false;
    }
    if (!matched && extra !== undefined && extra !== true && !matches(extra, v[k])) return false;
  }
  return true;
}
