/**
 * The dashboard's login (docs/ui.md): a one-time code from `smac ui` is traded for an HttpOnly,
 * SameSite=Strict session cookie; the code works once and expires; the cookie authorizes the
 * page and the read-only routes it uses, nothing else; the Host check still comes first.
 */
import http from 'node:http';
import { Script } from 'node:vm';
import { afterEach, describe, expect, it } from 'vitest';
import { resolveAgentConfig } from '../../src/agent/config.js';
import type { ApiApp } from '../../src/api/app.js';
import { createApiApp } from '../../src/api/server.js';
import { uiCookieValues, UiSessions } from '../../src/api/ui-sessions.js';
import { DASHBOARD_JS } from '../../src/ui/dashboard-script.js';
import { ReplicaAgent } from './helpers.js';

const TOKEN = 'a'.repeat(32);
const auth = { authorization: `Bearer ${TOKEN}` };

describe('UiSessions', () => {
  it('trades a code once for a session', () => {
    const s = new UiSessions();
    const { code } = s.issueCode();
    const session = s.redeem(code);
    expect(session).toBeDefined();
    expect(s.valid(session?.session ?? '')).toBe(true);
    expect(s.redeem(code)).toBeUndefined();
  });

  it('refuses an unknown code and an unknown session', () => {
    const s = new UiSessions();
    s.issueCode();
    expect(s.redeem('not-a-code')).toBeUndefined();
    expect(s.valid('not-a-session')).toBe(false);
  });

  it('lets codes and sessions expire', () => {
    let now = 1_000;
    const s = new UiSessions({ now: () => now, codeTtlMs: 100, sessionTtlMs: 1_000 });
    const late = s.issueCode().code;
    now += 100;
    expect(s.redeem(late)).toBeUndefined();
    const session = s.redeem(s.issueCode().code)?.session ?? '';
    now += 999;
    expect(s.valid(session)).toBe(true);
    now += 1;
    expect(s.valid(session)).toBe(false);
  });

  it('keeps at most maxCodes codes, dropping the oldest', () => {
    const s = new UiSessions({ maxCodes: 2 });
    const first = s.issueCode().code;
    const second = s.issueCode().code;
    const third = s.issueCode().code;
    expect(s.redeem(first)).toBeUndefined();
    expect(s.redeem(second)).toBeDefined();
    expect(s.redeem(third)).toBeDefined();
  });

  it('reads every smac_ui_ cookie of a Cookie header', () => {
    expect(uiCookieValues('a=1; smac_ui_7947=x; smac_ui_8000=y; other=z')).toEqual(['x', 'y']);
    expect(uiCookieValues(undefined)).toEqual([]);
  });
});

