// Service discovery across three real agents (libp2p on loopback, SQLite in temp dirs), with
// a Liveness the test controls: registrations replicate, deregistration and re-registration
// behave as documented, checks hide endpoints everywhere, dead nodes' endpoints drop out of
// default answers without deregistration, and TTL checks expire on an injected clock.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Agent } from '../../src/agent/agent.js';
import { ErrorCode, SmacError } from '../../src/core/errors.js';
import { CHECKS_PREFIX, Discovery, type EndpointView } from '../../src/services/discovery.js';
import { ServiceError, ServiceErrorCode } from '../../src/services/service-errors.js';
import { startCluster, stopAll, waitConnected, waitFor } from '../agent/helpers.js';
import { FakeLiveness, ManualClock, SwitchableHttpServer } from './helpers.js';

let agents: Agent[] = [];
let discoveries: Discovery[] = [];
let liveness: FakeLiveness;
const clock = new ManualClock();
const servers: SwitchableHttpServer[] = [];

// A's discovery runs on the manual clock (TTL tests); B's and C's on the real one.
let a: Agent, b: Agent, c: Agent;
let dA: Discovery, dB: Discovery, dC: Discovery;

beforeAll(async () => {
  agents = await startCluster(3, {}, { checks: false });
  await waitConnected(agents, 1);
  [a, b, c] = agents as [Agent, Agent, Agent];
  liveness = new FakeLiveness(
    agents.map((x) => x.peerId),
    { [a.peerId]: 'eu-west', [b.peerId]: 'eu-west', [c.peerId]: 'us-east' },
  );
  discoveries = agents.map(
    (host, i) => new Discovery({ host, liveness, ...(i === 0 ? { now: clock.now } : {}) }),
  );
  for (const d of discoveries) d.start();
  [dA, dB, dC] = discoveries as [Discovery, Discovery, Discovery];
});

afterAll(async () => {
  await Promise.all(discoveries.map((d) => d.stop()));
  await stopAll(agents);
  await Promise.all(servers.map((s) => s.stop()));
});

async function httpServer(): Promise<{ server: SwitchableHttpServer; url: string }> {
  const server = new SwitchableHttpServer();
  servers.push(server);
  return { server, url: await server.start() };
}

const ids = (views: readonly EndpointView[]): string[] => views.map((v) => `${v.id}@${v.node}`);

async function everywhere(
  what: string,
  cond: (d: Discovery) => boolean,
  on: readonly Discovery[] = discoveries,
): Promise<void> {
  await waitFor(() => on.every(cond), what);
}

function expectServiceError(fn: () => unknown, code: ServiceErrorCode): Promise<void> {
  return Promise.resolve()
    .then(fn)
    .then(
      () => {
        throw new Error(`expected ${code}`);
      },
      (e: unknown) => {
        expect(e).toBeInstanceOf(ServiceError);
        expect((e as ServiceError).code).toBe(code);
      },
    );
}

