/**
 * Random and malformed requests (fast-check): the API never answers 5xx to bad input, never
 * crashes, always answers errors as `{ code, message }`, and a rejected request changes no
 * state. Also: any valid key survives the client's URL encoding and the server's decoding.
 */
import fc from 'fast-check';
import type { InjectOptions } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApiApp } from '../../src/api/app.js';
import { createApiApp } from '../../src/api/server.js';
import { objectPath } from '../../src/client/client.js';
import { TYPE_NAMES } from '../../src/core/crdt/crdt.js';
import { checkKey } from '../../src/core/keyspace.js';
import { DEFAULT_LIMITS } from '../../src/core/limits.js';
import { ReplicaAgent, stateOf } from './helpers.js';

const typeName = fc.oneof(fc.constantFrom(...TYPE_NAMES), fc.string({ maxLength: 12 }));
const segment = fc.string({ unit: 'grapheme', minLength: 0, maxLength: 8 });
const key = fc.oneof(
  fc.array(segment, { minLength: 1, maxLength: 4 }).map((s) => s.join('/')),
  fc.constantFrom('_sys/members', '', '/', 'a//b', 'k'.repeat(600), 'a\u0000b', '..', 'a/../b'),
);
const op = fc.oneof(
  fc.record(
    {
      kind: fc.constantFrom(
        'increment',
        'decrement',
        'set',
        'add',
        'remove',
        'clear',
        'enable',
        'disable',
        'update',
        'create',
        'delete',
        'x',
      ),
      by: fc.oneof(fc.integer(), fc.double(), fc.string(), fc.constant(undefined)),
      value: fc.jsonValue({ maxDepth: 3 }),
      field: fc.string({ maxLength: 5 }),
      type: typeName,
      op: fc.jsonValue({ maxDepth: 2 }),
    },
    { requiredKeys: ['kind'] },
  ),
  fc.jsonValue({ maxDepth: 3 }),
);
const rawBody = fc.oneof(
  op.map((o) => JSON.stringify(o)),
  fc
    .record({ ops: fc.array(fc.record({ type: typeName, key, op }, { requiredKeys: [] }), { maxLength: 5 }) })
    .map((b) => JSON.stringify(b)),
  fc.constantFrom(
    '',
    '{',
    '[]',
    'null',
    '"x"',
    '{"ops":null}',
    '{"__proto__":{"a":1}}',
    '{"constructor":{"prototype":{}}}',
  ),
  fc.string({ maxLength: 50 }),
);
const contentType = fc.constantFrom(
  'application/json',
  'text/plain',
  'application/x-www-form-urlencoded',
  undefined,
);

const request: fc.Arbitrary<InjectOptions> = fc.oneof(
  fc
    .record({
      method: fc.constantFrom<('GET' | 'PUT' | 'POST' | 'DELETE' | 'PATCH')[]>(
        'GET',
        'PUT',
        'POST',
        'DELETE',
        'PATCH',
      ),
      type: typeName,
      key,
      body: fc.option(rawBody, { nil: undefined }),
      contentType,
    })
    .map(({ method, type, key, body, contentType }) => ({
      method,
      url: objectPath(type, key),
      ...(body === undefined ? {} : { payload: body }),
      ...(contentType === undefined ? {} : { headers: { 'content-type': contentType } }),
    })),
  fc.record({ body: rawBody, contentType }).map(({ body, contentType }) => ({
    method: 'POST' as const,
    url: '/v1/batch',
    payload: body,
    ...(contentType === undefined ? {} : { headers: { 'content-type': contentType } }),
  })),
  fc
    .record({
      path: fc.constantFrom(
        '/v1/objects',
        '/v1/watch',
        '/v1/status',
        '/v1/batch',
        '/metrics',
        '/nope',
        '/v1/objects/',
      ),
      query: fc.dictionary(
        fc.constantFrom('prefix', 'limit', 'after', 'cursor', 'x'),
        fc.string({ maxLength: 20 }),
        {
          maxKeys: 3,
        },
      ),
    })
    .map(({ path, query }) => ({ method: 'GET' as const, url: path, query })),
  // Raw, possibly undecodable URLs.
  fc
    .string({ unit: fc.constantFrom('a', '/', '%', 'Z', '2', 'F', '_', '-', '.', 'é'), maxLength: 20 })
    .map((s) => ({
      method: 'GET' as const,
      url: '/v1/objects/pn-counter/' + s,
    })),
);

function isValidKey(k: string): boolean {
  try {
    checkKey(k, DEFAULT_LIMITS);
    return true;
  } catch {
    return false;
  }
}

describe('fuzzed requests', () => {
  let agent: ReplicaAgent;
  let app: ApiApp;

  beforeAll(async () => {
    agent = new ReplicaAgent();
    // No watch slots: a valid watch answers 429 instead of holding the request open.
    app = await createApiApp({ agent, maxWatches: 0 });
    await agent.write([
      { type: 'pn-counter', key: 'a', op: { kind: 'increment' } },
      { type: 'aw-set', key: 'b/c', op: { kind: 'add', value: 1 } },
    ]);
  });
  afterAll(async () => {
    await app.close();
  });

  it('never answers 5xx, always answers errors as { code, message }, and rejects without a change', async () => {
    await fc.assert(
      fc.asyncProperty(request, async (req) => {
        const before = stateOf(agent);
        const res = await app.inject(req);
        expect(res.statusCode, JSON.stringify(req).slice(0, 300)).toBeLessThan(500);
        if (res.statusCode >= 400) {
          const body = res.json<{ code: unknown; message: unknown }>();
          expect(typeof body.code).toBe('string');
          expect(body.code).toMatch(/^[A-Z][A-Z0-9_]*$/);
          expect(typeof body.message).toBe('string');
          expect(stateOf(agent)).toBe(before);
        }
      }),
      { numRuns: 600 },
    );
  });

  it('round-trips every valid key through the URL', async () => {
    const validKey = fc
      .array(fc.string({ unit: 'grapheme', minLength: 1, maxLength: 6 }), { minLength: 1, maxLength: 4 })
      .map((s) => s.join('/'))
      .filter((k) => isValidKey(k) && !k.startsWith('_sys/'));
    await fc.assert(
      fc.asyncProperty(validKey, async (k) => {
        const res = await app.inject({
          method: 'POST',
          url: objectPath('ew-flag', k),
          payload: { kind: 'enable' },
        });
        expect(res.statusCode, k).toBe(200);
        expect(res.json().key).toBe(k);
        expect(agent.read('ew-flag', k)?.value).toBe(true);
      }),
      { numRuns: 200 },
    );
  });
});
