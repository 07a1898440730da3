/**
 * Every route through `inject()` (no sockets): replies, schemas and error codes, on an agent
 * built on the pure Replica; then the happy paths again on a real Agent.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { AgentStoppedError } from '../../src/agent/agent.js';
import type { InjectOptions } from 'fastify';
import type { ApiApp } from '../../src/api/app.js';
import { decodeCursor } from '../../src/api/cursor.js';
import { createApiApp } from '../../src/api/server.js';
import { startCluster, stopAll } from '../agent/helpers.js';
import { ReplicaAgent, realAgentPort, stateOf } from './helpers.js';
import type { Agent } from '../../src/agent/agent.js';

const json = { 'content-type': 'application/json' };

describe('object routes (replica agent)', () => {
  let agent: ReplicaAgent;
  let app: ApiApp;

  beforeEach(async () => {
    agent = new ReplicaAgent();
    app = await createApiApp({ agent });
    return () => app.close();
  });

  it('creates (201, then 200), applies ops, reads and deletes an object', async () => {
    const put = await app.inject({ method: 'PUT', url: '/v1/objects/pn-counter/app/hits' });
    expect(put.statusCode).toBe(201);
    expect(put.json()).toMatchObject({
      type: 'pn-counter',
      key: 'app/hits',
      created: true,
      value: 0,
      seq: 1,
    });
    const again = await app.inject({ method: 'PUT', url: '/v1/objects/pn-counter/app/hits' });
    expect(again.statusCode).toBe(200);
    expect(again.json()).toMatchObject({ created: false });

    const op = await app.inject({
      method: 'POST',
      url: '/v1/objects/pn-counter/app/hits',
      payload: { kind: 'increment', by: 2 },
    });
    expect(op.statusCode).toBe(200);
    expect(op.json()).toEqual({
      type: 'pn-counter',
      key: 'app/hits',
      origin: 'peer-a',
      seq: 3,
      exists: true,
      value: 2,
    });

    const read = await app.inject({ method: 'GET', url: '/v1/objects/pn-counter/app/hits' });
    expect(read.statusCode).toBe(200);
    expect(read.json()).toEqual({ type: 'pn-counter', key: 'app/hits', value: 2, clock: { 'peer-a': 3 } });

    const del = await app.inject({ method: 'DELETE', url: '/v1/objects/pn-counter/app/hits' });
    expect(del.statusCode).toBe(200);
    expect(del.json()).toEqual({ type: 'pn-counter', key: 'app/hits', origin: 'peer-a', seq: 4 });
    const gone = await app.inject({ method: 'GET', url: '/v1/objects/pn-counter/app/hits' });
    expect(gone.statusCode).toBe(404);
    expect(gone.json().code).toBe('NOT_FOUND');
    const delAgain = await app.inject({ method: 'DELETE', url: '/v1/objects/pn-counter/app/hits' });
    expect(delAgain.statusCode).toBe(404);
  });

  it('applies an op of every type through POST', async () => {
    const cases: [string, unknown, unknown][] = [
      ['lww-register', { kind: 'set', value: { a: [1, 'x'] } }, { a: [1, 'x'] }],
      ['mv-register', { kind: 'set', value: 3 }, [3]],
      ['aw-set', { kind: 'add', value: 'x' }, ['x']],
      ['rw-set', { kind: 'add', value: 'y' }, ['y']],
      ['ew-flag', { kind: 'enable' }, true],
      ['or-map', { kind: 'update', field: 'n', type: 'pn-counter', op: { kind: 'increment' } }, { n: 1 }],
      ['pn-counter', { kind: 'decrement', by: 5 }, -5],
    ];
    for (const [type, op, value] of cases) {
      // One key per type: a key held by one type refuses another (input-rules.test.ts).
      const r = await app.inject({
        method: 'POST',
        url: `/v1/objects/${type}/k/${type}`,
        payload: op as object,
      });
      expect(r.statusCode, type).toBe(200);
      expect(r.json().value, type).toEqual(value);
    }
  });

  it('decodes URL-encoded keys, keeping namespaces', async () => {
    const r = await app.inject({
      method: 'POST',
      url: '/v1/objects/lww-register/caf%C3%A9/a%20b%3Fc%25/%E2%82%AC',
      payload: { kind: 'set', value: 1 },
    });
    expect(r.json().key).toBe('café/a b?c%/€');
    expect(agent.read('lww-register', 'café/a b?c%/€')?.value).toBe(1);
  });

  it('a POST with { kind: "delete" } reports that the object no longer exists', async () => {
    await app.inject({ method: 'POST', url: '/v1/objects/ew-flag/f', payload: { kind: 'enable' } });
    const r = await app.inject({ method: 'POST', url: '/v1/objects/ew-flag/f', payload: { kind: 'delete' } });
    expect(r.json()).toMatchObject({ exists: false, value: null });
  });

  it('lists by prefix, ordered, paged without splitting a key across types', async () => {
    const ops = [];
    for (const k of ['b', 'a', 'c', 'd'])
      ops.push({ type: 'pn-counter', key: `ns/${k}`, op: { kind: 'increment' } });
    ops.push({ type: 'ew-flag', key: 'ns/b', op: { kind: 'enable' } });
    ops.push({ type: 'pn-counter', key: 'other', op: { kind: 'increment' } });
    // Two types under ns/b, as two partitions may create them: written past the API, whose
    // clients may not add a second type to a key (input-rules.test.ts).
    await agent.write(ops);

    const all = (await app.inject({ url: '/v1/objects?prefix=ns/' })).json();
    expect(all.objects.map((o: { key: string; type: string }) => `${o.key}:${o.type}`)).toEqual([
      'ns/a:pn-counter',
      'ns/b:ew-flag',
      'ns/b:pn-counter',
      'ns/c:pn-counter',
      'ns/d:pn-counter',
    ]);
    expect(all.next).toBeUndefined();
    expect(all.clock).toEqual({ 'peer-a': 1 });

    const p1 = (await app.inject({ url: '/v1/objects?prefix=ns/&limit=2' })).json();
    expect(p1.objects.map((o: { key: string }) => o.key)).toEqual(['ns/a', 'ns/b', 'ns/b']);
    expect(p1.next).toBe('ns/b');
    const p2 = (await app.inject({ url: `/v1/objects?prefix=ns/&limit=2&after=${p1.next}` })).json();
    expect(p2.objects.map((o: { key: string }) => o.key)).toEqual(['ns/c', 'ns/d']);
    expect(p2.next).toBeUndefined();
  });

  it('applies a batch as one event, or nothing when any op is bad', async () => {
    const ok = await app.inject({
      method: 'POST',
      url: '/v1/batch',
      payload: {
        ops: [
          { type: 'pn-counter', key: 'x', op: { kind: 'increment' } },
          { type: 'aw-set', key: 'y', op: { kind: 'add', value: 1 } },
        ],
      },
    });
    expect(ok.statusCode).toBe(200);
    expect(ok.json()).toEqual({ origin: 'peer-a', seq: 1, ops: 2 });

    const before = stateOf(agent);
    const bad = await app.inject({
      method: 'POST',
      url: '/v1/batch',
      payload: {
        ops: [
          { type: 'pn-counter', key: 'x', op: { kind: 'increment' } },
          { type: 'aw-set', key: 'y', op: { kind: 'fly' } },
        ],
      },
    });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().code).toBe('INVALID_OP');
    expect(bad.json().details).toMatchObject({ index: 1 });
    expect(stateOf(agent)).toBe(before);
  });

  it('maps every bad input to a 4xx with a stable code, and changes nothing', async () => {
    await app.inject({ method: 'POST', url: '/v1/objects/pn-counter/keep', payload: { kind: 'increment' } });
    const before = stateOf(agent);
    const big = 'x'.repeat(70 * 1024);
    const cases: [string, InjectOptions, number, string][] = [
      [
        'bad op',
        { method: 'POST', url: '/v1/objects/pn-counter/k', payload: { kind: 'fly' } },
        400,
        'INVALID_OP',
      ],
      [
        'op extra field',
        { method: 'POST', url: '/v1/objects/pn-counter/k', payload: { kind: 'increment', x: 1 } },
        400,
        'INVALID_OP',
      ],
      [
        'bad by',
        { method: 'POST', url: '/v1/objects/pn-counter/k', payload: { kind: 'increment', by: -1 } },
        400,
        'INVALID_OP',
      ],
      ['unknown type', { method: 'GET', url: '/v1/objects/counter/k' }, 400, 'UNKNOWN_TYPE'],
      ['unknown type put', { method: 'PUT', url: '/v1/objects/nope/k' }, 400, 'UNKNOWN_TYPE'],
      ['empty key', { method: 'GET', url: '/v1/objects/pn-counter/' }, 400, 'INVALID_KEY'],
      ['empty segment', { method: 'PUT', url: '/v1/objects/pn-counter/a//b' }, 400, 'INVALID_KEY'],
      ['trailing slash', { method: 'PUT', url: '/v1/objects/pn-counter/a/' }, 400, 'INVALID_KEY'],
      ['control char', { method: 'PUT', url: '/v1/objects/pn-counter/a%01' }, 400, 'INVALID_KEY'],
      ['long key', { method: 'PUT', url: `/v1/objects/pn-counter/${'k'.repeat(513)}` }, 400, 'INVALID_KEY'],
      ['reserved', { method: 'PUT', url: '/v1/objects/aw-set/_sys/members' }, 403, 'RESERVED_KEY'],
      [
        'reserved op',
        { method: 'POST', url: '/v1/objects/aw-set/_sys/x', payload: { kind: 'clear' } },
        403,
        'RESERVED_KEY',
      ],
      [
        'value too large',
        { method: 'POST', url: '/v1/objects/lww-register/k', payload: { kind: 'set', value: big } },
        413,
        'TOO_LARGE',
      ],
      [
        'body too large',
        { method: 'POST', url: '/v1/batch', payload: { ops: [], pad: 'x'.repeat(5 * 1024 * 1024) } },
        413,
        'TOO_LARGE',
      ],
      ['no body', { method: 'POST', url: '/v1/objects/pn-counter/k' }, 400, 'BAD_REQUEST'],
      [
        'body not object',
        { method: 'POST', url: '/v1/objects/pn-counter/k', payload: '[1]', headers: json },
        400,
        'BAD_REQUEST',
      ],
      [
        'kind not string',
        { method: 'POST', url: '/v1/objects/pn-counter/k', payload: { kind: 5 } },
        400,
        'BAD_REQUEST',
      ],
      [
        'invalid json',
        { method: 'POST', url: '/v1/batch', payload: '{"ops":', headers: json },
        400,
        'BAD_REQUEST',
      ],
      ['empty json', { method: 'POST', url: '/v1/batch', payload: '', headers: json }, 400, 'BAD_REQUEST'],
      [
        'proto poisoning',
        {
          method: 'POST',
          url: '/v1/objects/lww-register/k',
          payload: '{"kind":"set","value":{"__proto__":{"x":1}}}',
          headers: json,
        },
        400,
        'BAD_REQUEST',
      ],
      [
        'media type',
        {
          method: 'POST',
          url: '/v1/batch',
          payload: 'a=1',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
        },
        415,
        'UNSUPPORTED_MEDIA_TYPE',
      ],
      ['empty batch', { method: 'POST', url: '/v1/batch', payload: { ops: [] } }, 400, 'BAD_REQUEST'],
      ['batch not array', { method: 'POST', url: '/v1/batch', payload: { ops: 1 } }, 400, 'BAD_REQUEST'],
      [
        'batch key not string',
        {
          method: 'POST',
          url: '/v1/batch',
          payload: { ops: [{ type: 'pn-counter', key: 5, op: { kind: 'increment' } }] },
        },
        400,
        'BAD_REQUEST',
      ],
      [
        'batch bad type',
        {
          method: 'POST',
          url: '/v1/batch',
          payload: { ops: [{ type: 'x', key: 'k', op: { kind: 'increment' } }] },
        },
        400,
        'UNKNOWN_TYPE',
      ],
      [
        'batch bad key',
        {
          method: 'POST',
          url: '/v1/batch',
          payload: { ops: [{ type: 'pn-counter', key: '', op: { kind: 'increment' } }] },
        },
        400,
        'INVALID_KEY',
      ],
      ['list limit', { method: 'GET', url: '/v1/objects?limit=0' }, 400, 'BAD_REQUEST'],
      ['list limit big', { method: 'GET', url: '/v1/objects?limit=1001' }, 400, 'BAD_REQUEST'],
      ['list limit text', { method: 'GET', url: '/v1/objects?limit=ten' }, 400, 'BAD_REQUEST'],
      ['bad url', { method: 'GET', url: '/v1/objects/pn-counter/%ZZ' }, 400, 'BAD_REQUEST'],
      ['no route', { method: 'GET', url: '/v2/nothing' }, 404, 'NOT_FOUND'],
      ['no route for type alone', { method: 'GET', url: '/v1/objects/pn-counter' }, 404, 'NOT_FOUND'],
      ['absent', { method: 'GET', url: '/v1/objects/pn-counter/absent' }, 404, 'NOT_FOUND'],
      ['bad cursor', { method: 'GET', url: '/v1/watch?cursor=***' }, 400, 'INVALID_CURSOR'],
      ['long cursor', { method: 'GET', url: `/v1/watch?cursor=${'a'.repeat(16_385)}` }, 400, 'BAD_REQUEST'],
      [
        'not a clock',
        { method: 'GET', url: `/v1/watch?cursor=${Buffer.from('[1]').toString('base64url')}` },
        400,
        'INVALID_CURSOR',
      ],
      [
        'negative clock',
        { method: 'GET', url: `/v1/watch?cursor=${Buffer.from('{"a":-1}').toString('base64url')}` },
        400,
        'INVALID_CURSOR',
      ],
      ['not json', { method: 'GET', url: '/v1/watch?cursor=abc' }, 400, 'INVALID_CURSOR'],
      [
        'last-event-id',
        { method: 'GET', url: '/v1/watch', headers: { 'last-event-id': 'abc' } },
        400,
        'INVALID_CURSOR',
      ],
    ];
    for (const [name, req, status, code] of cases) {
      const r = await app.inject(req);
      expect(r.statusCode, name).toBe(status);
      const body = r.json();
      expect(body.code, name).toBe(code);
      expect(typeof body.message, name).toBe('string');
      expect(body.message.length, name).toBeGreaterThan(10);
    }
    expect(stateOf(agent)).toBe(before);
  });

  it('reports validation errors with the schema message', async () => {
    const r = await app.inject({
      method: 'POST',
      url: '/v1/batch',
      payload: { ops: [{ type: 'pn-counter' }] },
    });
    expect(r.json()).toMatchObject({ code: 'BAD_REQUEST' });
    expect(r.json().message).toMatch(/body\/ops\/0/);
  });

  it('answers 503 UNAVAILABLE when the agent is stopping, and 500 INTERNAL (no details) on a bug', async () => {
    agent.failWrites = new AgentStoppedError('The agent is stopping; the write was not applied.');
    const stopping = await app.inject({
      method: 'POST',
      url: '/v1/objects/pn-counter/k',
      payload: { kind: 'increment' },
    });
    expect(stopping.statusCode).toBe(503);
    expect(stopping.json().code).toBe('UNAVAILABLE');
    agent.failReads = new Error('secret internals');
    const bug = await app.inject({ method: 'GET', url: '/v1/objects/pn-counter/k' });
    expect(bug.statusCode).toBe(500);
    expect(bug.json().code).toBe('INTERNAL');
    expect(bug.body).not.toContain('secret');
  });

  it('refuses a watch past the limit with 429 TOO_MANY_WATCHES', async () => {
    const limited = await createApiApp({ agent, maxWatches: 0 });
    try {
      const r = await limited.inject({ method: 'GET', url: '/v1/watch' });
      expect(r.statusCode).toBe(429);
      expect(r.json().code).toBe('TOO_MANY_WATCHES');
    } finally {
      await limited.close();
    }
  });

  it('serves status, metrics and the OpenAPI document', async () => {
    await app.inject({ method: 'POST', url: '/v1/objects/pn-counter/k', payload: { kind: 'increment' } });
    const status = await app.inject({ url: '/v1/status' });
    expect(status.statusCode).toBe(200);
    expect(status.json()).toMatchObject({
      peerId: 'peer-a',
      clock: { 'peer-a': 1 },
      objects: 1,
      peers: [{ peerId: 'peer-z', connected: true, lag: 3 }],
      counters: { localEvents: 5 },
      join: [],
    });
    expect(status.json().peers[0]).not.toHaveProperty('region');

    const metrics = await app.inject({ url: '/metrics' });
    expect(metrics.statusCode).toBe(200);
    expect(metrics.headers['content-type']).toMatch(/^text\/plain/);
    expect(metrics.body).toMatch(/^smac_events_local_total 5$/m);
    expect(metrics.body).toMatch(/^smac_compaction_pinned_events\{member="peer-z",reason="behind"\} 3$/m);
    expect(metrics.body).toMatch(/^smac_events_rejected_total 1$/m);
    expect(metrics.body).toMatch(/^smac_not_owner_events_total 0$/m);
    expect(metrics.body).toMatch(/^smac_objects 1$/m);
    expect(metrics.body).toMatch(/^smac_peers\{state="connected"\} 1$/m);
    expect(metrics.body).toMatch(/^smac_peer_lag_events_max 3$/m);
    expect(metrics.body).toMatch(/^smac_log_events 7$/m);
    expect(metrics.body).toMatch(
      /^smac_http_requests_total\{method="POST",route="\/v1\/objects\/:type\/\*",status="200"\} 1$/m,
    );
    // A second scrape does not double the mirrored counters.
    const again = await app.inject({ url: '/metrics' });
    expect(again.body).toMatch(/^smac_events_local_total 5$/m);

    const doc = (await app.inject({ url: '/openapi.json' })).json();
    expect(doc.openapi).toBe('3.1.0');
    for (const path of [
      '/v1/objects/{type}/{*}',
      '/v1/objects',
      '/v1/batch',
      '/v1/watch',
      '/v1/status',
      '/metrics',
    ]) {
      expect(Object.keys(doc.paths), path).toContain(path);
    }
    expect(
      doc.paths['/v1/batch'].post.requestBody.content['application/json'].schema.properties.ops.maxItems,
    ).toBe(10_000);
  });

  it('takes extra route modules', async () => {
    const extra = await createApiApp({
      agent,
      routes: [
        {
          name: 'extra',
          register(a) {
            a.get('/v1/extra', () => {
              throw new ApiErrorLike();
            });
          },
        },
      ],
    });
    try {
      const r = await extra.inject({ url: '/v1/extra' });
      expect(r.statusCode).toBe(500);
      expect(r.json().code).toBe('INTERNAL');
    } finally {
      await extra.close();
    }
  });
});

class ApiErrorLike extends Error {}

describe('object routes (real agent)', () => {
  let agents: Agent[];
  let app: ApiApp;

  beforeAll(async () => {
    agents = await startCluster(1);
    app = await createApiApp({ agent: realAgentPort(agents[0]!) });
  });
  afterAll(async () => {
    await app.close();
    await stopAll(agents);
  });

  it('serves every object route', async () => {
    const id = agents[0]!.status().origin;
    const put = await app.inject({ method: 'PUT', url: '/v1/objects/aw-set/svc/web' });
    expect(put.statusCode).toBe(201);
    const add = await app.inject({
      method: 'POST',
      url: '/v1/objects/aw-set/svc/web',
      payload: { kind: 'add', value: 'a' },
    });
    expect(add.json()).toMatchObject({ origin: id, value: ['a'], exists: true });
    expect(add.json().seq).toBeGreaterThan(put.json().seq);
    const batch = await app.inject({
      method: 'POST',
      url: '/v1/batch',
      payload: {
        ops: [
          { type: 'aw-set', key: 'svc/web', op: { kind: 'add', value: 'b' } },
          { type: 'pn-counter', key: 'svc/hits', op: { kind: 'increment', by: 3 } },
        ],
      },
    });
    expect(batch.json()).toEqual({ origin: id, seq: (add.json().seq as number) + 1, ops: 2 });
    const read = await app.inject({ url: '/v1/objects/aw-set/svc/web' });
    expect(read.json()).toMatchObject({ type: 'aw-set', key: 'svc/web', value: ['a', 'b'] });
    expect(read.json().clock[id]).toBeGreaterThanOrEqual(batch.json().seq);
    const list = await app.inject({ url: '/v1/objects?prefix=svc/' });
    expect(list.json().objects).toEqual([
      { type: 'pn-counter', key: 'svc/hits', value: 3 },
      { type: 'aw-set', key: 'svc/web', value: ['a', 'b'] },
    ]);
    const del = await app.inject({ method: 'DELETE', url: '/v1/objects/pn-counter/svc/hits' });
    expect(del.statusCode).toBe(200);
    expect((await app.inject({ url: '/v1/objects/pn-counter/svc/hits' })).statusCode).toBe(404);
    const bad = await app.inject({
      method: 'POST',
      url: '/v1/objects/aw-set/svc/web',
      payload: { kind: 'nope' },
    });
    expect(bad.json().code).toBe('INVALID_OP');
    const reserved = await app.inject({ method: 'PUT', url: '/v1/objects/aw-set/_sys/x' });
    expect(reserved.statusCode).toBe(403);
  });

  it('serves status and metrics of the real agent', async () => {
    const status = (await app.inject({ url: '/v1/status' })).json();
    expect(status.peerId).toBe(agents[0]!.peerId);
    expect(status.log.events).toBeGreaterThan(0);
    const metrics = (await app.inject({ url: '/metrics' })).body;
    expect(metrics).toMatch(/^smac_events_local_total [1-9]/m);
    expect(metrics).toMatch(/^smac_log_bytes [1-9]/m);
  });

  it('hands out cursors that decode to the agent clock', async () => {
    const list = (await app.inject({ url: '/v1/objects' })).json();
    expect(decodeCursor(Buffer.from(JSON.stringify(list.clock)).toString('base64url'))).toEqual(
      agents[0]!.clock(),
    );
  });
});
