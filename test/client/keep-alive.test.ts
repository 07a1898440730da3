/**
 * The SDK's keep-alive connections (issue 8, docs/api.md "Connections"): it closes an idle
 * connection long before the agent would, so that the two never race; and a read (or another
 * idempotent request) that still meets a connection closed under it is sent again on a new
 * one, while a write (POST) is not, since its outcome is unknown.
 *
 * The race is provoked in this process: a plain Node HTTP server (one without the agent's
 * guard of src/api/keep-alive.ts, as an older agent or a proxy) and the client share the event
 * loop; blocking it past the server's keep-alive timeout and then sending in the same tick lets
 * the server's timer close the connection with the request unread. The block is the stimulus.
 */
import http from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createApiApp } from '../../src/api/server.js';
import { listenOnSocket } from '../../src/api/socket.js';
import { SmacApiError, SmacClient } from '../../src/client/client.js';
import { connections, stallLoop, untilConnections } from '../support/keep-alive.js';
import { ReplicaAgent } from '../api/helpers.js';

/** Node clients reuse a connection only when the server's Keep-Alive hint is at least 2 s. */
const SERVER_KEEP_ALIVE_MS = 2_000;

describe('SDK keep-alive connections', () => {
  let dir: string;
  const cleanup: (() => unknown)[] = [];
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'smac-ska-'));
  });
  afterEach(async () => {
    for (const c of cleanup.splice(0).reverse()) await c();
    rmSync(dir, { recursive: true, force: true });
  });

  it("closes an idle connection well before the agent's keep-alive timeout", async () => {
    const app = await createApiApp({ agent: new ReplicaAgent(), keepAliveTimeoutMs: 60_000 });
    cleanup.push(() => app.close());
    const socketPath = join(dir, 'smac.sock');
    await listenOnSocket(app, socketPath);
    const client = new SmacClient({ socketPath });
    cleanup.push(() => {
      client.close();
    });
    await client.status();
    expect(await connections(app.server)).toBe(1);
    // The SDK's 4 s; the agent would keep it 60 s.
    await untilConnections(app.server, 0, 'the client to close its idle connection', 15_000);
  });

  it('gives a new connection no idle timeout while it connects (only the request timeout)', async () => {
    const app = await createApiApp({ agent: new ReplicaAgent() });
    cleanup.push(() => app.close());
    const socketPath = join(dir, 'smac.sock');
    await listenOnSocket(app, socketPath);
    const client = new SmacClient({ socketPath, keepAliveMs: 200 });
    cleanup.push(() => {
      client.close();
    });
    // A connection still connecting keeps the timeout it was created with until it connects:
    // the idle one there would cut a slow connect with the request's TIMEOUT error.
    const req = client.open('GET', '/v1/status', 'application/json');
    const atCreation = await new Promise<number | undefined>((resolve) => {
      req.once('socket', (s: { timeout?: number }) => {
        resolve(s.timeout);
      });
      req.on('response', (res) => res.resume());
      req.end();
    });
    await new Promise((r) => req.once('close', r));
    expect(atCreation ?? 0).toBe(0);
  });

  it('keeps a watch open while it is idle for longer than the idle-connection time', async () => {
    const agent = new ReplicaAgent();
    const app = await createApiApp({ agent, watchHeartbeatMs: 60_000 });
    cleanup.push(() => app.close());
    const socketPath = join(dir, 'smac.sock');
    await listenOnSocket(app, socketPath);
    const client = new SmacClient({ socketPath, keepAliveMs: 200 });
    const watch = client.watch({ prefix: 'w/' });
    cleanup.push(() => {
      watch.close();
      client.close();
    });
    const events = watch[Symbol.asyncIterator]();
    expect((await events.next()).value).toMatchObject({ kind: 'snapshot' });
    await new Promise((r) => setTimeout(r, 1_000)); // the stimulus: 5 idle-connection times, no event
    await client.op('lww-register', 'w/a', { kind: 'set', value: 1 });
    expect((await events.next()).value).toMatchObject({ kind: 'change', key: 'w/a', value: 1 });
  });

  it('sends a read again on a new connection when the server closed the reused one under it, but not a write', async () => {
    const seen: string[] = [];
    const server = http.createServer((req, res) => {
      seen.push(`${req.method ?? ''} ${req.url ?? ''}`);
      req.resume();
      req.on('end', () => {
        res.setHeader('content-type', 'application/json');
        res.end('{"ok":true}');
      });
    });
    server.keepAliveTimeout = SERVER_KEEP_ALIVE_MS;
    server.keepAliveTimeoutBuffer = 0; // as Node 22, which has no buffer
    const socketPath = join(dir, 'plain.sock');
    await new Promise<void>((r) => server.listen(socketPath, r));
    cleanup.push(
      () =>
        new Promise<void>((r) => {
          server.closeAllConnections();
          server.close(() => {
            r();
          });
        }),
    );
    const client = new SmacClient({ socketPath, keepAliveMs: 60_000 });
    cleanup.push(() => {
      client.close();
    });

    await client.status();
    stallLoop(SERVER_KEEP_ALIVE_MS + 500);
    expect(await client.status()).toEqual({ ok: true });
    expect(seen).toEqual(['GET /v1/status', 'GET /v1/status']);

    stallLoop(SERVER_KEEP_ALIVE_MS + 500);
    const write = await client.op('pn-counter', 'n', { kind: 'increment' }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(write).toBeInstanceOf(SmacApiError);
    expect(write).toMatchObject({ code: 'CONNECTION_FAILED', status: 0 });
    expect(seen).toEqual(['GET /v1/status', 'GET /v1/status']); // never sent again
  });
});