describe('service discovery on the keyspace', () => {
  it('an endpoint registered on A is discovered on B and C', async () => {
    const rec = await dA.register('web', 'web-1', {
      address: '10.0.0.1',
      port: 8080,
      tags: ['v1', 'primary'],
      meta: { version: '1.2.3' },
    });
    expect(rec.node).toBe(a.peerId);
    await everywhere('web-1 visible everywhere', (d) => d.healthy('web').length === 1);
    expect(dC.healthy('web')).toEqual([
      {
        service: 'web',
        id: 'web-1',
        node: a.peerId,
        address: '10.0.0.1',
        port: 8080,
        tags: ['v1', 'primary'],
        meta: { version: '1.2.3' },
        region: 'eu-west',
        nodeStatus: 'alive',
        check: null,
        healthy: true,
      },
    ]);
    expect(dB.services()).toContainEqual({ name: 'web', endpoints: 1, healthy: 1 });
    // An unknown service simply has no endpoints.
    expect(dB.healthy('nothing-here')).toEqual([]);
  });

  it('an endpoint deregistered on another agent disappears everywhere', async () => {
    await dA.register('api', 'api-1', { address: '10.0.0.2', port: 80 });
    await dA.register('api', 'api-2', { address: '10.0.0.3', port: 80 });
    await everywhere('api endpoints everywhere', (d) => d.healthy('api').length === 2);
    await dB.deregister('api', 'api-1');
    await everywhere(
      'api-1 gone everywhere',
      (d) => ids(d.healthy('api', { all: true })).join() === `api-2@${a.peerId}`,
    );
    await dB.deregister('api', 'api-2');
    await everywhere('api gone everywhere', (d) => !d.services().some((s) => s.name === 'api'));
    await expectServiceError(() => dC.deregister('api', 'api-2'), ServiceErrorCode.NotFound);
  });

  it('re-registering an id replaces the endpoint in one event; an identical one writes nothing', async () => {
    await dA.register('db', 'db-1', { address: '10.0.0.4', port: 5432 });
    await everywhere('db-1 everywhere', (d) => d.healthy('db').length === 1);
    const events: number[] = [];
    const off = a.onChange((n) => {
      if (n.local && n.objects.some((o) => o.key === '_sys/services/db')) events.push(n.event.seq);
    });
    try {
      await dA.register('db', 'db-1', { address: '10.0.0.4', port: 5433, tags: ['replica'] });
      expect(events).toHaveLength(1);
      await dA.register('db', 'db-1', { address: '10.0.0.4', port: 5433, tags: ['replica'] });
      expect(events).toHaveLength(1);
    } finally {
      off();
    }
    await everywhere('db-1 replaced everywhere', (d) => {
      const all = d.healthy('db', { all: true });
      return all.length === 1 && all[0]?.port === 5433;
    });
    expect(dC.healthy('db')[0]?.tags).toEqual(['replica']);
  });

  it('registering an id on another node moves the endpoint and its check', async () => {
    await dA.register('cache', 'cache-1', {
      address: '10.0.0.5',
      port: 6379,
      check: { type: 'ttl', ttlMs: 60_000 },
    });
    expect(dA.runningChecks()).toContainEqual({ service: 'cache', id: 'cache-1', type: 'ttl' });
    await everywhere('cache-1 everywhere', (d) => d.healthy('cache', { all: true }).length === 1);
    await dB.register('cache', 'cache-1', {
      address: '10.0.0.6',
      port: 6379,
      check: { type: 'ttl', ttlMs: 60_000 },
    });
    await everywhere(
      'cache-1 moved to B',
      (d) => ids(d.healthy('cache', { all: true })).join() === `cache-1@${b.peerId}`,
    );
    await waitFor(() => !dA.runningChecks().some((x) => x.service === 'cache'), 'A stops the moved check');
    expect(dB.runningChecks()).toContainEqual({ service: 'cache', id: 'cache-1', type: 'ttl' });
    await dB.heartbeat('cache', 'cache-1');
    await everywhere('moved endpoint healthy', (d) => d.healthy('cache').length === 1);
  });

  it('an HTTP check going critical hides the endpoint everywhere, and passing brings it back', async () => {
    const { server, url } = await httpServer();
    await dA.register('pay', 'pay-1', {
      address: '127.0.0.1',
      port: Number(new URL(url).port),
      check: { type: 'http', url, intervalMs: 100, timeoutMs: 1_000 },
    });
    await everywhere('pay-1 passing everywhere', (d) => d.healthy('pay').length === 1);
    server.mode = 'fail';
    await everywhere('pay-1 hidden everywhere', (d) => d.healthy('pay').length === 0);
    const [view] = dC.healthy('pay', { all: true });
    expect(view?.nodeStatus).toBe('alive');
    expect(view?.healthy).toBe(false);
    expect(view?.check).toMatchObject({
      type: 'http',
      status: 'critical',
      output: expect.stringContaining('500'),
    });
    expect(dB.services()).toContainEqual({ name: 'pay', endpoints: 1, healthy: 0 });
    server.mode = 'ok';
    await everywhere('pay-1 back everywhere', (d) => d.healthy('pay').length === 1);
  });

  it('a check writes its status only when it changes, plus a slow refresh', async () => {
    const { server, url } = await httpServer();
    const writes: string[] = [];
    const off = a.onChange((n) => {
      if (n.local && n.objects.some((o) => o.key === CHECKS_PREFIX + 'quiet'))
        writes.push(String(n.event.seq));
    });
    try {
      await dA.register('quiet', 'q-1', {
        address: '127.0.0.1',
        port: 1,
        check: { type: 'http', url, intervalMs: 100, timeoutMs: 1_000 },
      });
      await waitFor(() => dA.healthy('quiet').length === 1, 'quiet passing');
      const afterPassing = writes.length; // the registration (pending) and the first pass
      expect(afterPassing).toBe(2);
      const runs = server.requests;
      await waitFor(() => server.requests >= runs + 5, 'five more runs');
      expect(writes.length).toBe(afterPassing);
      clock.advance(60_000); // A's refresh interval
      const before = server.requests;
      await waitFor(() => server.requests >= before + 3 && writes.length > afterPassing, 'a refresh');
      expect(writes.length).toBe(afterPassing + 1);
      server.mode = 'fail';
      await waitFor(() => dA.healthy('quiet').length === 0, 'quiet critical');
      const again = server.requests;
      await waitFor(() => server.requests >= again + 3, 'three more runs');
      expect(writes.length).toBe(afterPassing + 2);
    } finally {
      off();
    }
  });

  it('a dead node’s endpoints drop out without deregistration and come back with the node', async () => {
    await dC.register('mail', 'mail-1', { address: '10.0.0.7', port: 25 });
    await everywhere('mail-1 everywhere', (d) => d.healthy('mail').length === 1);
    liveness.kill(c.peerId);
    try {
      expect(dA.healthy('mail')).toEqual([]);
      expect(dB.healthy('mail')).toEqual([]);
      expect(dB.healthy('mail', { all: true })).toMatchObject([
        { id: 'mail-1', node: c.peerId, nodeStatus: 'dead', healthy: false, region: 'us-east' },
      ]);
      expect(dA.services()).toContainEqual({ name: 'mail', endpoints: 1, healthy: 0 });
      // The answering agent is alive by definition: C still serves its own endpoints.
      expect(dC.healthy('mail')).toHaveLength(1);
    } finally {
      liveness.revive(c.peerId);
    }
    expect(dA.healthy('mail')).toHaveLength(1);
    expect(dB.healthy('mail')).toHaveLength(1);
    expect(dB.healthy('mail', { all: true })).toHaveLength(1); // never deregistered
  });

  it('a TTL check passes on heartbeats and expires on the injected clock', async () => {
    await dA.register('jobs', 'jobs-1', {
      address: '10.0.0.8',
      port: 9000,
      check: { type: 'ttl', ttlMs: 1_000 },
    });
    await everywhere('jobs-1 registered, pending', (d) => {
      const [v] = d.healthy('jobs', { all: true });
      return v?.check?.status === 'critical' && !v.healthy;
    });
    expect(await dA.heartbeat('jobs', 'jobs-1')).toMatchObject({ status: 'passing' });
    await everywhere('jobs-1 healthy everywhere', (d) => d.healthy('jobs').length === 1);
    clock.advance(600);
    expect((await dA.heartbeat('jobs', 'jobs-1', { status: 'passing', output: 'still here' })).output).toBe(
      'still here',
    );
    clock.advance(1_001);
    const expired = await dA.checkNow('jobs', 'jobs-1');
    expect(expired.status).toBe('critical');
    expect(expired.output).toContain('expired');
    await everywhere('jobs-1 hidden everywhere', (d) => d.healthy('jobs').length === 0);
    expect(dB.healthy('jobs', { all: true })[0]?.check?.output).toContain('expired');
    await dA.heartbeat('jobs', 'jobs-1', { status: 'warning', output: 'degraded' });
    await everywhere(
      'jobs-1 warning (not passing) everywhere',
      (d) => d.healthy('jobs', { all: true })[0]?.check?.status === 'warning',
    );
    expect(dC.healthy('jobs')).toEqual([]);
  });

  it('heartbeats go to the endpoint’s own agent, and only for TTL checks', async () => {
    const writes: number[] = [];
    const off = a.onChange((n) => {
      if (n.local && n.objects.some((o) => o.key === CHECKS_PREFIX + 'hb')) writes.push(n.event.seq);
    });
    await dA.register('hb', 'hb-ttl', {
      address: '10.0.0.9',
      port: 1,
      check: { type: 'ttl', ttlMs: 60_000 },
    });
    await dA.register('hb', 'hb-plain', { address: '10.0.0.9', port: 2 });
    await everywhere('hb endpoints everywhere', (d) => d.healthy('hb', { all: true }).length === 2);
    // Still critical before any heartbeat: the registration's pending status was the only write.
    expect((await dA.checkNow('hb', 'hb-ttl')).status).toBe('critical');
    off();
    expect(writes).toHaveLength(1);
    await expectServiceError(() => dB.heartbeat('hb', 'hb-ttl'), ServiceErrorCode.NotLocal);
    await expectServiceError(() => dA.heartbeat('hb', 'hb-plain'), ServiceErrorCode.NoTtlCheck);
    await expectServiceError(() => dA.heartbeat('hb', 'hb-missing'), ServiceErrorCode.NotFound);
    await expectServiceError(() => dA.checkNow('hb', 'hb-plain'), ServiceErrorCode.NotFound);
  });

  it('a deregistration from another agent stops the owner’s check and drops its status', async () => {
    const { url } = await httpServer();
    await dA.register('queue', 'q-1', {
      address: '127.0.0.1',
      port: 1,
      check: { type: 'http', url, intervalMs: 100, timeoutMs: 1_000 },
    });
    await everywhere('q-1 healthy everywhere', (d) => d.healthy('queue').length === 1);
    await dC.deregister('queue', 'q-1');
    await waitFor(() => !dA.runningChecks().some((x) => x.service === 'queue'), 'A stops the check');
    const statusField = (x: Agent): boolean => {
      const v = x.read('or-map', CHECKS_PREFIX + 'queue')?.value as Record<string, unknown> | undefined;
      return v !== undefined && 'q-1' in v;
    };
    await waitFor(() => agents.every((x) => !statusField(x)), 'status field gone everywhere');
  });

  it('checks follow the replicated records: a restarted discovery resumes its node’s checks', async () => {
    const { server, url } = await httpServer();
    await dC.register('search', 's-1', {
      address: '127.0.0.1',
      port: 1,
      check: { type: 'http', url, intervalMs: 100, timeoutMs: 1_000 },
    });
    await everywhere('s-1 healthy everywhere', (d) => d.healthy('search').length === 1);
    await dC.stop();
    expect(dC.runningChecks()).toEqual([]);
    server.mode = 'fail';
    const restarted = new Discovery({ host: c, liveness });
    discoveries[2] = restarted;
    restarted.start();
    expect(restarted.runningChecks()).toContainEqual({ service: 'search', id: 's-1', type: 'http' });
    await everywhere('s-1 critical after restart', (d) => d.healthy('search').length === 0, [
      dA,
      dB,
      restarted,
    ]);
    dC = restarted;
  });

  it('rejects bad input with INVALID_ARGUMENT and writes nothing', async () => {
    // A's own events only: other agents keep writing (their checks), which is not A's doing.
    const before = a.clock().get(a.status().origin);
    expect(before).toBeGreaterThan(0); // its member record, at least
    const cases: [string, string, unknown][] = [
      ['bad name', 'x', { address: 'h', port: 1 }],
      ['svc/evil', 'x', { address: 'h', port: 1 }],
      ['n'.repeat(65), 'x', { address: 'h', port: 1 }],
      ['svc', 'bad id', { address: 'h', port: 1 }],
      ['svc', 'x', { address: 'h', port: 0 }],
      ['svc', 'x', { address: 'h h', port: 1 }],
      ['svc', 'x', { address: 'h', port: 1, tags: Array.from({ length: 33 }, (_, i) => `t${i}`) }],
      ['svc', 'x', { address: 'h', port: 1, tags: ['no spaces'] }],
      ['svc', 'x', { address: 'h', port: 1, meta: { big: 'x'.repeat(600) } }],
      [
        'svc',
        'x',
        {
          address: 'h',
          port: 1,
          meta: Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`k${i}`, 'v'.repeat(500)])),
        },
      ],
      ['svc', 'x', { address: 'h', port: 1, meta: { n: 1 } }],
      ['svc', 'x', { address: 'h', port: 1, extra: true }],
      ['svc', 'x', { address: 'h', port: 1, check: { type: 'http', url: 'ftp://h/' } }],
      ['svc', 'x', null],
    ];
    for (const [name, id, input] of cases) {
      const error = await dA.register(name, id, input as never).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error, `${name} ${id} ${JSON.stringify(input)}`).toBeInstanceOf(SmacError);
      expect([ErrorCode.InvalidArgument, ErrorCode.TooLarge]).toContain((error as SmacError).code);
    }
    expect(() => dA.healthy('a/b')).toThrow(SmacError);
    await expect(dA.heartbeat('svc', 'x', { status: 'fine' as never })).rejects.toThrow(SmacError);
    expect(a.clock().get(a.status().origin)).toBe(before);
  });
});
