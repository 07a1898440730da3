/**
 * GET /v1/health (liveness) and /v1/health/ready (readiness) through `inject()`, on an agent
 * whose status the tests shape: no join addresses, joins not connected yet, a join that is
 * the agent itself, and a store that no longer answers.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import type { AgentStatus } from '../../src/agent/agent.js';
import type { ApiApp } from '../../src/api/app.js';
import { createApiApp } from '../../src/api/server.js';
import { ReplicaAgent } from './helpers.js';

type Join = AgentStatus['join'][number];

describe('health routes', () => {
  let agent: ReplicaAgent;
  let app: ApiApp;
  let shape: (s: AgentStatus) => AgentStatus;

  beforeEach(async () => {
    agent = new ReplicaAgent();
    shape = (s) => s;
    const status = agent.status.bind(agent);
    agent.status = () => shape(status());
    app = await createApiApp({ agent });
    return () => app.close();
  });

  const get = async (url: string): Promise<{ status: number; body: Record<string, unknown> }> => {
    const r = await app.inject({ method: 'GET', url });
    return { status: r.statusCode, body: r.json() };
  };

  it('is live and ready without join addresses', async () => {
    for (const url of ['/v1/health', '/v1/health/ready']) {
      const r = await get(url);
      expect(r.status).toBe(200);
      expect(r.body).toMatchObject({ live: true, ready: true, peerId: 'peer-a' });
      expect(r.body.checks).toMatchObject({ store: { ok: true }, peers: { ok: true } });
    }
  });

  it('is live but not ready while no join address is connected', async () => {
    const join: Join[] = [
      { address: '/ip4/10.0.0.9/tcp/7946', state: 'waiting', failures: 4, peerId: undefined },
    ];
    shape = (s) => ({ ...s, peers: [], join });
    const live = await get('/v1/health');
    expect(live.status).toBe(200);
    expect(live.body).toMatchObject({ live: true, ready: false });
    const ready = await get('/v1/health/ready');
    expect(ready.status).toBe(503);
    expect(ready.body.code).toBe('UNAVAILABLE');
    expect(ready.body.message).toMatch(/not ready: None of the 1 join address\(es\) is connected yet/);
    expect(ready.body.message).toContain('/ip4/10.0.0.9/tcp/7946: waiting, 4 failed dial(s)');
    expect(ready.body.details).toMatchObject({ live: true, ready: false, checks: { peers: { ok: false } } });

    // One connected peer is enough, whether or not it is a join address.
    shape = (s) => ({ ...s, join });
    expect((await get('/v1/health/ready')).status).toBe(200);
  });

  it('does not wait for a join address that is the agent itself', async () => {
    const join: Join[] = [{ address: '/dns4/seed/tcp/7946', state: 'self', failures: 0, peerId: 'peer-a' }];
    shape = (s) => ({ ...s, peers: [], join });
    expect((await get('/v1/health/ready')).status).toBe(200);
  });

  it('is neither live nor ready when the store does not answer', async () => {
    shape = () => {
      throw new Error('The store is closed.');
    };
    for (const url of ['/v1/health', '/v1/health/ready']) {
      const r = await get(url);
      expect(r.status).toBe(503);
      expect(r.body).toMatchObject({
        code: 'UNAVAILABLE',
        message: "The agent is not live: The agent's store does not answer: The store is closed.",
        details: { live: false, ready: false },
      });
    }
  });

  it('is in the OpenAPI document', async () => {
    const doc = (await get('/openapi.json')).body as { paths: Record<string, unknown> };
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(['/v1/health', '/v1/health/ready']));
  });
});
