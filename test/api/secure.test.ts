/**
 * Secure defaults of the API listeners (issue 9), over real sockets and as another local user
 * (`nobody`): TCP always requires the bearer token, loopback included; the token generated in
 * the data directory is 0600 and reused; a token file others may read is refused; the Host
 * header must name the agent (DNS rebinding); the socket has its mode and group before it can
 * be reached.
 */
import { chmodSync, lstatSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/agent/config.js';
import type { RouteModule } from '../../src/api/app.js';
import { startApiServers, type ApiServers } from '../../src/api/server.js';
import { SmacClient } from '../../src/client/client.js';
import { CAN_SWITCH_USER, requestAs } from '../support/as-user.js';
import { ReplicaAgent } from './helpers.js';

const NOBODY_GID = 65534;
const asRoot = !CAN_SWITCH_USER ? ' (skipped: needs root and runuser)' : '';

let dir: string;
let agent: ReplicaAgent;
const cleanup: (() => unknown)[] = [];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'smac-secure-'));
  // Others may enter it (like /run or a shared mount), so that only the socket's own mode decides.
  chmodSync(dir, 0o755);
  agent = new ReplicaAgent();
});
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
  rmSync(dir, { recursive: true, force: true });
});

type Options = Partial<Parameters<typeof startApiServers>[0]> & Record<string, unknown>;

async function start(opts: Options = {}): Promise<ApiServers> {
  const servers = await startApiServers({
    agent,
    socketPath: join(dir, 'api.sock'),
    tcp: { host: '127.0.0.1', port: 0 },
    generateAt: join(dir, 'api.token'),
    ...opts,
  });
  cleanup.push(() => servers.close());
  return servers;
}

/** A request with a chosen Host header (fetch does not let one set it). */
function get(
  where: { url?: string; socketPath?: string },
  path: string,
  headers: Record<string, string>,
): Promise<{ status: number; body: { code?: string; message?: string } }> {
  const target = where.url ? { host: new URL(where.url).hostname, port: new URL(where.url).port } : where;
  return new Promise((resolve, reject) => {
    const req = http.request({ ...target, path, headers }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString()));
      res.on('end', () => {
        resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as { code?: string } });
      });
    });
    req.on('error', reject);
    req.end();
  });
}

const tokenIn = (file: string): string => readFileSync(file, 'utf8').trim();

describe('the TCP listener', () => {
  it.skipIf(!CAN_SWITCH_USER)(
    `refuses every request of a local user without the token${asRoot}`,
    async () => {
      const servers = await start();
      const url = servers.tcp!.url;
      for (const [method, path] of [
        ['POST', '/v1/objects/pn-counter/app/hits'],
        ['DELETE', '/v1/objects/pn-counter/app/hits'],
        ['GET', '/v1/status'],
      ] as const) {
        const reply = await requestAs('nobody', url, method, path);
        expect(reply.status, `${method} ${path}`).toBe(401);
        const body = JSON.parse(reply.body!) as { code: string; message: string };
        expect(body.code).toBe('UNAUTHORIZED');
        expect(body.message).toMatch(/Authorization: Bearer <token>.*api\.token/);
      }
      expect(
        await requestAs('nobody', url, 'POST', '/v1/objects/pn-counter/app/hits', { token: 'x'.repeat(64) }),
      ).toMatchObject({ status: 401 });
      // Nothing was written; the bearer of the token may write.
      const owner = new SmacClient({ url, token: tokenIn(join(dir, 'api.token')) });
      cleanup.push(() => {
        owner.close();
      });
      await expect(owner.read('pn-counter', 'app/hits')).rejects.toMatchObject({ status: 404 });
      await owner.op('pn-counter', 'app/hits', { kind: 'increment', by: 1 });
      expect((await owner.read('pn-counter', 'app/hits')).value).toBe(1);
    },
  );

  it('generates a 0600 token in the data directory on first start, and reuses it', async () => {
    const file = join(dir, 'api.token');
    const first = await start();
    expect(first.tokenFile).toBe(file);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const token = tokenIn(file);
    expect(token).toMatch(/^[0-9a-f]{64}$/);
    await first.close();
    const again = await start();
    expect(tokenIn(file)).toBe(token);
    const c = new SmacClient({ url: again.tcp!.url, token });
    cleanup.push(() => {
      c.close();
    });
    expect((await c.status()).peerId).toBe('peer-a');
  });

  it('refuses a token file that group or others may read', async () => {
    const file = join(dir, 'operator.token');
    for (const mode of [0o644, 0o640, 0o604]) {
      writeFileSync(file, 'a-token-of-the-operator-0123456789\n');
      chmodSync(file, mode);
      const started = start({ tokenFile: file, generateAt: undefined, socketPath: false });
      await expect(started, mode.toString(8)).rejects.toThrow(ConfigError);
      await expect(started).rejects.toThrow(`mode ${mode.toString(8)}; it must not be accessible`);
    }
    // The generated file too, if someone loosened it.
    await (await start()).close();
    chmodSync(join(dir, 'api.token'), 0o644);
    await expect(start()).rejects.toThrow(/chmod 600/);
  });

  it('answers only to its own names: a rebound DNS name gets 403 HOST_NOT_ALLOWED', async () => {
    const servers = await start({ allowedHosts: ['agent.internal'] });
    const { url } = servers.tcp!;
    const port = new URL(url).port;
    const authorization = `Bearer ${tokenIn(join(dir, 'api.token'))}`;
    for (const host of [
      'evil.example',
      `evil.example:${port}`,
      `127.0.0.1.evil.example:${port}`,
      'localhost.evil',
    ]) {
      const r = await get({ url }, '/v1/status', { host, authorization });
      expect(r.status, host).toBe(403);
      expect(r.body.code).toBe('HOST_NOT_ALLOWED');
      expect(r.body.message).toMatch(/--api-allowed-hosts/);
      // Without the token too: the Host check comes first.
      expect((await get({ url }, '/v1/status', { host })).status).toBe(403);
    }
    for (const host of [
      `localhost:${port}`,
      'LOCALHOST.',
      `127.0.0.1:${port}`,
      `[::1]:${port}`,
      '10.1.2.3',
      'agent.internal',
    ]) {
      expect((await get({ url }, '/v1/status', { host, authorization })).status, host).toBe(200);
    }
    // The socket checks no Host: whatever curl sends (`http://smac/...`) works.
    for (const host of ['smac', 'localhost', 'evil.example'])
      expect((await get({ socketPath: servers.socketPath! }, '/v1/status', { host })).status, host).toBe(200);
  });
});

