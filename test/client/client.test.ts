/**
 * The SDK against a real Agent over the Unix socket and TCP: every method, the error type,
 * paging, and the failures that have no HTTP answer (no agent, no answer, not JSON).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Agent } from '../../src/agent/agent.js';
import { type ApiServers, startApiServers } from '../../src/api/server.js';
import { objectPath, SmacApiError, SmacClient } from '../../src/client/client.js';
import { startCluster, stopAll } from '../agent/helpers.js';
import { realAgentPort } from '../api/helpers.js';

const TOKEN = 'client-test-token-0123456789';

describe('SmacClient (real agent)', () => {
  let agents: Agent[];
  let servers: ApiServers;
  let dir: string;
  let client: SmacClient;

  beforeAll(async () => {
    agents = await startCluster(1);
    dir = mkdtempSync(join(tmpdir(), 'smac-client-'));
    servers = await startApiServers({
      agent: realAgentPort(agents[0]!),
      socketPath: join(dir, 'smac.sock'),
      tcp: { host: '127.0.0.1', port: 0 },
      token: TOKEN,
    });
    client = new SmacClient({ socketPath: servers.socketPath! });
  });
  afterAll(async () => {
    client.close();
    await servers.close();
    await stopAll(agents);
    rmSync(dir, { recursive: true, force: true });
  });

  it('creates, applies typed ops, reads, lists and deletes', async () => {
    const id = agents[0]!.status().origin;
    const created = await client.create('or-map', 'cfg/app');
    expect(created).toMatchObject({ type: 'or-map', key: 'cfg/app', created: true, origin: id, value: {} });
    expect((await client.create('or-map', 'cfg/app')).created).toBe(false);
    const r = await client.op('or-map', 'cfg/app', {
      kind: 'update',
      field: 'replicas',
      type: 'lww-register',
      op: { kind: 'set', value: 3 },
    });
    expect(r).toMatchObject({ exists: true, value: { replicas: 3 }, origin: id });
    await client.op('mv-register', 'cfg/leader', { kind: 'set', value: { host: 'a' } });
    const read = await client.read('mv-register', 'cfg/leader');
    expect(read.value).toEqual([{ host: 'a' }]);
    expect(read.clock[id]).toBeGreaterThan(0);

    const batch = await client.batch([
      { type: 'pn-counter', key: 'cfg/n', op: { kind: 'increment', by: 2 } },
      { type: 'rw-set', key: 'cfg/tags', op: { kind: 'add', value: 'x' } },
    ]);
    expect(batch).toMatchObject({ origin: id, ops: 2 });
    const page = await client.list({ prefix: 'cfg/' });
    expect(page.objects.map((o) => o.key)).toEqual(['cfg/app', 'cfg/leader', 'cfg/n', 'cfg/tags']);
    expect(page.next).toBeUndefined();

    expect(await client.delete('pn-counter', 'cfg/n')).toMatchObject({ type: 'pn-counter', key: 'cfg/n' });
    expect(await client.tryRead('pn-counter', 'cfg/n')).toBeUndefined();
    expect((await client.tryRead('rw-set', 'cfg/tags'))?.value).toEqual(['x']);
  });

  it('pages through a listing', async () => {
    await client.batch(
      Array.from({ length: 25 }, (_, i) => ({
        type: 'ew-flag' as const,
        key: `many/${String(i).padStart(2, '0')}`,
        op: { kind: 'enable' as const },
      })),
    );
    const keys: string[] = [];
    for await (const o of client.listAll('many/', 7)) keys.push(o.key);
    expect(keys).toHaveLength(25);
    expect(keys).toEqual([...keys].sort());
    const first = await client.list({ prefix: 'many/', limit: 10 });
    expect(first.next).toBe('many/09');
    const second = await client.list({ prefix: 'many/', limit: 10, after: first.next! });
    expect(second.objects[0]?.key).toBe('many/10');
  });

  it('surfaces API errors as SmacApiError with code, status, message and details', async () => {
    const bad = await client
      .batch([
        { type: 'pn-counter', key: 'e/ok', op: { kind: 'increment' } },
        { type: 'pn-counter', key: 'e/bad', op: { kind: 'increment', by: -3 } },
      ])
      .catch((e: unknown) => e);
    expect(bad).toBeInstanceOf(SmacApiError);
    expect(bad).toMatchObject({ code: 'INVALID_OP', status: 400, details: { index: 1 } });
    expect((bad as Error).message).toMatch(/Operation 1/);
    await expect(client.read('pn-counter', 'e/ok')).rejects.toMatchObject({ code: 'NOT_FOUND', status: 404 });
    await expect(client.create('aw-set', '_sys/members')).rejects.toMatchObject({
      code: 'RESERVED_KEY',
      status: 403,
    });
    await expect(
      client.op('lww-register', 'e/big', { kind: 'set', value: 'x'.repeat(70_000) }),
    ).rejects.toMatchObject({
      code: 'TOO_LARGE',
      status: 413,
    });
  });

  it('serves status, metrics and the OpenAPI document; uses the token over TCP', async () => {
    expect((await client.status()).peerId).toBe(agents[0]!.peerId);
    expect(await client.metrics()).toMatch(/^# HELP smac_events_local_total/m);
    const doc = await client.openapi();
    expect(doc).toHaveProperty('paths');
    const tcp = new SmacClient({ url: servers.tcp!.url, token: TOKEN });
    try {
      expect((await tcp.read('rw-set', 'cfg/tags')).value).toEqual(['x']);
    } finally {
      tcp.close();
    }
    const noToken = new SmacClient({ url: servers.tcp!.url });
    await expect(noToken.status()).rejects.toMatchObject({ code: 'UNAUTHORIZED', status: 401 });
    noToken.close();
  });

  it('watches over TCP with the token', async () => {
    const tcp = new SmacClient({ url: servers.tcp!.url, token: TOKEN });
    const watch = tcp.watch({ prefix: 'tw/' });
    const it = watch[Symbol.asyncIterator]();
    expect((await it.next()).value).toMatchObject({ kind: 'snapshot', objects: [] });
    await client.op('pn-counter', 'tw/x', { kind: 'increment' });
    expect((await it.next()).value).toMatchObject({ kind: 'change', key: 'tw/x', value: 1 });
    watch.close();
    expect((await it.next()).done).toBe(true);
    expect(() => watch[Symbol.asyncIterator]()).toThrow(/iterated once/);
    tcp.close();
  });

  it('does not retry a watch the API refuses', async () => {
    const w = client.watch({ cursor: 'not-a-cursor!', reconnect: true });
    await expect(w[Symbol.asyncIterator]().next()).rejects.toMatchObject({
      code: 'INVALID_CURSOR',
      status: 400,
    });
  });
});

describe('SmacClient failures without an API answer', () => {
  const dir = mkdtempSync(join(tmpdir(), 'smac-client-'));
  let silent: Server;
  const sockets: Socket[] = [];
  let odd: HttpServer;

  beforeAll(async () => {
    silent = createServer((socket) => {
      sockets.push(socket); // accepts and never answers
    });
    await new Promise<void>((resolve) => silent.listen(join(dir, 'silent.sock'), resolve));
    odd = createHttpServer((req, res) => {
      if (req.url === '/base/v1/status') res.end('not json');
      else {
        res.statusCode = 502;
        res.end('<html>bad gateway</html>');
      }
    });
    await new Promise<void>((resolve) => odd.listen(0, '127.0.0.1', resolve));
  });
  afterAll(async () => {
    for (const s of sockets) s.destroy();
    await new Promise((resolve) => silent.close(resolve));
    odd.closeAllConnections();
    await new Promise((resolve) => odd.close(resolve));
    rmSync(dir, { recursive: true, force: true });
  });

  it('reports a missing agent, a timeout, a non-JSON body and a non-API error page', async () => {
    const none = new SmacClient({ socketPath: join(dir, 'none.sock') });
    await expect(none.status()).rejects.toMatchObject({ code: 'CONNECTION_FAILED', status: 0 });
    const slow = new SmacClient({ socketPath: join(dir, 'silent.sock'), timeoutMs: 100 });
    await expect(slow.status()).rejects.toMatchObject({ code: 'TIMEOUT', status: 0 });
    slow.close();
    const address = odd.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    const c = new SmacClient({ url: `http://127.0.0.1:${port}/base/` });
    await expect(c.status()).rejects.toMatchObject({ code: 'BAD_RESPONSE', status: 200 });
    await expect(c.read('pn-counter', 'x')).rejects.toMatchObject({ code: 'HTTP_502', status: 502 });
    c.close();
    expect(() => new SmacClient({ url: 'ftp://host/' })).toThrow(/http: or https:/);
  });

  it('encodes keys segment by segment', () => {
    expect(objectPath('aw-set', 'a b/c?d#e/%/€')).toBe('/v1/objects/aw-set/a%20b/c%3Fd%23e/%25/%E2%82%AC');
  });
});
