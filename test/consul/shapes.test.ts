// The Consul-compatible listener answers in Consul's JSON shapes (the fields Consul's clients
// read: Prometheus's consul SD, python-consul, consul-template), maps members, endpoints,
// checks and regions as docs/consul.md says, and refuses what it does not serve.
import type { FastifyInstance } from 'fastify';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createConsulApp } from '../../src/consul/server.js';
import { FakeSource } from './fake-source.js';

let source: FakeSource;
let app: FastifyInstance;

beforeEach(async () => {
  source = new FakeSource();
  app = await createConsulApp({ source });
});

afterEach(async () => {
  await app.close();
});

async function get(url: string): Promise<{ status: number; body: unknown; index: number; raw: string }> {
  const r = await app.inject({ method: 'GET', url });
  const raw = r.body;
  let body: unknown = raw;
  try {
    body = JSON.parse(raw);
  } catch {
    // text answers (errors, ?raw)
  }
  return { status: r.statusCode, body, index: Number(r.headers['x-consul-index']), raw };
}

describe('catalog', () => {
  beforeEach(() => {
    source.register('web', { id: 'web-1', node: 'node-a', tags: ['v1', 'prod'], port: 8081 });
    source.register('web', { id: 'web-2', node: 'node-b', tags: ['v2'], meta: { version: '2' } });
    source.register('db', { id: 'db-1', node: 'node-c', address: '10.3.0.1', port: 5432 });
  });

  it('lists the services of its datacenter with the union of their tags', async () => {
    const r = await get('/v1/catalog/services');
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ web: ['prod', 'v1', 'v2'] });
    expect(r.index).toBeGreaterThan(0);
    expect((await get('/v1/catalog/services?dc=us')).body).toEqual({ db: [] });
  });

  it('answers 500 "No path to datacenter" for a region nobody is in, as Consul does', async () => {
    const r = await get('/v1/catalog/services?dc=mars');
    expect(r.status).toBe(500);
    expect(r.raw).toBe('No path to datacenter');
  });

  it('gives a service instance per endpoint, on the node of its member', async () => {
    const r = await get('/v1/catalog/service/web');
    const list = r.body as Record<string, unknown>[];
    expect(list.map((e) => e.ServiceID)).toEqual(['web-1', 'web-2']);
    expect(list[1]).toMatchObject({
      Node: 'node-b',
      Address: '10.0.0.2',
      Datacenter: 'eu',
      NodeMeta: { rack: 'r-node-b', region: 'eu' },
      ServiceID: 'web-2',
      ServiceName: 'web',
      ServiceTags: ['v2'],
      ServiceAddress: '10.1.0.1',
      ServicePort: 8080,
      ServiceMeta: { version: '2' },
      ServiceEnableTagOverride: false,
    });
    expect(list[1]?.ID).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    expect(Number(list[1]?.ModifyIndex)).toBeLessThanOrEqual(r.index);
    expect((await get('/v1/catalog/service/web?tag=v1')).body).toHaveLength(1);
    expect((await get('/v1/catalog/service/web?tag=v1&tag=v2')).body).toEqual([]);
    expect((await get('/v1/catalog/service/web?node-meta=rack:r-node-b')).body).toHaveLength(1);
    expect((await get('/v1/catalog/service/db?dc=us')).body).toMatchObject([
      { Node: 'node-c', Datacenter: 'us' },
    ]);
    expect((await get('/v1/catalog/service/none')).body).toEqual([]);
  });

  it('lists the nodes of its datacenter, dead ones included, left ones not', async () => {
    source.setStatus('node-b', 'dead');
    source.memberList.push({ id: 'node-d', status: 'left', incarnation: 1, region: 'eu', meta: {} });
    const r = await get('/v1/catalog/nodes');
    expect((r.body as { Node: string }[]).map((n) => n.Node)).toEqual(['node-a', 'node-b']);
    expect((r.body as unknown[])[0]).toMatchObject({
      Node: 'node-a',
      Address: '10.0.0.1',
      Datacenter: 'eu',
      TaggedAddresses: { lan: '10.0.0.1', wan: '10.0.0.1' },
      Meta: { rack: 'r-node-a', region: 'eu' },
    });
    expect((await get('/v1/catalog/datacenters')).body).toEqual(['eu', 'us']);
  });
});

