/**
 * Keep-alive connections on the API's Unix socket (issue 8: writes failing with ECONNRESET in
 * the WAN soak). A client that keeps idle connections open until the server closes them
 * (Node's http.Agent({ keepAlive: true }), as the benchmark's client) may reuse one just as
 * the agent's event loop is stalled; when the loop resumes, its timers run before it reads
 * the waiting request, so the keep-alive timeout used to close a connection that had a request
 * on it, unread: the client got ECONNRESET for a write it could not know the outcome of.
 *
 * The stall is simulated in this process (server and client share the loop): block the loop
 * past the keep-alive timeout, then send on the idle connection in the same tick. The block is
 * the stimulus, not a wait for a condition.
 */
import http from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ApiApp } from '../../src/api/app.js';
import { createApiApp } from '../../src/api/server.js';
import { listenOnSocket } from '../../src/api/socket.js';
import { connections, stallLoop, untilConnections } from '../support/keep-alive.js';
import { ReplicaAgent } from './helpers.js';

/** Node clients reuse a connection only when the server's Keep-Alive hint is at least 2 s. */
const KEEP_ALIVE_MS = 2_000;

interface Outcome {
  readonly status?: number;
  readonly error?: string;
  readonly reused: boolean;
}

function send(
  pool: http.Agent,
  socketPath: string,
  method: string,
  path: string,
  body?: unknown,
): Promise<Outcome> {
  const payload = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolve) => {
    const req = http.request(
      {
        socketPath,
        agent: pool,
        method,
        path,
        headers:
          payload === undefined
            ? {}
            : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) },
      },
      (res) => {
        res.resume();
        res.on('end', () => {
          resolve({ status: res.statusCode ?? 0, reused: req.reusedSocket });
        });
      },
    );
    req.setTimeout(20_000, () => req.destroy(new Error('no answer within 20 s')));
    req.on('error', (e: NodeJS.ErrnoException) => {
      resolve({ error: e.code ?? e.message, reused: req.reusedSocket });
    });
    req.end(payload);
  });
}

describe('keep-alive connections of the API', () => {
  let dir: string;
  let agent: ReplicaAgent;
  let app: ApiApp;
  let socketPath: string;
  let pool: http.Agent;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'smac-ka-'));
    socketPath = join(dir, 'smac.sock');
    agent = new ReplicaAgent();
    app = await createApiApp({ agent, keepAliveTimeoutMs: KEEP_ALIVE_MS });
    await listenOnSocket(app, socketPath);
    pool = new http.Agent({ keepAlive: true }); // no idle timeout of its own
  });
  afterEach(async () => {
    pool.destroy();
    await app.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('answers a write that arrived on an idle connection while the loop was stalled past the keep-alive timeout', async () => {
    const path = '/v1/objects/lww-register/ka/x';
    expect(await send(pool, socketPath, 'POST', path, { kind: 'set', value: 1 })).toMatchObject({
      status: 200,
    });
    // Past the timeout and the buffer Node 24 adds to it (server.keepAliveTimeoutBuffer, 1 s).
    const buffer = app.server.keepAliveTimeoutBuffer;
    stallLoop(KEEP_ALIVE_MS + (Number.isFinite(buffer) ? buffer : 0) + 500);
    const second = send(pool, socketPath, 'POST', path, { kind: 'set', value: 2 });
    expect(await second).toEqual({ status: 200, reused: true });
    expect(agent.read('lww-register', 'ka/x')?.value).toBe(2);
  });

  it('still closes a connection that stays idle past the keep-alive timeout', async () => {
    expect(await send(pool, socketPath, 'GET', '/v1/status')).toMatchObject({ status: 200 });
    expect(await connections(app.server)).toBe(1);
    await untilConnections(app.server, 0, 'the server to close the idle connection', 15_000);
  });
});
