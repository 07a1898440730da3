// The REST routes of discovery and load, registered on a bare Fastify instance and driven with
// inject(): shapes of the replies, and the status and stable code of every error. The instance
// validates with TypeBox and maps errors the way the API plugin (src/api/app.ts) does, plus
// the ServiceError branch (its own code and status) that plugin needs for these routes.
import Fastify, { type FastifyInstance, type FastifySchemaCompiler } from 'fastify';
import type { TSchema } from 'typebox';
import { Compile } from 'typebox/compile';
import { Value } from 'typebox/value';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Agent } from '../../src/agent/agent.js';
import { mapError } from '../../src/api/errors.js';
import { loadRoutes } from '../../src/api/routes/load.js';
import { servicesRoutes } from '../../src/api/routes/services.js';
import { Discovery } from '../../src/services/discovery.js';
import { LoadMonitor } from '../../src/services/load.js';
import { isServiceError } from '../../src/services/service-errors.js';
import { startCluster, stopAll } from '../agent/helpers.js';
import { FakeLiveness } from './helpers.js';

let agents: Agent[] = [];
let app: FastifyInstance;
let discovery: Discovery;
let node: string;

const validatorCompiler: FastifySchemaCompiler<TSchema> = ({ schema, httpPart }) => {
  const check = Compile(schema);
  const convert = httpPart === 'querystring' || httpPart === 'headers';
  return (input: unknown) => {
    const value = convert ? Value.Convert(schema, input) : input;
    if (check.Check(value)) return { value };
    return { error: check.Errors(value).slice(0, 3) as never };
  };
};

beforeAll(async () => {
  agents = await startCluster(1, {}, { checks: false });
  const host = agents[0]!;
  node = host.peerId;
  const liveness = new FakeLiveness([node], { [node]: 'eu-west' });
  discovery = new Discovery({ host, liveness });
  discovery.start();
  app = Fastify();
  app.setValidatorCompiler(validatorCompiler);
  app.setErrorHandler((error, _request, reply) => {
    if (isServiceError(error))
      return reply.status(error.statusCode).send({ code: error.code, message: error.message });
    const mapped = mapError(error);
    return reply.status(mapped.status).send(mapped.body);
  });
  await app.register(servicesRoutes, { services: discovery });
  await app.register(loadRoutes, { load: new LoadMonitor({ host, liveness }) });
  await app.ready();
});

afterAll(async () => {
  await app.close();
  await discovery.stop();
  await stopAll(agents);
});

async function call(method: 'GET' | 'PUT' | 'POST' | 'DELETE', url: string, payload?: unknown) {
  const res = await app.inject({
    method,
    url,
    ...(payload === undefined ? {} : { payload: payload as object }),
  });
  return { status: res.statusCode, body: res.body === '' ? undefined : JSON.parse(res.body) };
}

