/**
 * Issue 9, client-input rules at the API: a key held by another type is refused locally
 * (409 TYPE_CONFLICT, naming the type), while remote events still create both; text that is
 * not valid Unicode (lone surrogates, invalid UTF-8 in the body or the URL) is refused with
 * INVALID_UTF8; a body that is not JSON gets 415; and the slow-client guard closes a request
 * that is not received in the documented time.
 */
import { connect } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ApiApp } from '../../src/api/app.js';
import { createApiApp, startApiServers } from '../../src/api/server.js';
import { Replica } from '../../src/core/replica.js';
import { ReplicaAgent } from './helpers.js';

const json = { 'content-type': 'application/json' };

let agent: ReplicaAgent;
let app: ApiApp;

beforeEach(async () => {
  agent = new ReplicaAgent();
  app = await createApiApp({ agent });
  return () => app.close();
});

describe('a key held by another type (local writes only)', () => {
  it('refuses create, op and batch with 409 TYPE_CONFLICT naming the existing type', async () => {
    expect((await app.inject({ method: 'PUT', url: '/v1/objects/pn-counter/app/x' })).statusCode).toBe(201);

    const put = await app.inject({ method: 'PUT', url: '/v1/objects/lww-register/app/x' });
    expect(put.statusCode).toBe(409);
    expect(put.json()).toMatchObject({ code: 'TYPE_CONFLICT', details: { existing: ['pn-counter'] } });
    expect(put.json().message).toMatch(/pn-counter/);

    const post = await app.inject({
      method: 'POST',
      url: '/v1/objects/aw-set/app/x',
      payload: { kind: 'add', value: 1 },
    });
    expect(post.statusCode).toBe(409);
    expect(post.json().code).toBe('TYPE_CONFLICT');

    const batch = await app.inject({
      method: 'POST',
      url: '/v1/batch',
      payload: {
        ops: [
          { type: 'pn-counter', key: 'app/ok', op: { kind: 'increment' } },
          { type: 'ew-flag', key: 'app/x', op: { kind: 'enable' } },
        ],
      },
    });
    expect(batch.statusCode).toBe(409);
    expect(batch.json()).toMatchObject({ code: 'TYPE_CONFLICT', details: { index: 1 } });
    // Nothing of the refused batch was applied.
    expect(agent.list('app/').map((o) => `${o.type} ${o.key}`)).toEqual(['pn-counter app/x']);

    // The same type is fine, and so is another type once the first is deleted.
    const inc = await app.inject({
      method: 'POST',
      url: '/v1/objects/pn-counter/app/x',
      payload: { kind: 'increment' },
    });
    expect(inc.statusCode).toBe(200);
    await app.inject({ method: 'DELETE', url: '/v1/objects/pn-counter/app/x' });
    expect((await app.inject({ method: 'PUT', url: '/v1/objects/lww-register/app/x' })).statusCode).toBe(201);
  });

  it('refuses two types for one new key within one batch', async () => {
    const batch = await app.inject({
      method: 'POST',
      url: '/v1/batch',
      payload: {
        ops: [
          { type: 'pn-counter', key: 'b/k', op: { kind: 'increment' } },
          { type: 'lww-register', key: 'b/k', op: { kind: 'set', value: 1 } },
        ],
      },
    });
    expect(batch.statusCode).toBe(409);
    expect(batch.json()).toMatchObject({ code: 'TYPE_CONFLICT', details: { index: 1 } });
    expect(agent.list('b/')).toEqual([]);
  });

  it('still applies a remote event that creates the key with another type (two partitions may)', async () => {
    await app.inject({ method: 'PUT', url: '/v1/objects/pn-counter/p/k' });
    const other = new Replica({ id: 'peer-b' });
    const r = other.step(
      { kind: 'local', ops: [{ type: 'lww-register', key: 'p/k', op: { kind: 'set', value: 'v' } }] },
      1,
    );
    if (!r.event) throw new Error('no event');
    agent.deliver(r.event);
    const list = await app.inject({ method: 'GET', url: '/v1/objects?prefix=p/' });
    expect(list.json().objects.map((o: { type: string }) => o.type)).toEqual(['lww-register', 'pn-counter']);
    // Both stay writable by their own type: the refusal is only for creating a new one.
    const set = await app.inject({
      method: 'POST',
      url: '/v1/objects/lww-register/p/k',
      payload: { kind: 'set', value: 'w' },
    });
    expect(set.statusCode).toBe(200);
  });
});

