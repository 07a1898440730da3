// The Consul listener requires the agent's API token on every address, loopback included (any
// local user can reach a loopback port: DESIGN.md "Security"), in any of the ways Consul clients
// send one; and it refuses Host names that are not this agent's.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, resolveAgentConfig } from '../../src/agent/config.js';
import { createConsulApp, startConsulServer } from '../../src/consul/server.js';
import type { ConsulAgentLike } from '../../src/consul/source.js';
import { startConsulFor } from '../../src/consul/start.js';
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

  it('will not listen without a token, on loopback either', async () => {
    for (const host of ['0.0.0.0', '127.0.0.1'])
      await expect(
        startConsulServer({ source: new FakeSource(), host, port: 0, token: undefined }),
        host,
      ).rejects.toThrow(ConfigError);
  });

  it('on loopback, refuses a request without the token (403 ACL not found) and answers one with it', async () => {
    const server = await startConsulServer({
      source: new FakeSource(),
      host: '127.0.0.1',
      port: 0,
      token: TOKEN,
    });
    try {
      const refused = await fetch(`${server.url}/v1/status/leader`);
      expect(refused.status).toBe(403);
      expect(await refused.text()).toMatch(
        /^ACL not found: SMAC's Consul listener needs the agent's API token/,
      );
      const answered = await fetch(`${server.url}/v1/status/leader`, {
        headers: { 'x-consul-token': TOKEN },
      });
      expect(answered.status).toBe(200);
      expect(await answered.text()).toBe('""');
    } finally {
      await server.close();
    }
  });

  it('as the agent starts it, takes the API token generated in the data directory', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'smac-consul-'));
    const config = resolveAgentConfig({ dataDir, consulAddr: '127.0.0.1:0' });
    const server = await startConsulFor(fakeAgent(), config);
    try {
      expect(server).toBeDefined();
      const url = `${server!.url}/v1/catalog/nodes`;
      expect((await fetch(url)).status).toBe(403);
      const token = readFileSync(join(dataDir, 'api.token'), 'utf8').trim();
      expect((await fetch(url, { headers: { authorization: `Bearer ${token}` } })).status).toBe(200);
    } finally {
      await server?.close();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

/** The least of an Agent that startConsulFor reads: no members, services or keys. */
function fakeAgent(): ConsulAgentLike {
  return {
    peerId: 'node-a',
    config: { region: 'eu' },
    members: () => ({ members: [] }),
    services: { services: () => [], healthy: () => [] },
    list: () => [],
    onChange: () => () => undefined,
  };
}

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
