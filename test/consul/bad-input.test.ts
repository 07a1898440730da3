// Bad input gets a clear 4xx in Consul's manner (plain text), never a 500: a URL that is not
// UTF-8, a service name SMAC could never register (the agent's Discovery throws on one).
import { describe, expect, it } from 'vitest';
import { createConsulApp } from '../../src/consul/server.js';
import { agentConsulSource, type ConsulAgentLike } from '../../src/consul/source.js';
import { FakeSource } from './fake-source.js';

describe('bad input', () => {
  it('answers a URL that is not valid UTF-8 with 400 in plain text', async () => {
    const app = await createConsulApp({ source: new FakeSource() });
    try {
      const r = await app.inject({ method: 'GET', url: '/v1/kv/%ff' });
      expect(r.statusCode).toBe(400);
      expect(r.headers['content-type']).toMatch(/^text\/plain/);
    } finally {
      await app.close();
    }
  });

  it('answers [] for a service name SMAC cannot register, as Consul does for an unknown one', async () => {
    const fake = new FakeSource();
    const agent: ConsulAgentLike = {
      peerId: fake.peerId,
      config: { region: fake.region },
      members: () => ({ members: fake.members() }),
      services: {
        services: () => [],
        healthy: (name) => {
          if (!/^[A-Za-z0-9._-]+$/.test(name)) throw new Error(`INVALID_ARGUMENT: bad service name ${name}`);
          return [];
        },
      },
      list: () => [],
      onChange: () => () => undefined,
    };
    const app = await createConsulApp({ source: agentConsulSource(agent) });
    try {
      for (const url of [
        '/v1/catalog/service/%00',
        '/v1/health/service/a%20b?passing',
        '/v1/health/checks/%2F',
      ]) {
        const r = await app.inject({ method: 'GET', url });
        expect(r.statusCode, url).toBe(200);
        expect(JSON.parse(r.body), url).toEqual([]);
      }
    } finally {
      await app.close();
    }
  });
});