describe('text that is not valid Unicode', () => {
  const post = (url: string, payload: string | Buffer) =>
    app.inject({ method: 'POST', url, headers: json, payload });

  it('refuses lone surrogates in values, fields and object keys with INVALID_UTF8', async () => {
    for (const body of [
      '{"kind":"set","value":"a\\ud800b"}',
      '{"kind":"set","value":{"x":["ok","\\udfff"]}}',
      '{"kind":"set","value":{"\\ud83d":1}}',
    ]) {
      const r = await post('/v1/objects/lww-register/u/k', body);
      expect(r.statusCode, body).toBe(400);
      expect(r.json().code, body).toBe('INVALID_UTF8');
    }
    const field = await post(
      '/v1/objects/or-map/u/m',
      '{"kind":"update","field":"f\\udc00","type":"pn-counter","op":{"kind":"increment"}}',
    );
    expect(field.json().code).toBe('INVALID_UTF8');
    const batchKey = await post(
      '/v1/batch',
      '{"ops":[{"type":"pn-counter","key":"u/\\ud800","op":{"kind":"increment"}}]}',
    );
    expect(batchKey.json().code).toBe('INVALID_UTF8');
    // A well-formed pair is fine.
    const ok = await post('/v1/objects/lww-register/u/k', '{"kind":"set","value":"\\ud83d\\ude00"}');
    expect(ok.statusCode).toBe(200);
    expect(agent.list('u/').map((o) => o.value)).toEqual(['😀']);
  });

  it('is a client-input rule: a remote event with a lone surrogate still applies', async () => {
    const other = new Replica({ id: 'peer-b' });
    const r = other.step(
      {
        kind: 'local',
        ops: [{ type: 'lww-register', key: 'r/\ud800', op: { kind: 'set', value: '\udfff' } }],
      },
      1,
    );
    if (!r.event) throw new Error('no event');
    agent.deliver(r.event);
    expect(agent.list('r/')).toEqual([{ type: 'lww-register', key: 'r/\ud800', value: '\udfff' }]);
    // Listing it over the API works; writing it from a client does not.
    expect((await app.inject({ method: 'GET', url: '/v1/objects?prefix=r/' })).statusCode).toBe(200);
  });

  it('refuses a body that is not valid UTF-8 instead of storing replacement characters', async () => {
    const bytes = Buffer.concat([
      Buffer.from('{"kind":"set","value":"'),
      Buffer.from([0xff, 0xfe]),
      Buffer.from('"}'),
    ]);
    const r = await post('/v1/objects/lww-register/u/raw', bytes);
    expect(r.statusCode).toBe(400);
    expect(r.json().code).toBe('INVALID_UTF8');
    expect(agent.list('u/')).toEqual([]);
  });

  it('refuses keys in the URL whose percent-encoding is not UTF-8', async () => {
    for (const url of ['/v1/objects/pn-counter/a%FFb', '/v1/objects/pn-counter/a%ED%A0%80b']) {
      const r = await app.inject({ method: 'PUT', url });
      expect(r.statusCode, url).toBe(400);
      expect(r.json().code, url).toBe('INVALID_UTF8');
    }
    const list = await app.inject({ method: 'GET', url: '/v1/objects?prefix=a%FF' });
    expect(list.statusCode).toBe(400);
    expect(list.json().code).toBe('INVALID_UTF8');
    // Broken escapes that are not about UTF-8 stay BAD_REQUEST.
    const bad = await app.inject({ method: 'PUT', url: '/v1/objects/pn-counter/a%zz' });
    expect(bad.statusCode).toBe(400);
    expect(agent.list('')).toEqual([]);
  });
});

describe('content types', () => {
  it('answers 415 to a body that is not application/json', async () => {
    for (const method of ['POST', 'PUT'] as const) {
      const r = await app.inject({
        method,
        url: '/v1/objects/pn-counter/ct',
        headers: { 'content-type': 'text/plain' },
        payload: '{"kind":"increment"}',
      });
      expect(r.statusCode, method).toBe(415);
      expect(r.json().code, method).toBe('UNSUPPORTED_MEDIA_TYPE');
    }
  });
});

describe('the slow-client guard', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'smac-slow-'));
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('is 30 s by default, for the headers as for the whole request (docs/api.md "Limits")', () => {
    expect(app.server.requestTimeout).toBe(30_000);
    expect(app.server.headersTimeout).toBe(30_000);
  });

  it('closes a connection that trickles its headers within about the configured time', async () => {
    const socketPath = join(dir, 'smac.sock');
    const servers = await startApiServers({
      agent: new ReplicaAgent(),
      socketPath,
      tcp: false,
      requestTimeoutMs: 1_000,
    });
    try {
      const started = Date.now();
      const closedAfter = await new Promise<number>((resolve) => {
        const s = connect(socketPath, () => {
          s.write('GET /v1/status HTTP/1.1\r\nHost: smac\r\n');
          const t = setInterval(() => {
            if (!s.destroyed) s.write('X-Slow: 1\r\n');
          }, 200);
          s.on('close', () => {
            clearInterval(t);
            resolve(Date.now() - started);
          });
        });
        s.on('error', () => undefined);
        setTimeout(() => {
          s.destroy();
        }, 10_000);
      });
      expect(closedAfter).toBeGreaterThanOrEqual(900);
      expect(closedAfter).toBeLessThan(2_500);
    } finally {
      await servers.close();
    }
  }, 15_000);
});
