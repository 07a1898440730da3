// Off loopback the Consul listener requires the agent's API token, in any of the ways Consul
// clients send one; on every address it refuses Host names that are not this agent's.
import { describe, expect, it } from 'vitest';
import { ConfigError, resolveAgentConfig } from '../../src/agent/config.js';
import { createConsulApp, startConsulServer } from '../../src/consul/server.js';
import { FakeSource } from './fake-source.js';

const TOKEN = 'a'.repeat(32);

describe('the Consul listener guard', () => {
  it('with a token, answers only requests that carry it', async () => {
    const app = await createConsulApp({ source: new FakeSource(), token: TOKEN });
    try {
      const status = async (headers: Record<string, string>, query = ''): Promise<number> =>
        (await app.inject({ method: 'GET', url: `/v1/catalog/nodes${query}`, headers })).statusCode;
      expect(await status({})).toBe(403);
      expect(await status({ 'x-consul-token': 'b'.repeat(32) })).toBe(403);
      expect(await status({ 'x-consul-token': TOKEN })).toBe(200);
      expect(await status({ authorization: `Bearer ${TOKEN}` })).toBe(200);
      expect(await status({}, `?token=${TOKEN}`)).toBe(200);
      const refused = await app.inject({ method: 'GET', url: '/v1/agent/self' });
      expect(refused.body).toMatch(/^ACL not found/);
    } finally {
      await app.close();
    }
  });

  it('refuses a Host that does not name this agent (DNS rebinding)', async () => {
    const app = await createConsulApp({ source: new FakeSource(), allowedHosts: ['consul.internal'] });
    try {
      const status = async (host: string): Promise<number> =>
        (await app.inject({ method: 'GET', url: '/v1/catalog/nodes', headers: { host } })).statusCode;
      expect(await status('attacker.example:8500')).toBe(403);
      expect(await status('127.0.0.1:8500')).toBe(200);
      expect(await status('[::1]:8500')).toBe(200);
      expect(await status('localhost:8500')).toBe(200);
      expect(await status('Consul.Internal.:8500')).toBe(200);
    } finally {
      await app.close();
    }
  });

  it('will not listen off loopback without a token', async () => {
    await expect(
      startConsulServer({ source: new FakeSource(), host: '0.0.0.0', port: 0, token: undefined }),
    ).rejects.toThrow(ConfigError);
    const server = await startConsulServer({
      source: new FakeSource(),
      host: '127.0.0.1',
      port: 0,
      token: undefined,
    });
    try {
      const r = await fetch(`${server.url}/v1/status/leader`);
      expect(await r.text()).toBe('""');
    } finally {
      await server.close();
    }
  });
});

describe('consul and consulAddr', () => {
  it('are off by default; an address turns the listener on; it is host:port', () => {
    expect(resolveAgentConfig({})).toMatchObject({ consul: false, consulAddr: '127.0.0.1:8500' });
    expect(resolveAgentConfig({ consul: true })).toMatchObject({
      consul: true,
      consulAddr: '127.0.0.1:8500',
    });
    expect(resolveAgentConfig({ consul: 'true' }).consul).toBe(true);
    expect(resolveAgentConfig({ consulAddr: '[::1]:8500' })).toMatchObject({
      consul: true,
      consulAddr: '[::1]:8500',
    });
    expect(resolveAgentConfig({ consul: false, consulAddr: '127.0.0.1:1' }).consul).toBe(false);
    for (const bad of ['8500', '127.0.0.1', '127.0.0.1:99999', 'a b:1'])
      expect(() => resolveAgentConfig({ consulAddr: bad }), bad).toThrow(/consulAddr must be host:port/);
  });
});
