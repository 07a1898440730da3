/**
 * The listeners over real sockets: the Unix socket (mode 0660, stale file removed, a live one
 * refused), TCP (refused without a token source, 401 without or with a wrong token), and
 * shutdown with open watches. Host checks, generated tokens, socket access: secure.test.ts.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/agent/config.js';
import { isLoopbackHost, startApiServers, type ApiServers } from '../../src/api/server.js';
import { SmacClient, SmacApiError } from '../../src/client/client.js';
import { ReplicaAgent } from './helpers.js';

const TOKEN = 'test-token-0123456789abcdef';

describe('API listeners', () => {
  let dir: string;
  let agent: ReplicaAgent;
  const cleanup: (() => unknown)[] = [];

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'smac-api-'));
    agent = new ReplicaAgent();
  });
  afterEach(async () => {
    for (const c of cleanup.splice(0).reverse()) await c();
    rmSync(dir, { recursive: true, force: true });
  });

  async function start(opts: Partial<Parameters<typeof startApiServers>[0]> = {}): Promise<ApiServers> {
    const servers = await startApiServers({
      agent,
      socketPath: join(dir, 'smac.sock'),
      tcp: { host: '127.0.0.1', port: 0 },
      token: TOKEN,
      ...opts,
    });
    cleanup.push(() => servers.close());
    return servers;
  }

  function client(opts: ConstructorParameters<typeof SmacClient>[0]): SmacClient {
    const c = new SmacClient(opts);
    cleanup.push(() => {
      c.close();
    });
    return c;
  }

  it('serves the same API on a 0660 Unix socket and on loopback TCP, and removes the socket on close', async () => {
    const servers = await start();
    const path = join(dir, 'smac.sock');
    expect(servers.socketPath).toBe(path);
    expect(statSync(path).isSocket()).toBe(true);
    expect(statSync(path).mode & 0o777).toBe(0o660);
    expect(servers.tcp?.host).toBe('127.0.0.1');
    expect(servers.tcp?.port).toBeGreaterThan(0);
    expect(servers.tokenRequired).toBe(true);

    const overSocket = client({ socketPath: path });
    const overTcp = client({ url: servers.tcp!.url, token: TOKEN });
    await overSocket.op('pn-counter', 'hits', { kind: 'increment', by: 2 });
    expect((await overTcp.read('pn-counter', 'hits')).value).toBe(2);
    await servers.close();
    expect(existsSync(path)).toBe(false);
    await expect(overSocket.status()).rejects.toMatchObject({ code: 'CONNECTION_FAILED', status: 0 });
  });

  it('removes a stale socket left by a dead process, and refuses a live one', async () => {
    const path = join(dir, 'smac.sock');
    // A process that listens on the path and dies by SIGKILL leaves the socket file behind.
    const child = spawn(process.execPath, [
      '-e',
      `require('net').createServer().listen(${JSON.stringify(path)}, () => console.log('up'))`,
    ]);
    await new Promise<void>((resolve) => {
      child.stdout.once('data', () => {
        resolve();
      });
    });
    child.kill('SIGKILL');
    await new Promise((resolve) => child.once('exit', resolve));
    expect(statSync(path).isSocket()).toBe(true);
    const servers = await start({ tcp: false });
    expect((await client({ socketPath: path }).status()).peerId).toBe('peer-a');
    await servers.close();

    const live: Server = createServer();
    await new Promise<void>((resolve) => live.listen(path, resolve));
    cleanup.push(() => new Promise((resolve) => live.close(resolve)));
    await expect(start({ tcp: false })).rejects.toThrow(/Another process serves the API/);
    await expect(start({ tcp: false })).rejects.toBeInstanceOf(ConfigError);
  });

  it('refuses a path that is not a socket, or too long for one', async () => {
    const file = join(dir, 'smac.sock');
    writeFileSync(file, 'data');
    await expect(start({ tcp: false })).rejects.toThrow(/is not a socket/);
    await expect(start({ tcp: false, socketPath: join(dir, 'x'.repeat(120)) })).rejects.toThrow(/allow 107/);
  });

  it('refuses TCP without a token source, on loopback too, and weak or double tokens', async () => {
    for (const host of ['127.0.0.1', '0.0.0.0', '::', '10.1.2.3', 'example.org']) {
      await expect(
        start({ socketPath: false, tcp: { host, port: 0 }, token: undefined }),
        host,
      ).rejects.toThrow(/The TCP API requires a bearer token/);
    }
    await expect(start({ token: 'short' })).rejects.toThrow(/at least 16/);
    await expect(start({ token: 'has spaces in the token ok' })).rejects.toThrow(/without spaces/);
    await expect(start({ token: TOKEN, tokenFile: '/nope' })).rejects.toThrow(/not both/);
    await expect(start({ token: undefined, tokenFile: join(dir, 'missing') })).rejects.toThrow(
      /Cannot read the API token file/,
    );
  });

  it('requires the bearer token on TCP, and not on the socket', async () => {
    const servers = await start();
    expect(servers.tokenRequired).toBe(true);
    const url = servers.tcp!.url;
    for (const c of [client({ url }), client({ url, token: 'wrong-token-0123456789' })]) {
      const err = await c.status().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(SmacApiError);
      expect(err).toMatchObject({ code: 'UNAUTHORIZED', status: 401 });
      // Before routing: an unknown route does not reveal itself either.
      const res = await fetch(`${url}/v9/unknown`);
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toBe('Bearer');
    }
    expect((await client({ url, token: TOKEN }).status()).peerId).toBe('peer-a');
    expect((await client({ socketPath: servers.socketPath! }).status()).peerId).toBe('peer-a');
    const raw = await fetch(`${url}/v1/status`, { headers: { authorization: `bearer   ${TOKEN}` } });
    expect(raw.status).toBe(200);
  });

  it('reads the token from a file', async () => {
    const file = join(dir, 'token');
    writeFileSync(file, TOKEN + '\n', { mode: 0o600 });
    const servers = await start({ token: undefined, tokenFile: file, socketPath: false });
    expect(servers.tokenFile).toBe(file);
    await expect(client({ url: servers.tcp!.url }).status()).rejects.toMatchObject({ status: 401 });
    expect((await client({ url: servers.tcp!.url, token: TOKEN }).status()).peerId).toBe('peer-a');
  });

  it('answers a request line too long for HTTP with 431 TOO_LARGE, as JSON', async () => {
    const servers = await start({ socketPath: false });
    const res = await fetch(`${servers.tcp!.url}/v1/objects/pn-counter/${'k'.repeat(20_000)}`);
    expect(res.status).toBe(431);
    expect(await res.json()).toMatchObject({ code: 'TOO_LARGE' });
  });

  it('ends open watches on close, and releases their slots', async () => {
    const servers = await start({ maxWatches: 1 });
    const c = client({ socketPath: servers.socketPath! });
    const w = c.watch();
    const it = w[Symbol.asyncIterator]();
    expect((await it.next()).value).toMatchObject({ kind: 'snapshot' });
    // The bound is shared by both listeners.
    await expect(
      client({ url: servers.tcp!.url, token: TOKEN }).watch()[Symbol.asyncIterator]().next(),
    ).rejects.toMatchObject({
      code: 'TOO_MANY_WATCHES',
      status: 429,
    });
    await servers.close();
    expect(await it.next()).toEqual({ done: true, value: undefined });
    expect(agent.listenerCount()).toBe(0);
  });

  it('knows loopback addresses', () => {
    for (const h of ['127.0.0.1', '127.8.9.10', '::1', 'localhost', '::ffff:127.0.0.1', '0:0:0:0:0:0:0:1'])
      expect(isLoopbackHost(h), h).toBe(true);
    for (const h of ['0.0.0.0', '::', '10.0.0.1', '192.168.1.1', 'example.org', '128.0.0.1', '::2'])
      expect(isLoopbackHost(h), h).toBe(false);
  });
});
