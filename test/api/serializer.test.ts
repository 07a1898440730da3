/**
 * Replies written by src/api/serializer.ts (no ajv) are byte for byte what fast-json-stringify,
 * Fastify's default serializer, writes: for every response schema the API registers (the
 * agent's members, services and load routes and the dashboard's too), seeded random values
 * that fit the schema and values that do not (extra and missing properties, wrong types, null,
 * NaN, Dates and other objects with toJSON, strings that need escaping). Both throw, or both
 * give the same string. And a schema form the serializer does not know is refused when the
 * route is registered, not written differently.
 */
import { createRequire } from 'node:module';
import { join } from 'node:path';
import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { smacApi } from '../../src/api/app.js';
import { loadRouteModule } from '../../src/api/routes/load.js';
import { membersRouteModule } from '../../src/api/routes/members.js';
import { servicesRouteModule } from '../../src/api/routes/services.js';
import { compileSerializer } from '../../src/api/serializer.js';
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

function wild(r: () => number): unknown {
  const pool: unknown[] = [
    null,
    undefined,
    0,
    -0,
    -1.5,
    2 ** 60,
    Number.NaN,
    Number.POSITIVE_INFINITY,
    '',
    '12',
    'x"y',
    true,
    false,
    [],
    [1, 'a'],
    {},
    { a: 1 },
    new Date(1_700_000_000_000),
    { toJSON: () => 'as-json' },
    { toJSON: () => ({ sum: 1 }) },
    /re+/,
  ];
  return pool[Math.floor(r() * pool.length)];
}

function anyJson(r: () => number, depth: number): unknown {
  const x = r();
  if (depth > 2 || x < 0.5)
    return [1, 'two', null, true, 3.5, STRINGS[Math.floor(r() * STRINGS.length)]][Math.floor(r() * 6)];
  if (x < 0.75) return [anyJson(r, depth + 1), anyJson(r, depth + 1)];
  return { a: anyJson(r, depth + 1), 'b c': anyJson(r, depth + 1) };
}

/** A value for `schema`: mostly fitting, sometimes not (`bad` is the chance of a misfit per node). */
function gen(schema: Schema, r: () => number, depth: number, bad: number): unknown {
  if (r() < bad) return wild(r);
  if (typeof schema === 'boolean') return anyJson(r, depth);
  const branches = (schema.anyOf ?? schema.oneOf) as Schema[] | undefined;
  if (branches) return gen(branches[Math.floor(r() * branches.length)]!, r, depth, bad);
  if (schema.const !== undefined) return schema.const;
  switch (schema.type) {
    case 'string':
      return r() < 0.05 ? new Date(Math.floor(r() * 2e12)) : STRINGS[Math.floor(r() * STRINGS.length)];
    case 'integer':
      return [0, 1, 7, 42, 2 ** 53 + 2, -3, Math.floor(r() * 1e6)][Math.floor(r() * 7)];
    case 'number':
      return [0, -0, 0.1, 1e21, 5e-7, -12.25, r() * 1000][Math.floor(r() * 7)];
    case 'boolean':
      return r() < 0.5;
    case 'null':
      return null;
    case 'array': {
      const n = Math.floor(r() * 4);
      return Array.from({ length: n }, () => gen((schema.items ?? {}) as Schema, r, depth + 1, bad));
    }
    case 'object': {
      const out: Record<string, unknown> = {};
      const required = (schema.required ?? []) as string[];
      for (const [k, sub] of Object.entries((schema.properties ?? {}) as Record<string, Schema>)) {
        const keep = required.includes(k) ? r() > bad / 2 : r() < 0.5;
        if (keep && depth < 6) out[k] = gen(sub, r, depth + 1, bad);
      }
      for (const sub of Object.values((schema.patternProperties ?? {}) as Record<string, Schema>)) {
        for (let i = Math.floor(r() * 3); i > 0; i--)
          out[KEYS[Math.floor(r() * KEYS.length)]!] = gen(sub, r, depth + 1, bad);
      }
      if (r() < 0.3) out[KEYS[Math.floor(r() * KEYS.length)]!] = r() < 0.2 ? () => 1 : anyJson(r, depth);
      return out;
    }
    default:
      return anyJson(r, depth);
  }
}

function outcome(f: Serialize, v: unknown): { json: string } | { threw: true } {
  try {
    return { json: f(v) };
  } catch {
    return { threw: true };
  }
}

describe('the response serializer', () => {
  it('writes what fast-json-stringify writes, for every response schema of the API', async () => {
    const schemas = await responseSchemas();
    // The members, services and load routes have anyOf schemas: fast-json-stringify's ajv cases.
    expect(schemas.map((s) => s.at)).toEqual(
      expect.arrayContaining(['GET /v1/members 200', 'GET /v1/load/:metric 200', 'GET /v1/status 200']),
    );
    let compared = 0;
    let written = 0;
    for (const { at, schema } of schemas) {
      const fjs = fjsCompiler({ schema, method: 'GET', url: '/', httpStatus: '200' });
      const ours = compileSerializer(schema);
      const r = prng(at.length * 7919 + 17);
      for (let i = 0; i < 400; i++) {
        const value = gen(schema, r, 0, i < 200 ? 0 : 0.08);
        const want = outcome(fjs, value);
        expect(
          outcome(ours, value),
          `${at}, value #${i}: ${value === undefined ? 'undefined' : JSON.stringify(value)}`,
        ).toEqual(want);
        compared++;
        if ('json' in want) written++;
      }
    }
    // Most values fit; some did not, and both refused them.
    expect(written).toBeGreaterThan(compared / 2);
    expect(written).toBeLessThan(compared);
  });

  it('refuses, when the route is registered, a schema form it does not write', async () => {
    const app = Fastify({ logger: false });
    await app.register(smacApi, {
      agent: new ReplicaAgent(),
      routes: [
        {
          name: 'odd',
          register(a) {
            a.get('/odd', { schema: { response: { 200: { allOf: [{ type: 'object' }] } } } }, () => ({}));
          },
        },
      ],
    });
    await expect(app.ready()).rejects.toThrow(/allOf.*not supported/);
    await app.close();
  });
});