describe('health', () => {
  beforeEach(() => {
    source.register('web', { id: 'ok', node: 'node-a' });
    source.register('web', {
      id: 'checked',
      node: 'node-b',
      check: { type: 'http', status: 'passing', output: 'HTTP 200', updatedAt: 1 },
    });
    source.register('web', {
      id: 'failing',
      node: 'node-b',
      check: { type: 'ttl', status: 'critical', output: 'TTL expired', updatedAt: 2 },
    });
  });

  it('gives Node, Service and Checks: serfHealth first, then the endpoint check', async () => {
    const r = await get('/v1/health/service/web');
    const list = r.body as {
      Node: { Node: string };
      Service: { ID: string };
      Checks: Record<string, unknown>[];
    }[];
    expect(list.map((e) => e.Service.ID)).toEqual(['ok', 'checked', 'failing']);
    const checked = list[1];
    expect(checked?.Node).toMatchObject({ Node: 'node-b', Address: '10.0.0.2', Datacenter: 'eu' });
    expect(checked?.Service).toMatchObject({ ID: 'checked', Service: 'web', Port: 8080, Tags: [] });
    expect(checked?.Checks).toMatchObject([
      { Node: 'node-b', CheckID: 'serfHealth', Name: 'Serf Health Status', Status: 'passing', ServiceID: '' },
      {
        Node: 'node-b',
        CheckID: 'service:checked',
        Status: 'passing',
        Output: 'HTTP 200',
        ServiceID: 'checked',
        ServiceName: 'web',
        Type: 'http',
      },
    ]);
    expect(list[0]?.Checks).toHaveLength(1);
  });

  it('?passing keeps the endpoints whose checks all pass, on live nodes', async () => {
    const ids = async (url: string): Promise<string[]> =>
      ((await get(url)).body as { Service: { ID: string } }[]).map((e) => e.Service.ID);
    expect(await ids('/v1/health/service/web?passing')).toEqual(['ok', 'checked']);
    expect(await ids('/v1/health/service/web?passing=1')).toEqual(['ok', 'checked']);
    expect(await ids('/v1/health/service/web?passing=false')).toEqual(['ok', 'checked', 'failing']);
    source.setStatus('node-b', 'suspect');
    expect(await ids('/v1/health/service/web?passing')).toEqual(['ok', 'checked']);
    source.setStatus('node-b', 'dead');
    expect(await ids('/v1/health/service/web?passing')).toEqual(['ok']);
    const all = (await get('/v1/health/service/web')).body as { Checks: { Status: string }[] }[];
    expect(all[1]?.Checks[0]?.Status).toBe('critical');
  });
});

describe('kv', () => {
  beforeEach(() => {
    source.objects = [
      { type: 'lww-register', key: 'cfg/app/name', value: 'héllo' },
      { type: 'pn-counter', key: 'cfg/app/hits', value: 42 },
      { type: 'rw-set', key: 'cfg/app/name', value: ['shadowed by the register'] },
      { type: 'or-map', key: 'cfg/db', value: { host: 'x', port: 1 } },
      { type: 'lww-register', key: '_sys/secret', value: 'agent only' },
    ];
  });

  it('gives one entry with Consul fields and a base64 Value (a string register as its text)', async () => {
    const r = await get('/v1/kv/cfg/app/name');
    expect(r.status).toBe(200);
    expect(r.body).toEqual([
      {
        LockIndex: 0,
        Key: 'cfg/app/name',
        Flags: 0,
        Value: Buffer.from('héllo').toString('base64'),
        CreateIndex: expect.any(Number) as number,
        ModifyIndex: expect.any(Number) as number,
      },
    ]);
  });

  it('?recurse gives every key under the prefix, other values as JSON, never _sys/', async () => {
    const r = await get('/v1/kv/cfg/?recurse');
    const list = r.body as { Key: string; Value: string }[];
    expect(list.map((e) => e.Key)).toEqual(['cfg/app/hits', 'cfg/app/name', 'cfg/db']);
    const text = list.map((e) => Buffer.from(e.Value, 'base64').toString('utf8'));
    expect(text).toEqual(['42', 'héllo', '{"host":"x","port":1}']);
    expect((await get('/v1/kv/?recurse')).body).toHaveLength(3);
    expect((await get('/v1/kv/_sys/secret')).status).toBe(404);
  });

  it('answers 404 with an index for a missing key, and serves ?keys and ?raw', async () => {
    const missing = await get('/v1/kv/cfg/none');
    expect(missing.status).toBe(404);
    expect(missing.index).toBeGreaterThan(0);
    expect((await get('/v1/kv/cfg/?keys')).body).toEqual(['cfg/app/hits', 'cfg/app/name', 'cfg/db']);
    expect((await get('/v1/kv/cfg/?keys&separator=/')).body).toEqual(['cfg/app/', 'cfg/db']);
    const raw = await get('/v1/kv/cfg/app/name?raw');
    expect(raw.raw).toBe('héllo');
  });

  it('is read-only: PUT and DELETE are refused with a reason', async () => {
    const r = await app.inject({ method: 'PUT', url: '/v1/kv/cfg/x', payload: 'v' });
    expect(r.statusCode).toBe(405);
    expect(r.body).toMatch(/read-only/);
    expect((await app.inject({ method: 'DELETE', url: '/v1/kv/cfg/db' })).statusCode).toBe(405);
  });
});

describe('agent and status', () => {
  it('/v1/agent/self names the datacenter (the region) and the node (the peer id)', async () => {
    const r = await get('/v1/agent/self');
    expect(r.body).toMatchObject({
      Config: { Datacenter: 'eu', NodeName: 'node-a', Server: false },
      Member: { Name: 'node-a', Addr: '10.0.0.1', Status: 1 },
    });
  });

  it('/v1/status/leader answers that there is no leader, and peers that there are no Raft peers', async () => {
    const r = await get('/v1/status/leader');
    expect(r.status).toBe(200);
    expect(r.raw).toBe('""');
    expect((await get('/v1/status/peers')).body).toEqual([]);
  });

  it('indents JSON with ?pretty, as Consul does', async () => {
    const r = await get('/v1/agent/self?pretty');
    expect(r.raw).toMatch(/^\{\n {4}"Config": \{\n {8}"Datacenter": "eu",/);
    expect((await get('/v1/status/leader?pretty')).raw).toBe('""\n');
  });

  it('answers what it does not serve with 404 and a pointer to the docs', async () => {
    const r = await get('/v1/acl/tokens');
    expect(r.status).toBe(404);
    expect(r.raw).toMatch(/docs\/consul\.md/);
  });
});
