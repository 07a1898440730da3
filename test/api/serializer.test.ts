/**
 * Replies written by src/api/serializer.ts (TypeBox's Value.Clean, then JSON.stringify; no ajv)
 * are the JSON values fast-json-stringify, Fastify's default serializer, writes: for every
 * response schema the API registers (the agent's members, services and load routes and the
 * dashboard's too), seeded random values that fit the schema, with undeclared properties,
 * record keys outside the pattern, functions, Dates and strings that need escaping. Values that
 * do not fit are not coerced as fast-json-stringify coerces them: the module header says what
 * is written instead, and the last test holds it to that.
 */
import { createRequire } from 'node:module';
import { join } from 'node:path';
import Fastify from 'fastify';
import { Type } from 'typebox';
import { Settings } from 'typebox/system';
import { Value } from 'typebox/value';
import { describe, expect, it } from 'vitest';
import { smacApi } from '../../src/api/app.js';
import { loadRouteModule } from '../../src/api/routes/load.js';
import { membersRouteModule } from '../../src/api/routes/members.js';
import { servicesRouteModule } from '../../src/api/routes/services.js';
import { compileSerializer, serializerCompiler } from '../../src/api/serializer.js';
import { UiSessions } from '../../src/api/ui-sessions.js';
import { ReplicaAgent } from './helpers.js';

type Schema = boolean | Record<string, unknown>;
type Serialize = (v: unknown) => string;

/** Fastify's default serializer compiler (fast-json-stringify), as Fastify itself builds it. */
const fastifyRequire = createRequire(
  join(import.meta.dirname, '..', '..', 'node_modules', 'fastify', 'package.json'),
);
const SerializerSelector = fastifyRequire('@fastify/fast-json-stringify-compiler') as () => (
  externalSchemas: unknown,
  options: unknown,
) => (route: { schema: Schema; method: string; url: string; httpStatus: string }) => Serialize;
const fjsCompiler = SerializerSelector()({}, {});

/** Every response schema of the API, by route and status. */
async function responseSchemas(): Promise<{ at: string; schema: Schema }[]> {
  const app = Fastify({ logger: false });
  const found: { at: string; schema: Schema }[] = [];
  app.addHook('onRoute', (route) => {
    const response = (route.schema?.response ?? {}) as Record<string, Schema>;
    for (const [status, schema] of Object.entries(response))
      found.push({ at: `${String(route.method)} ${route.url} ${status}`, schema });
  });
  const stub = {} as never;
  await app.register(smacApi, {
    agent: new ReplicaAgent(),
    ui: new UiSessions(),
    routes: [membersRouteModule(stub), servicesRouteModule(stub), loadRouteModule(stub)],
  });
  await app.ready();
  await app.close();
  return found;
}

/** mulberry32: the same values on every run. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const STRINGS = [
  '',
  'alive',
  'peer-a',
  'a"b\\c',
  'tab\there',
  'line\nbreak',
  'é ü 漢字 😀',
  '\ud800 lone',
  'x'.repeat(60),
];
const KEYS = ['k', 'extra', 'a/b', 'with\nnewline', 'é', '0', 'toString'];

function anyJson(r: () => number, depth: number): unknown {
  const x = r();
  if (depth > 2 || x < 0.5)
    return [1, 'two', null, true, 3.5, STRINGS[Math.floor(r() * STRINGS.length)]][Math.floor(r() * 6)];
  if (x < 0.75) return [anyJson(r, depth + 1), anyJson(r, depth + 1)];
  return { a: anyJson(r, depth + 1), 'b c': anyJson(r, depth + 1) };
}

/** One of `pool` that fits the leaf `schema` (its bounds and patterns), else TypeBox's default. */
function pick(schema: Schema, r: () => number, pool: readonly unknown[]): unknown {
  const fit = pool.filter((v) => Value.Check(schema as never, v));
  return fit.length > 0 ? fit[Math.floor(r() * fit.length)] : Value.Create(schema as never);
}

/**
 * A value that fits `schema`, as a handler would return it: with Dates for strings, and
 * properties the schema does not declare (functions among them), which both serializers drop.
 */
function gen(schema: Schema, r: () => number, depth: number): unknown {
  if (typeof schema === 'boolean') return anyJson(r, depth);
  const branches = (schema.anyOf ?? schema.oneOf) as Schema[] | undefined;
  if (branches) return gen(branches[Math.floor(r() * branches.length)]!, r, depth);
  if (schema.const !== undefined) return schema.const;
  switch (schema.type) {
    case 'string': {
      const date = new Date(Math.floor(r() * 2e12));
      return r() < 0.05 && Value.Check(schema as never, date.toJSON()) ? date : pick(schema, r, STRINGS);
    }
    case 'integer':
      return pick(schema, r, [0, 1, 7, 42, 2 ** 53 + 2, -3, Math.floor(r() * 1e6)]);
    case 'number':
      return pick(schema, r, [0, -0, 0.1, 1e21, 5e-7, -12.25, r() * 1000]);
    case 'boolean':
      return r() < 0.5;
    case 'null':
      return null;
    case 'array': {
      const n = Math.floor(r() * 4);
      return Array.from({ length: n }, () => gen((schema.items ?? {}) as Schema, r, depth + 1));
    }
    case 'object': {
      const out: Record<string, unknown> = {};
      const required = (schema.required ?? []) as string[];
      const properties = (schema.properties ?? {}) as Record<string, Schema>;
      for (const [k, sub] of Object.entries(properties)) {
        if (required.includes(k) || (depth < 6 && r() < 0.5)) out[k] = gen(sub, r, depth + 1);
      }
      const patterns = Object.entries((schema.patternProperties ?? {}) as Record<string, Schema>);
      for (const [pattern, sub] of patterns) {
        const keys = KEYS.filter((k) => new RegExp(pattern).test(k));
        for (let i = keys.length > 0 && depth < 6 ? Math.floor(r() * 3) : 0; i > 0; i--)
          out[keys[Math.floor(r() * keys.length)]!] = gen(sub, r, depth + 1);
      }
      const undeclared = KEYS.filter(
        (k) => !Object.hasOwn(properties, k) && !patterns.some(([p]) => new RegExp(p).test(k)),
      );
      if (undeclared.length > 0 && typeof schema.additionalProperties !== 'object' && r() < 0.5) {
        const open = schema.additionalProperties === true;
        out[undeclared[Math.floor(r() * undeclared.length)]!] =
          !open && r() < 0.2 ? () => 1 : anyJson(r, depth);
      }
      return out;
    }
    default:
      return anyJson(r, depth);
  }
}

