// Health checks against real servers on 127.0.0.1 (HTTP and TCP: passing, failing, timeout),
// TTL checks on an injected clock, and the runner's scheduling rules: no overlapping runs of
// one check, bounded concurrency, nothing reported after stop or removal.
import { afterEach, describe, expect, it } from 'vitest';
import { ErrorCode, SmacError } from '../../src/core/errors.js';
import {
  type CheckResult,
  CheckRunner,
  httpProbe,
  parseCheckDefinition,
  tcpProbe,
} from '../../src/services/checks.js';
import {
  closedPort,
  ManualClock,
  startBlackholeListener,
  startTcpServer,
  SwitchableHttpServer,
} from './helpers.js';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function httpServer(): Promise<{ server: SwitchableHttpServer; url: string }> {
  const server = new SwitchableHttpServer();
  const url = await server.start();
  cleanups.push(() => server.stop());
  return { server, url };
}

describe('HTTP probe', () => {
  it('passes on 2xx, warns on 429, fails on 500', async () => {
    const { server, url } = await httpServer();
    const check = { type: 'http', url, intervalMs: 1000, timeoutMs: 2000 } as const;
    expect(await httpProbe(check)).toMatchObject({
      status: 'passing',
      output: expect.stringContaining('200'),
    });
    server.mode = 'busy';
    expect((await httpProbe(check)).status).toBe('warning');
    server.mode = 'fail';
    expect(await httpProbe(check)).toMatchObject({
      status: 'critical',
      output: expect.stringContaining('500'),
    });
  });

  it('is critical when nothing listens', async () => {
    const port = await closedPort();
    const r = await httpProbe({
      type: 'http',
      url: `http://127.0.0.1:${port}/`,
      intervalMs: 1000,
      timeoutMs: 2000,
    });
    expect(r.status).toBe('critical');
    expect(r.output).toContain('ECONNREFUSED');
  });

  it('is critical when the server does not answer within the timeout', async () => {
    const { server, url } = await httpServer();
    server.mode = 'hang';
    const r = await httpProbe({ type: 'http', url, intervalMs: 1000, timeoutMs: 150 });
    expect(r).toEqual({ status: 'critical', output: `HTTP GET ${url}: timed out after 150 ms` });
  });
});

describe('TCP probe', () => {
  it('passes when a connection opens', async () => {
    const srv = await startTcpServer();
    cleanups.push(() => srv.stop());
    const r = await tcpProbe({
      type: 'tcp',
      host: '127.0.0.1',
      port: srv.port,
      intervalMs: 1000,
      timeoutMs: 2000,
    });
    expect(r).toEqual({ status: 'passing', output: `TCP connect 127.0.0.1:${srv.port}: success` });
  });

  it('is critical when the connection is refused', async () => {
    const port = await closedPort();
    const r = await tcpProbe({ type: 'tcp', host: '127.0.0.1', port, intervalMs: 1000, timeoutMs: 2000 });
    expect(r.status).toBe('critical');
    expect(r.output).toContain('ECONNREFUSED');
  });

  it('is critical when the connection does not open within the timeout', async () => {
    const hole = await startBlackholeListener();
    cleanups.push(() => {
      hole.stop();
    });
    const r = await tcpProbe({
      type: 'tcp',
      host: '127.0.0.1',
      port: hole.port,
      intervalMs: 1000,
      timeoutMs: 150,
    });
    expect(r).toEqual({
      status: 'critical',
      output: `TCP connect 127.0.0.1:${hole.port}: timed out after 150 ms`,
    });
  });
});