describe('/v1/services', () => {
  it('registers, lists, queries and deregisters an endpoint', async () => {
    expect(await call('GET', '/v1/services')).toEqual({ status: 200, body: { services: [] } });
    const put = await call('PUT', '/v1/services/web/endpoints/web-1', {
      address: '10.0.0.1',
      port: 8080,
      tags: ['v1'],
      meta: { version: '1' },
    });
    expect(put).toEqual({
      status: 200,
      body: {
        service: 'web',
        endpoint: {
          id: 'web-1',
          node,
          address: '10.0.0.1',
          port: 8080,
          tags: ['v1'],
          meta: { version: '1' },
        },
      },
    });
    expect((await call('GET', '/v1/services')).body).toEqual({
      services: [{ name: 'web', endpoints: 1, healthy: 1 }],
    });
    const get = await call('GET', '/v1/services/web');
    expect(get.status).toBe(200);
    expect(get.body?.endpoints).toEqual([
      {
        service: 'web',
        id: 'web-1',
        node,
        address: '10.0.0.1',
        port: 8080,
        tags: ['v1'],
        meta: { version: '1' },
        region: 'eu-west',
        nodeStatus: 'alive',
        check: null,
        healthy: true,
      },
    ]);
    expect(await call('DELETE', '/v1/services/web/endpoints/web-1')).toEqual({
      status: 204,
      body: undefined,
    });
    expect((await call('GET', '/v1/services/web')).body).toEqual({ service: 'web', endpoints: [] });
    const again = await call('DELETE', '/v1/services/web/endpoints/web-1');
    expect(again.status).toBe(404);
    expect(again.body?.code).toBe('NOT_FOUND');
  });

  it('hides an endpoint until its TTL check passes; ?all=true shows it with its check', async () => {
    const put = await call('PUT', '/v1/services/jobs/endpoints/j-1', {
      address: 'jobs.internal',
      port: 9000,
      check: { type: 'ttl', ttlMs: 60_000 },
    });
    expect(put.body?.endpoint.check).toEqual({ type: 'ttl', ttlMs: 60_000 });
    expect((await call('GET', '/v1/services/jobs')).body?.endpoints).toEqual([]);
    const all = await call('GET', '/v1/services/jobs?all=true');
    expect(all.body?.endpoints[0]).toMatchObject({
      id: 'j-1',
      healthy: false,
      check: { type: 'ttl', status: 'critical' },
    });
    // No body at all is a plain "passing".
    expect(await call('POST', '/v1/services/jobs/endpoints/j-1/heartbeat')).toEqual({
      status: 200,
      body: { status: 'passing', output: 'TTL check: heartbeat (passing)' },
    });
    expect((await call('GET', '/v1/services/jobs')).body?.endpoints).toHaveLength(1);
    const warn = await call('POST', '/v1/services/jobs/endpoints/j-1/heartbeat', {
      status: 'warning',
      output: 'slow',
    });
    expect(warn.body).toEqual({ status: 'warning', output: 'slow' });
    expect((await call('GET', '/v1/services/jobs')).body?.endpoints).toEqual([]);
  });

  it('registers HTTP and TCP checks with defaults filled in', async () => {
    const http = await call('PUT', '/v1/services/h/endpoints/h-1', {
      address: '127.0.0.1',
      port: 1,
      check: { type: 'http', url: 'http://127.0.0.1:1/health' },
    });
    expect(http.body?.endpoint.check).toEqual({
      type: 'http',
      url: 'http://127.0.0.1:1/health',
      intervalMs: 10_000,
      timeoutMs: 5_000,
    });
    const tcp = await call('PUT', '/v1/services/h/endpoints/h-2', {
      address: '127.0.0.1',
      port: 1,
      check: { type: 'tcp', host: '127.0.0.1', port: 1, intervalMs: 2_000 },
    });
    expect(tcp.body?.endpoint.check).toEqual({
      type: 'tcp',
      host: '127.0.0.1',
      port: 1,
      intervalMs: 2_000,
      timeoutMs: 5_000,
    });
  });

  it('answers heartbeats for non-TTL or unknown endpoints with 409 / 404', async () => {
    await call('PUT', '/v1/services/plain/endpoints/p-1', { address: 'h', port: 1 });
    const noTtl = await call('POST', '/v1/services/plain/endpoints/p-1/heartbeat');
    expect(noTtl.status).toBe(409);
    expect(noTtl.body?.code).toBe('NO_TTL_CHECK');
    const missing = await call('POST', '/v1/services/plain/endpoints/nope/heartbeat');
    expect(missing.status).toBe(404);
    expect(missing.body?.code).toBe('NOT_FOUND');
  });

  it.each([
    ['a bad service name', 'PUT', '/v1/services/bad%20name/endpoints/x', { address: 'h', port: 1 }],
    ['a long service name', 'PUT', `/v1/services/${'n'.repeat(65)}/endpoints/x`, { address: 'h', port: 1 }],
    ['a bad endpoint id', 'PUT', '/v1/services/s/endpoints/a%2Fb', { address: 'h', port: 1 }],
    ['a missing port', 'PUT', '/v1/services/s/endpoints/x', { address: 'h' }],
    ['port 0', 'PUT', '/v1/services/s/endpoints/x', { address: 'h', port: 0 }],
    ['a port as text', 'PUT', '/v1/services/s/endpoints/x', { address: 'h', port: '80' }],
    ['an address with a space', 'PUT', '/v1/services/s/endpoints/x', { address: 'a b', port: 1 }],
    [
      'too many tags',
      'PUT',
      '/v1/services/s/endpoints/x',
      { address: 'h', port: 1, tags: Array.from({ length: 33 }, (_, i) => `t${i}`) },
    ],
    [
      'a long meta value',
      'PUT',
      '/v1/services/s/endpoints/x',
      { address: 'h', port: 1, meta: { k: 'v'.repeat(513) } },
    ],
    ['an unknown field', 'PUT', '/v1/services/s/endpoints/x', { address: 'h', port: 1, weight: 3 }],
    [
      'an unknown check type',
      'PUT',
      '/v1/services/s/endpoints/x',
      { address: 'h', port: 1, check: { type: 'grpc' } },
    ],
    [
      'a check interval below the bound',
      'PUT',
      '/v1/services/s/endpoints/x',
      { address: 'h', port: 1, check: { type: 'http', url: 'http://h/', intervalMs: 1 } },
    ],
    ['a bad heartbeat status', 'POST', '/v1/services/jobs/endpoints/j-1/heartbeat', { status: 'fine' }],
    ['a bad ?all', 'GET', '/v1/services/web?all=maybe', undefined],
  ] as const)('rejects %s with 400 BAD_REQUEST', async (_what, method, url, payload) => {
    const res = await call(method, url, payload);
    expect(res.status).toBe(400);
    expect(res.body?.code).toBe('BAD_REQUEST');
  });

  it('rejects what only the service can judge with 400 INVALID_ARGUMENT, and meta past 4 KiB with 413', async () => {
    const ftp = await call('PUT', '/v1/services/s/endpoints/x', {
      address: 'h',
      port: 1,
      check: { type: 'http', url: 'ftp://h/' },
    });
    expect(ftp.status).toBe(400);
    expect(ftp.body?.code).toBe('INVALID_ARGUMENT');
    const extra = await call('PUT', '/v1/services/s/endpoints/x', {
      address: 'h',
      port: 1,
      check: { type: 'ttl', ttlMs: 1000, url: 'http://h/' },
    });
    expect(extra.body?.code).toBe('INVALID_ARGUMENT');
    const big = await call('PUT', '/v1/services/s/endpoints/x', {
      address: 'h',
      port: 1,
      meta: Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`k${i}`, 'v'.repeat(500)])),
    });
    expect(big.status).toBe(413);
    expect(big.body?.code).toBe('TOO_LARGE');
    expect((await call('GET', '/v1/services/s?all=true')).body?.endpoints).toEqual([]);
  });
});