describe('the response serializer', () => {
  it('writes the JSON value fast-json-stringify writes, for every response schema of the API', async () => {
    const schemas = await responseSchemas();
    // The members, services and load routes have anyOf schemas: fast-json-stringify's ajv cases.
    expect(schemas.map((s) => s.at)).toEqual(
      expect.arrayContaining(['GET /v1/members 200', 'GET /v1/load/:metric 200', 'GET /v1/status 200']),
    );
    let compared = 0;
    for (const { at, schema } of schemas) {
      const fjs = fjsCompiler({ schema, method: 'GET', url: '/', httpStatus: '200' });
      const ours = compileSerializer(schema);
      const r = prng(at.length * 7919 + 17);
      for (let i = 0; i < 120; i++) {
        const value = gen(schema, r, 0);
        const want: unknown = JSON.parse(fjs(value));
        const label = `${at}, value #${i}: ${JSON.stringify(value)}`;
        // The value fits: what fast-json-stringify wrote passes the schema.
        expect(Value.Check(schema as never, want), label).toBe(true);
        expect(JSON.parse(ours(value)), label).toEqual(want);
        compared++;
      }
    }
    expect(compared).toBeGreaterThan(10_000);
  });

  it('drops what the schema does not declare, at every depth', () => {
    const Item = Type.Object({ id: Type.String() });
    const schema = Type.Object({
      item: Item,
      items: Type.Array(Item),
      byName: Type.Record(Type.String({ pattern: '^n' }), Item),
      either: Type.Union([Type.Object({ kind: Type.Literal('a'), a: Type.Integer() }), Item]),
      open: Type.Object({}, { additionalProperties: true }),
      any: Type.Unknown(),
    });
    const value = {
      item: { id: 'i', secret: 1 },
      items: [{ id: 'j', secret: 2, f: () => 1 }],
      byName: { n1: { id: 'k', secret: 3 }, other: { id: 'l' } },
      either: { kind: 'b', id: 'm', a: 4 },
      open: { x: 1 },
      any: { y: [1] },
      secret: 'top',
    };
    const json =
      '{"item":{"id":"i"},"items":[{"id":"j"}],"byName":{"n1":{"id":"k"}},' +
      '"either":{"id":"m"},"open":{"x":1},"any":{"y":[1]}}';
    expect(compileSerializer(schema)(value)).toBe(json);
    const fjs = fjsCompiler({ schema: schema as never, method: 'GET', url: '/', httpStatus: '200' });
    expect(JSON.parse(fjs(value))).toEqual(JSON.parse(json));
  });

  it('writes a value that does not fit as it is, less undeclared properties (module header)', () => {
    const schema = Type.Object({
      name: Type.String(),
      count: Type.Integer(),
      ratio: Type.Number(),
      either: Type.Union([Type.Object({ a: Type.String() }), Type.Object({ b: Type.String() })]),
    });
    const write = compileSerializer(schema);
    // A number for a string, a fraction for an integer, NaN, a required property missing, and
    // an anyOf value that fits no branch (written whole).
    expect(write({ name: 1, count: 1.5, ratio: Number.NaN, either: { c: 1, d: 2 }, x: 0 })).toBe(
      '{"name":1,"count":1.5,"ratio":null,"either":{"c":1,"d":2}}',
    );
    expect(write({ count: 2 })).toBe('{"count":2}');
  });

  it('refuses, when the route is registered, a response schema that is not a TypeBox type', async () => {
    const app = Fastify({ logger: false });
    await app.register(smacApi, {
      agent: new ReplicaAgent(),
      routes: [
        {
          name: 'odd',
          register(a) {
            a.get('/odd', { schema: { response: { 200: { type: 'object' } } } }, () => ({}));
          },
        },
      ],
    });
    await expect(app.ready()).rejects.toThrow(/must be a TypeBox type/);
    await app.close();
  });

  it('leaves TypeBox settings as it found them', () => {
    const before = Settings.Get().unionPrioritySort;
    serializerCompiler({ schema: Type.Object({}), method: 'GET', url: '/', httpStatus: '200' })({});
    expect(Settings.Get().unionPrioritySort).toBe(before);
  });
});