describe('dashboard routes behind the token', () => {
  let app: ApiApp | undefined;
  afterEach(async () => {
    await app?.close();
    app = undefined;
  });

  async function start(ui: UiSessions): Promise<ApiApp> {
    app = await createApiApp({
      agent: new ReplicaAgent(),
      token: TOKEN,
      allowedHosts: ['localhost'],
      ui,
    });
    return app;
  }

  function withTcp(options: ConstructorParameters<typeof UiSessions>[0] = {}): UiSessions {
    const ui = new UiSessions(options);
    ui.tcpUrl = 'http://127.0.0.1:7947';
    return ui;
  }

  async function login(a: ApiApp): Promise<string> {
    const codes = await a.inject({ method: 'POST', url: '/v1/ui/login-codes', headers: auth });
    expect(codes.statusCode).toBe(200);
    const { code, url } = codes.json<{ code: string; url: string }>();
    expect(url).toBe(`http://127.0.0.1:7947/ui/login?code=${code}`);
    const res = await a.inject({ method: 'GET', url: `/ui/login?code=${code}` });
    expect(res.statusCode).toBe(303);
    expect(res.headers.location).toBe('/ui');
    const cookie = String(res.headers['set-cookie']);
    expect(cookie).toMatch(/; HttpOnly/);
    expect(cookie).toMatch(/; SameSite=Strict/);
    expect(cookie).toMatch(/; Path=\//);
    return cookie.split(';')[0] ?? '';
  }

  it('asks a browser without a session to log in through `smac ui`', async () => {
    const a = await start(withTcp());
    const res = await a.inject({ method: 'GET', url: '/ui' });
    expect(res.statusCode).toBe(401);
    expect(res.json()).toMatchObject({ code: 'UNAUTHORIZED', message: expect.stringMatching(/smac ui/) });
  });

  it('serves the page, its assets and the status to the session cookie', async () => {
    const a = await start(withTcp());
    const cookie = await login(a);
    const page = await a.inject({ method: 'GET', url: '/ui', headers: { cookie } });
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toMatch(/^text\/html/);
    expect(page.headers['content-security-policy']).toMatch(/default-src 'none'/);
    expect(page.body).toContain('<script src="/ui/dashboard.js"');
    for (const url of ['/ui/dashboard.js', '/ui/dashboard.css', '/v1/status']) {
      const res = await a.inject({ method: 'GET', url, headers: { cookie } });
      expect(res.statusCode, url).toBe(200);
    }
  });

  it('accepts a code once: a second use is 401', async () => {
    const a = await start(withTcp());
    const { code } = (await a.inject({ method: 'POST', url: '/v1/ui/login-codes', headers: auth })).json<{
      code: string;
    }>();
    expect((await a.inject({ method: 'GET', url: `/ui/login?code=${code}` })).statusCode).toBe(303);
    const again = await a.inject({ method: 'GET', url: `/ui/login?code=${code}` });
    expect(again.statusCode).toBe(401);
    expect(again.headers['set-cookie']).toBeUndefined();
  });

  it('does not spend a code on a HEAD request', async () => {
    const a = await start(withTcp());
    const { code } = (await a.inject({ method: 'POST', url: '/v1/ui/login-codes', headers: auth })).json<{
      code: string;
    }>();
    const head = await a.inject({ method: 'HEAD', url: `/ui/login?code=${code}` });
    expect(head.statusCode).toBe(401);
    expect(head.headers['set-cookie']).toBeUndefined();
    expect((await a.inject({ method: 'GET', url: `/ui/login?code=${code}` })).statusCode).toBe(303);
  });

  it('refuses a wrong code with 401 and an expired one too', async () => {
    let now = 0;
    const a = await start(withTcp({ now: () => now, codeTtlMs: 60_000 }));
    const wrong = await a.inject({ method: 'GET', url: '/ui/login?code=nope' });
    expect(wrong.statusCode).toBe(401);
    expect(wrong.json()).toMatchObject({ code: 'UNAUTHORIZED', message: expect.stringMatching(/expired/) });
    const { code } = (await a.inject({ method: 'POST', url: '/v1/ui/login-codes', headers: auth })).json<{
      code: string;
    }>();
    now += 60_000;
    expect((await a.inject({ method: 'GET', url: `/ui/login?code=${code}` })).statusCode).toBe(401);
  });

  it('stops accepting the cookie once the session expired', async () => {
    let now = 0;
    const a = await start(withTcp({ now: () => now, sessionTtlMs: 10_000 }));
    const cookie = await login(a);
    expect((await a.inject({ method: 'GET', url: '/v1/status', headers: { cookie } })).statusCode).toBe(200);
    now += 10_000;
    expect((await a.inject({ method: 'GET', url: '/v1/status', headers: { cookie } })).statusCode).toBe(401);
  });

  it('does not accept the cookie on routes the page does not read', async () => {
    const a = await start(withTcp());
    const cookie = await login(a);
    const refused = [
      { method: 'GET', url: '/v1/objects?prefix=' },
      { method: 'GET', url: '/v1/objects/pn-counter/hits' },
      { method: 'POST', url: '/v1/objects/pn-counter/hits', payload: { kind: 'increment', by: 1 } },
      { method: 'POST', url: '/v1/batch', payload: { ops: [] } },
      { method: 'POST', url: '/v1/ui/login-codes' },
      { method: 'GET', url: '/v1/watch' },
      { method: 'GET', url: '/v1/watch?prefix=app/' },
      { method: 'GET', url: '/v1/watch?prefix=_sy' },
      { method: 'GET', url: '/metrics' },
      { method: 'GET', url: '/openapi.json' },
    ] as const;
    for (const r of refused) {
      const res = await a.inject({ ...r, headers: { cookie } });
      expect(res.statusCode, `${r.method} ${r.url}`).toBe(401);
    }
  });

  it('lets the cookie watch the system objects, as the page does', async () => {
    const a = await start(withTcp());
    const cookie = await login(a);
    await a.listen({ host: '127.0.0.1', port: 0 });
    const { port } = a.server.address() as { port: number };
    const status = await new Promise<{ code: number | undefined; type: string | undefined }>(
      (resolve, reject) => {
        const req = http.get({
          host: '127.0.0.1',
          port,
          path: '/v1/watch?prefix=_sys/',
          headers: { cookie },
        });
        req.once('response', (res) => {
          resolve({ code: res.statusCode, type: res.headers['content-type'] });
          req.destroy();
        });
        req.once('error', reject);
      },
    );
    expect(status).toEqual({ code: 200, type: 'text/event-stream; charset=utf-8' });
  });

  it('checks the Host header before the cookie', async () => {
    const a = await start(withTcp());
    const cookie = await login(a);
    const res = await a.inject({ method: 'GET', url: '/ui', headers: { cookie, host: 'evil.example' } });
    expect(res.statusCode).toBe(403);
    expect(res.json()).toMatchObject({ code: 'HOST_NOT_ALLOWED' });
  });

  it('refuses to make a login code when there is no TCP listener', async () => {
    const a = await start(new UiSessions());
    const res = await a.inject({ method: 'POST', url: '/v1/ui/login-codes', headers: auth });
    expect(res.statusCode).toBe(409);
    expect(res.json()).toMatchObject({ code: 'UI_NEEDS_TCP' });
  });

  it('serves no dashboard without --ui', async () => {
    app = await createApiApp({ agent: new ReplicaAgent() });
    expect((await app.inject({ method: 'GET', url: '/ui' })).statusCode).toBe(404);
    expect((await app.inject({ method: 'POST', url: '/v1/ui/login-codes' })).statusCode).toBe(404);
  });
});

describe('dashboard configuration and script', () => {
  it('refuses --ui without the TCP API', () => {
    expect(() => resolveAgentConfig({ ui: true })).toThrow(/ui needs the TCP API/);
    expect(resolveAgentConfig({ ui: true, apiTcp: true }).ui).toBe(true);
    expect(resolveAgentConfig({}).ui).toBe(false);
  });

  it('ships a script that parses', () => {
    expect(() => new Script(DASHBOARD_JS)).not.toThrow();
  });
});