describe('check definitions', () => {
  it('fills in defaults', () => {
    expect(parseCheckDefinition({ type: 'http', url: 'http://127.0.0.1:1/h' })).toEqual({
      type: 'http',
      url: 'http://127.0.0.1:1/h',
      intervalMs: 10_000,
      timeoutMs: 5_000,
    });
    expect(parseCheckDefinition({ type: 'ttl', ttlMs: 500 })).toEqual({ type: 'ttl', ttlMs: 500 });
  });

  it.each([
    ['not an object', 'http'],
    ['unknown type', { type: 'grpc' }],
    ['http without url', { type: 'http' }],
    ['ftp url', { type: 'http', url: 'ftp://127.0.0.1/' }],
    ['not a url', { type: 'http', url: 'nope' }],
    ['credentials in url', { type: 'http', url: 'http://u:p@127.0.0.1/' }],
    ['url too long', { type: 'http', url: 'http://a/' + 'x'.repeat(3000) }],
    ['interval too short', { type: 'http', url: 'http://a/', intervalMs: 5 }],
    ['timeout not an integer', { type: 'http', url: 'http://a/', timeoutMs: 1.5 }],
    ['unknown field', { type: 'http', url: 'http://a/', interval: 1000 }],
    ['tcp without port', { type: 'tcp', host: '127.0.0.1' }],
    ['tcp port out of range', { type: 'tcp', host: '127.0.0.1', port: 70_000 }],
    ['tcp host with a space', { type: 'tcp', host: 'a b', port: 80 }],
    ['ttl without ttlMs', { type: 'ttl' }],
    ['ttl too long', { type: 'ttl', ttlMs: 10 ** 12 }],
  ])('rejects %s with INVALID_ARGUMENT', (_what, def) => {
    let error: unknown;
    try {
      parseCheckDefinition(def);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(SmacError);
    expect((error as SmacError).code).toBe(ErrorCode.InvalidArgument);
  });
});

describe('CheckRunner', () => {
  it('joins a run in flight instead of overlapping it', async () => {
    const { server, url } = await httpServer();
    const results: CheckResult[] = [];
    const runner = new CheckRunner({ onResult: (_id, r) => results.push(r) });
    cleanups.push(() => {
      runner.stop();
    });
    runner.set('a', { type: 'http', url, intervalMs: 60_000, timeoutMs: 5_000 });
    server.holding = true;
    const first = runner.run('a');
    const second = runner.run('a');
    expect(second).toBe(first);
    await new Promise((r) => setTimeout(r, 50));
    server.release();
    await first;
    expect(server.requests).toBe(1);
    expect(results).toHaveLength(1);
  });

  it('runs at most maxConcurrent probes at once', async () => {
    const { server, url } = await httpServer();
    const runner = new CheckRunner({ onResult: () => undefined, maxConcurrent: 2 });
    cleanups.push(() => {
      runner.stop();
    });
    server.holding = true;
    for (let i = 0; i < 6; i++)
      runner.set(`c${i}`, { type: 'http', url: `${url}?${i}`, intervalMs: 60_000, timeoutMs: 5_000 });
    const runs = runner.ids().map((id) => runner.run(id));
    // Release in waves: each wave answers what is in flight, and the queue moves up.
    while (server.requests < 6) {
      await new Promise((r) => setTimeout(r, 20));
      expect(server.inFlight).toBeLessThanOrEqual(2);
      server.release();
      server.holding = true;
    }
    server.release();
    const results = await Promise.all(runs);
    expect(results.every((r) => r.status === 'passing')).toBe(true);
    expect(server.maxInFlight).toBe(2);
  });

  it('schedules runs once started and reports nothing after stop', async () => {
    const { server, url } = await httpServer();
    const seen: string[] = [];
    const runner = new CheckRunner({ onResult: (id, r) => seen.push(`${id}:${r.status}`) });
    runner.set('a', { type: 'http', url, intervalMs: 100, timeoutMs: 1_000 });
    expect(seen).toEqual([]); // not started: nothing scheduled
    runner.start();
    while (seen.length < 2) await new Promise((r) => setTimeout(r, 20));
    expect(seen.slice(0, 2)).toEqual(['a:passing', 'a:passing']);
    runner.stop();
    const count = seen.length;
    const requests = server.requests;
    await new Promise((r) => setTimeout(r, 300));
    expect(seen.length).toBe(count);
    expect(server.requests).toBeLessThanOrEqual(requests + 1); // at most the run in flight at stop
  });

  it('drops the result of a run whose check was removed meanwhile', async () => {
    const { server, url } = await httpServer();
    const seen: CheckResult[] = [];
    const runner = new CheckRunner({ onResult: (_id, r) => seen.push(r) });
    runner.set('a', { type: 'http', url, intervalMs: 60_000, timeoutMs: 5_000 });
    server.holding = true;
    const run = runner.run('a');
    await new Promise((r) => setTimeout(r, 30));
    runner.delete('a');
    server.release();
    await run;
    expect(seen).toEqual([]);
  });

  it('keeps a check re-set with the same definition and replaces a changed one', () => {
    const runner = new CheckRunner({ onResult: () => undefined });
    expect(runner.set('a', { type: 'ttl', ttlMs: 1000 })).toBe(true);
    expect(runner.set('a', { type: 'ttl', ttlMs: 1000 })).toBe(false);
    expect(runner.set('a', { type: 'ttl', ttlMs: 2000 })).toBe(true);
    expect(runner.definition('a')).toEqual({ type: 'ttl', ttlMs: 2000 });
  });

  it('TTL: critical before the first heartbeat, passing within the TTL, critical after it', async () => {
    const clock = new ManualClock();
    const seen: CheckResult[] = [];
    const runner = new CheckRunner({ now: clock.now, onResult: (_id, r) => seen.push(r) });
    runner.set('t', { type: 'ttl', ttlMs: 1000 });
    expect((await runner.run('t')).status).toBe('critical');
    expect(runner.report('t', { status: 'passing', output: 'ok' })).toEqual({
      status: 'passing',
      output: 'ok',
    });
    clock.advance(1000);
    expect((await runner.run('t')).status).toBe('passing');
    clock.advance(1);
    const expired = await runner.run('t');
    expect(expired.status).toBe('critical');
    expect(expired.output).toContain('expired');
    runner.report('t', { status: 'warning', output: 'degraded' });
    expect((await runner.run('t')).status).toBe('warning');
    expect(seen.map((r) => r.status)).toEqual([
      'critical',
      'passing',
      'passing',
      'critical',
      'warning',
      'warning',
    ]);
  });

  it('TTL: a seed counts as a heartbeat received when the check is added', async () => {
    const clock = new ManualClock();
    const runner = new CheckRunner({ now: clock.now, onResult: () => undefined });
    runner.set('t', { type: 'ttl', ttlMs: 500 }, { status: 'passing', output: 'restored' });
    expect((await runner.run('t')).status).toBe('passing');
    clock.advance(501);
    expect((await runner.run('t')).status).toBe('critical');
  });

  it('refuses a heartbeat for a check that is not a TTL check', () => {
    const runner = new CheckRunner({ onResult: () => undefined });
    runner.set('h', { type: 'http', url: 'http://127.0.0.1:1/', intervalMs: 1000, timeoutMs: 100 });
    expect(() => runner.report('h', { status: 'passing', output: '' })).toThrow();
    expect(() => runner.report('missing', { status: 'passing', output: '' })).toThrow();
  });

  it('rejects a non-positive maxConcurrent', () => {
    expect(() => new CheckRunner({ onResult: () => undefined, maxConcurrent: 0 })).toThrow(SmacError);
  });
});
