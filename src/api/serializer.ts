/**
 * Response serialization without ajv (issue 8, "Idle per agent: RSS ≤ 100 MB";
 * docs/benchmarks.md "Idle memory").
 *
 * Fastify's default serializer, fast-json-stringify, loads ajv (with ajv-formats and fast-uri)
 * at start for the `anyOf` branches of the members, services and load replies: about 0.35 MB
 * of minified module source that an idle agent keeps in its heap. This serializer compiler
 * (server.ts) is built on TypeBox, which the API validates with already: a reply is taken as
 * JSON (`toJSON` applied, `undefined` and functions dropped), then `Value.Clean` drops what its
 * route's response schema does not declare (properties of an object, keys of a record that its
 * pattern does not match; in an `anyOf`, by the first branch the cleaned value fits), and the
 * rest is written by `JSON.stringify`. A value that fits the schema gives the same JSON value as
 * fast-json-stringify (test/api/serializer.test.ts compares the two on every response schema of
 * the API); keys may come in another order.
 *
 * What differs is a reply that does not fit its schema, that is a handler bug. fast-json-stringify
 * coerces it (a number declared a string is written "1", an object "[object Object]", 1.5
 * declared an integer 1, "12" declared a number 12) or throws, and the reply becomes a 500 (a
 * string that is no number, NaN, a required property missing, an `anyOf` value that fits no
 * branch). This serializer sends it as it is, less undeclared properties: wrong types as they
 * are, NaN and ±Infinity as null, a missing property missing, an `anyOf` value that fits no
 * branch whole. A client would get a 200 whose body breaks the types of the SDK, instead of a
 * 500; the API's route tests check replies against their schemas.
 *
 * Cost: 8.4-23 us per write reply against 1-3 us with fast-json-stringify, 155-430 us against
 * 29-53 us for a list page of 50 objects (micro-benchmarks, docs/benchmarks.md "Without ajv").
 */
import type { FastifySerializerCompiler } from 'fastify';
import type { TSchema } from 'typebox';
import { Settings } from 'typebox/system';
import { Value } from 'typebox/value';

/** Fastify's serializer compiler: one serializer per response schema (a TypeBox type). */
export const serializerCompiler: FastifySerializerCompiler<TSchema> = ({ schema }) =>
  compileSerializer(schema);

/** A serializer for `schema`: the value as JSON, less what the schema does not declare. */
export function compileSerializer(schema: TSchema): (value: unknown) => string {
  if (!(typeof schema === 'object' && '~kind' in schema))
    throw new Error('a response schema must be a TypeBox type (src/api/serializer.ts cleans by its kinds)');
  return (value) => {
    const data: unknown = JSON.parse(JSON.stringify(value));
    // Clean first re-sorts the branches of every `anyOf`, narrowest first, rebuilding the whole
    // schema on each call: 40 of its 45 us for a write reply (fast-json-stringify: 2 us). Tried
    // in the order written instead, as fast-json-stringify tries them (the test compares both).
    const { unionPrioritySort } = Settings.Get();
    Settings.Set({ unionPrioritySort: false });
    try {
      return JSON.stringify(Value.Clean(schema, data));
    } finally {
      Settings.Set({ unionPrioritySort });
    }
  };
}