describe('the Unix socket', () => {
  it.skipIf(!CAN_SWITCH_USER)(
    `is 0660 and the agent's group by default: other users cannot connect${asRoot}`,
    async () => {
      const servers = await start({ tcp: false });
      const info = statSync(servers.socketPath!);
      expect(info.mode & 0o777).toBe(0o660);
      expect(info.gid).toBe(process.getgid!());
      expect(await requestAs('nobody', servers.socketPath!, 'POST', '/v1/objects/pn-counter/x')).toEqual({
        error: 'EACCES',
      });
      expect((await get({ socketPath: servers.socketPath! }, '/v1/status', { host: 'smac' })).status).toBe(
        200,
      );
    },
  );

  it.skipIf(!CAN_SWITCH_USER)(
    `takes the mode and group asked for, so that a group of users may use it${asRoot}`,
    async () => {
      const servers = await start({ tcp: false, socketAccess: { mode: 0o660, group: 'nogroup' } });
      expect(statSync(servers.socketPath!).gid).toBe(NOBODY_GID);
      const reply = await requestAs('nobody', servers.socketPath!, 'POST', '/v1/objects/pn-counter/x');
      expect(reply.status).toBe(200);
      await servers.close();
      const strict = await start({ tcp: false, socketAccess: { mode: 0o600, group: String(NOBODY_GID) } });
      expect(statSync(strict.socketPath!).mode & 0o777).toBe(0o600);
      expect(await requestAs('nobody', strict.socketPath!, 'GET', '/v1/status')).toEqual({ error: 'EACCES' });
      await expect(start({ tcp: false, socketAccess: { group: 'no-such-group-here' } })).rejects.toThrow(
        /There is no group no-such-group-here/,
      );
    },
  );

  it('appears at its path with its mode and group already set', async () => {
    // What the path holds at the moment the server starts listening (Fastify's onListen runs
    // right after bind and listen, before any connection is accepted).
    const path = join(dir, 'api.sock');
    const seen: (string | { mode: number; gid: number })[] = [];
    const probe: RouteModule = {
      name: 'probe',
      register(app) {
        app.addHook('onListen', (done) => {
          try {
            const s = lstatSync(path);
            seen.push({ mode: s.mode & 0o777, gid: s.gid });
          } catch (e) {
            seen.push((e as NodeJS.ErrnoException).code ?? 'error');
          }
          done();
        });
      },
    };
    // Giving the socket another group needs root; without it, the mode alone is checked.
    const gid = CAN_SWITCH_USER ? NOBODY_GID : process.getgid!();
    await start({ tcp: false, socketAccess: { mode: 0o640, group: gid }, routes: [probe] });
    // Either not there yet, or already with its final mode and group: never anything looser.
    expect(seen).toHaveLength(1);
    expect(['ENOENT', { mode: 0o640, gid }]).toContainEqual(seen[0]);
    const s = statSync(path);
    expect({ mode: s.mode & 0o777, gid: s.gid }).toEqual({ mode: 0o640, gid });
  });
});