describe('/v1/load', () => {
  it('counts, sets gauges and reports per node and per region', async () => {
    expect(await call('POST', '/v1/load/conns/increment')).toEqual({
      status: 200,
      body: { metric: 'conns', node, value: 1 },
    });
    expect((await call('POST', '/v1/load/conns/increment', { by: 4 })).body?.value).toBe(5);
    expect((await call('POST', '/v1/load/conns/decrement', { by: 2 })).body?.value).toBe(3);
    expect(await call('PUT', '/v1/load/conns/gauge', { value: 0.5 })).toEqual({
      status: 200,
      body: { metric: 'conns', node, value: 0.5 },
    });
    expect(await call('GET', '/v1/load/conns')).toEqual({
      status: 200,
      body: {
        metric: 'conns',
        counter: {
          sum: 3,
          count: 1,
          nodes: [{ node, value: 3, alive: true, region: 'eu-west' }],
          regions: { 'eu-west': 3 },
        },
        gauge: {
          sum: 0.5,
          count: 1,
          nodes: [{ node, value: 0.5, alive: true, region: 'eu-west' }],
          regions: { 'eu-west': 0.5 },
        },
      },
    });
    expect((await call('GET', '/v1/load')).body).toEqual({
      metrics: [{ name: 'conns', counter: true, gauge: true }],
    });
    expect((await call('DELETE', '/v1/load/conns/counter')).status).toBe(204);
    expect((await call('DELETE', '/v1/load/conns/gauge')).status).toBe(204);
    expect((await call('GET', '/v1/load/conns')).status).toBe(404);
  });

  it('answers an unknown metric with 404 NOT_FOUND', async () => {
    const res = await call('GET', '/v1/load/never');
    expect(res.status).toBe(404);
    expect(res.body?.code).toBe('NOT_FOUND');
  });

  it.each([
    ['by 0', 'POST', '/v1/load/m/increment', { by: 0 }],
    ['a fractional by', 'POST', '/v1/load/m/decrement', { by: 1.5 }],
    ['a huge by', 'POST', '/v1/load/m/increment', { by: 2_000_000_000 }],
    ['an unknown field', 'POST', '/v1/load/m/increment', { step: 1 }],
    ['a gauge without value', 'PUT', '/v1/load/m/gauge', {}],
    ['a gauge as text', 'PUT', '/v1/load/m/gauge', { value: '1' }],
    ['a bad metric name', 'GET', '/v1/load/bad%20name', undefined],
  ] as const)('rejects %s with 400 BAD_REQUEST', async (_what, method, url, payload) => {
    const res = await call(method, url, payload);
    expect(res.status).toBe(400);
    expect(res.body?.code).toBe('BAD_REQUEST');
  });
});
