/**
 * Watches end to end: a real Agent (and a second one for remote changes), the API on a Unix
 * socket, and the SDK's watch iterator. Snapshot, live changes, resume from a cursor, a
 * snapshot when the cursor is behind compaction, silence for no-op writes, heartbeats, and
 * reconnection when the server drops a slow stream.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Agent } from '../../src/agent/agent.js';
import { type ApiServers, startApiServers } from '../../src/api/server.js';
import { SmacClient, type WatchEvent } from '../../src/client/client.js';
import { startCluster, stopAll, waitConnected } from '../agent/helpers.js';
import { realAgentPort } from './helpers.js';

/** Pulls the next event, failing instead of hanging. */
async function next(it: AsyncIterator<WatchEvent>, what: string, timeoutMs = 10_000): Promise<WatchEvent> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      reject(new Error(`timed out waiting for ${what}`));
    }, timeoutMs);
  });
  try {
    const r = await Promise.race([it.next(), timeout]);
    if (r.done) throw new Error(`the watch ended while waiting for ${what}`);
    return r.value;
  } finally {
    clearTimeout(timer);
  }
}

describe('watch over the socket (real agents)', () => {
  let agents: Agent[];
  let port: ReturnType<typeof realAgentPort>;
  let servers: ApiServers;
  let dir: string;
  let client: SmacClient;

  beforeAll(async () => {
    agents = await startCluster(2);
    await waitConnected(agents);
    port = realAgentPort(agents[0]!);
    dir = mkdtempSync(join(tmpdir(), 'smac-watch-'));
    servers = await startApiServers({
      agent: port,
      socketPath: join(dir, 'smac.sock'),
      tcp: false,
      watchHeartbeatMs: 100,
    });
    client = new SmacClient({ socketPath: servers.socketPath! });
  });
  afterAll(async () => {
    client.close();
    await servers.close();
    await stopAll(agents);
    rmSync(dir, { recursive: true, force: true });
  });

  it('sends a snapshot, then live local and remote changes, and nothing for no-op writes', async () => {
    await client.op('aw-set', 'w1/set', { kind: 'add', value: 'a' });
    await client.op('pn-counter', 'elsewhere', { kind: 'increment' });
    const watch = client.watch({ prefix: 'w1/' });
    const it = watch[Symbol.asyncIterator]();
    const snap = await next(it, 'the snapshot');
    expect(snap).toMatchObject({
      kind: 'snapshot',
      objects: [{ type: 'aw-set', key: 'w1/set', value: ['a'] }],
    });
    expect(watch.cursor).toBe(snap.cursor);

    await client.op('aw-set', 'w1/set', { kind: 'add', value: 'a' }); // already there: no event
    await client.op('pn-counter', 'elsewhere', { kind: 'increment' }); // outside the prefix
    const w = await client.op('aw-set', 'w1/set', { kind: 'add', value: 'b' });
    expect(await next(it, 'the local change')).toEqual({
      kind: 'change',
      cursor: expect.any(String) as string,
      type: 'aw-set',
      key: 'w1/set',
      value: ['a', 'b'],
      origin: w.origin,
      seq: w.seq,
    });

    const remote = await agents[1]!.write([
      { type: 'lww-register', key: 'w1/reg', op: { kind: 'set', value: 42 } },
    ]);
    expect(await next(it, 'the remote change', 20_000)).toMatchObject({
      kind: 'change',
      key: 'w1/reg',
      value: 42,
      origin: remote.origin,
      seq: remote.seq,
    });
    watch.close();
    expect(await it.next()).toMatchObject({ done: true });
  });

  it('resumes from a cursor with what changed meanwhile, or a snapshot once compacted past it', async () => {
    const first = client.watch({ prefix: 'w2/' });
    const it1 = first[Symbol.asyncIterator]();
    await next(it1, 'the snapshot');
    await client.op('pn-counter', 'w2/a', { kind: 'increment' });
    await next(it1, 'the first change');
    const cursor = first.cursor!;
    first.close();

    await client.op('pn-counter', 'w2/a', { kind: 'increment', by: 4 });
    await client.op('ew-flag', 'w2/f', { kind: 'enable' });
    const resumed = client.watch({ prefix: 'w2/', cursor });
    const it2 = resumed[Symbol.asyncIterator]();
    const got = [await next(it2, 'catch-up 1'), await next(it2, 'catch-up 2')];
    expect(got.map((e) => e.kind === 'change' && [e.key, e.value])).toEqual([
      ['w2/a', 5],
      ['w2/f', true],
    ]);
    resumed.close();

    port.compact();
    const behind = client.watch({ prefix: 'w2/', cursor });
    const it3 = behind[Symbol.asyncIterator]();
    const snap = await next(it3, 'the fresh snapshot');
    expect(snap.kind).toBe('snapshot');
    expect(snap.kind === 'snapshot' && snap.objects.map((o) => o.key)).toEqual(['w2/a', 'w2/f']);
    behind.close();
  });

  it('sends heartbeat comments on an idle stream and stops listening when the client goes away', async () => {
    const text = await new Promise<string>((resolve, reject) => {
      const req = request({ socketPath: servers.socketPath!, path: '/v1/watch?prefix=none/' }, (res) => {
        expect(res.headers['content-type']).toMatch(/^text\/event-stream/);
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          body += chunk;
          if (body.includes(': heartbeat')) {
            req.destroy();
            resolve(body);
          }
        });
      });
      req.on('error', reject);
      req.end();
    });
    expect(text).toMatch(/^retry: 1000\n\nevent: snapshot\nid: [A-Za-z0-9_-]+\ndata: \{"objects":\[\],/);
    const metrics = await client.metrics();
    // The closed stream released its slot (only watches still open are counted).
    await expect.poll(async () => /^smac_watches_active 0$/m.test(await client.metrics())).toBe(true);
    expect(metrics).toMatch(
      /^smac_http_requests_total\{method="GET",route="\/v1\/watch",status="200"\} \d+$/m,
    );
  });

  it('reconnects and resumes when the server ends a stream it cannot buffer, losing nothing', async () => {
    const dir2 = mkdtempSync(join(tmpdir(), 'smac-watch-'));
    const tight = await startApiServers({
      agent: port,
      socketPath: join(dir2, 'smac.sock'),
      tcp: false,
      watchBufferBytes: 1, // every frame that is not flushed at once ends the stream
    });
    const c = new SmacClient({ socketPath: tight.socketPath! });
    try {
      const watch = c.watch({ prefix: 'w3/', reconnect: { maxDelayMs: 50 } });
      const it = watch[Symbol.asyncIterator]();
      await next(it, 'the snapshot');
      const seen = new Map<string, unknown>();
      for (let i = 1; i <= 20; i++) await c.op('pn-counter', `w3/k${i % 4}`, { kind: 'increment', by: i });
      const expected = new Map(agents[0]!.list('w3/').map((o) => [o.key, o.value]));
      while (seen.size < expected.size || [...expected].some(([k, v]) => seen.get(k) !== v)) {
        const e = await next(it, 'the changes');
        if (e.kind === 'snapshot') for (const o of e.objects) seen.set(o.key, o.value);
        else seen.set(e.key, e.value);
      }
      expect(seen).toEqual(expected);
      watch.close();
    } finally {
      c.close();
      await tight.close();
      rmSync(dir2, { recursive: true, force: true });
    }
  });
});
