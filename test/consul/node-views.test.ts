// The per-node and per-check reads (consul-template's `node` and `checks`): a node with its
// services, a node's checks, a service's checks, the checks in a state; and a ?filter
// expression, which SMAC cannot evaluate, refused rather than ignored.
import type { FastifyInstance } from 'fastify';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createConsulApp } from '../../src/consul/server.js';
import { FakeSource } from './fake-source.js';

let source: FakeSource;
let app: FastifyInstance;

beforeEach(async () => {
  source = new FakeSource();
  source.register('web', { id: 'web-1', node: 'node-a', tags: ['v1'] });
  source.register('web', {
    id: 'web-2',
    node: 'node-b',
    check: { type: 'http', status: 'critical', output: 'HTTP 500', updatedAt: 1 },
  });
  source.register('db', {
    id: 'db-1',
    node: 'node-b',
    port: 5432,
    check: { type: 'tcp', status: 'passing', output: 'connected', updatedAt: 1 },
  });
  app = await createConsulApp({ source });
});

afterEach(async () => {
  await app.close();
});

async function get(url: string): Promise<{ status: number; body: unknown }> {
  const r = await app.inject({ method: 'GET', url });
  return {
    status: r.statusCode,
    body: r.headers['content-type']?.includes('json') ? JSON.parse(r.body) : r.body,
  };
}

const checkIds = (body: unknown): string[] =>
  (body as { Node: string; CheckID: string }[]).map((c) => `${c.Node}/${c.CheckID}`);

describe('per-node and per-check reads', () => {
  it('/v1/catalog/node/<node> gives the node and its services by id; null for an unknown node', async () => {
    const r = await get('/v1/catalog/node/node-b');
    expect(r.body).toMatchObject({
      Node: { Node: 'node-b', Address: '10.0.0.2', Datacenter: 'eu' },
      Services: {
        'db-1': { ID: 'db-1', Service: 'db', Port: 5432 },
        'web-2': { ID: 'web-2', Service: 'web' },
      },
    });
    expect((await get('/v1/catalog/node/nobody')).body).toBeNull();
    expect((await get('/v1/catalog/node/node-c')).body).toBeNull(); // in another datacenter
    expect((await get('/v1/catalog/node/node-c?dc=us')).body).toMatchObject({
      Node: { Node: 'node-c' },
      Services: {},
    });
  });

  it('/v1/health/node/<node> gives its serfHealth and its endpoints’ checks', async () => {
    expect(checkIds((await get('/v1/health/node/node-b')).body)).toEqual([
      'node-b/serfHealth',
      'node-b/service:db-1',
      'node-b/service:web-2',
    ]);
    source.setStatus('node-b', 'dead');
    const checks = (await get('/v1/health/node/node-b')).body as { CheckID: string; Status: string }[];
    expect(checks[0]).toMatchObject({ CheckID: 'serfHealth', Status: 'critical' });
  });

  it('/v1/health/checks/<service> gives the endpoints’ own checks', async () => {
    const r = await get('/v1/health/checks/web');
    expect(r.body).toMatchObject([
      { CheckID: 'service:web-2', ServiceName: 'web', Status: 'critical', Output: 'HTTP 500' },
    ]);
    expect((await get('/v1/health/checks/none')).body).toEqual([]);
  });

  it('/v1/health/state/<state> gives the checks in that state, or all with any', async () => {
    expect(checkIds((await get('/v1/health/state/critical')).body)).toEqual(['node-b/service:web-2']);
    expect(checkIds((await get('/v1/health/state/passing')).body)).toEqual([
      'node-a/serfHealth',
      'node-b/serfHealth',
      'node-b/service:db-1',
    ]);
    expect((await get('/v1/health/state/any')).body).toHaveLength(4);
    expect((await get('/v1/health/state/bad')).status).toBe(400);
  });

  it('/v1/agent/members, /v1/agent/services and /v1/agent/checks describe this agent and its members', async () => {
    source.memberList.push({ id: 'node-d', status: 'left', incarnation: 2, region: 'eu', meta: {} });
    source.setStatus('node-b', 'dead');
    const members = (await get('/v1/agent/members')).body as {
      Name: string;
      Status: number;
      Tags: { dc: string };
    }[];
    expect(members.map((m) => [m.Name, m.Status, m.Tags.dc])).toEqual([
      ['node-a', 1, 'eu'],
      ['node-b', 4, 'eu'],
      ['node-c', 1, 'us'],
      ['node-d', 3, 'eu'],
    ]);
    source.register('cache', {
      id: 'cache-1',
      node: 'node-a',
      check: { type: 'ttl', status: 'warning', output: 'slow', updatedAt: 1 },
    });
    expect((await get('/v1/agent/services')).body).toMatchObject({
      'cache-1': { ID: 'cache-1', Service: 'cache', Datacenter: 'eu' },
      'web-1': { ID: 'web-1', Service: 'web', Tags: ['v1'], Datacenter: 'eu' },
    });
    expect(Object.keys((await get('/v1/agent/services')).body as object)).toHaveLength(2);
    expect((await get('/v1/agent/checks')).body).toEqual({
      'service:cache-1': expect.objectContaining({
        Status: 'warning',
        Output: 'slow',
        ServiceID: 'cache-1',
      }) as unknown,
    });
  });

  it('refuses a ?filter expression instead of answering more than was asked', async () => {
    const r = await get('/v1/health/service/web?filter=Service.Port%20==%208080');
    expect(r.status).toBe(400);
    expect(r.body).toMatch(/not supported/);
  });
});
