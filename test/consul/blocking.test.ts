// Blocking queries: `?index` and `?wait` parsed strictly (a previous attempt read the index
// with parseInt and blocked on "12abc"), an answer returned only once its content changed
// (so a wake-up that leaves it as it was, such as a member suspected but not yet dead, keeps
// the query waiting), members that die without an event still wake it, and indexes only grow.
import type { FastifyInstance } from 'fastify';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseBlocking, parseGoDuration } from '../../src/consul/blocking.js';
import { ConsulIndexes } from '../../src/consul/indexes.js';
import { createConsulApp } from '../../src/consul/server.js';
import { FakeSource, member } from './fake-source.js';

describe('parsing', () => {
  it('reads Go durations, and refuses anything else', () => {
    expect(parseGoDuration('10s')).toBe(10_000);
    expect(parseGoDuration('1m30s')).toBe(90_000);
    expect(parseGoDuration('250ms')).toBe(250);
    expect(parseGoDuration('1.5h')).toBe(5_400_000);
    expect(parseGoDuration('0')).toBe(0);
    for (const bad of ['10', '-1s', '10 s', 's', '1d', '']) expect(parseGoDuration(bad)).toBeUndefined();
  });

  it('reads the index as a whole number, and caps the wait at 10 minutes', () => {
    expect(parseBlocking({ index: '1796587880866', wait: '20m' })).toEqual({
      index: 1796587880866,
      waitMs: 600_000,
    });
    expect(parseBlocking({})).toEqual({ index: undefined, waitMs: 300_000 });
    for (const index of ['12abc', '1e3', '-5', '1.5', ' 7', '99999999999999999999'])
      expect(() => parseBlocking({ index }), index).toThrow('Invalid index');
    expect(() => parseBlocking({ index: '5', wait: 'soon' })).toThrow('Invalid wait time');
  });
});

describe('indexes', () => {
  it('change only with the content, only grow, and start above an earlier run', () => {
    let now = 1_000;
    const idx = new ConsulIndexes(() => now, 2, 2);
    const a1 = idx.view('a', [1]);
    expect(a1).toBeGreaterThanOrEqual(1_000);
    expect(idx.view('a', [1])).toBe(a1);
    const a2 = idx.view('a', [2]);
    expect(a2).toBeGreaterThan(a1);
    // Past the bound a view is forgotten; seen again it takes a fresh, higher index.
    idx.view('b', [1]);
    idx.view('c', [1]);
    expect(idx.view('a', [2])).toBeGreaterThan(a2);
    const before = idx.current;
    now = 500; // the wall clock stepped back: the counter does not
    expect(idx.view('a', [3])).toBe(before + 1);
    // A restart a moment later starts above everything handed out (fewer than 1 per ms).
    now = 2_000;
    expect(new ConsulIndexes(() => now).view('a', [3])).toBeGreaterThan(idx.current);
  });

  it("keep an answer's index when only its entries' indexes changed (an entry forgotten and seen again)", () => {
    const idx = new ConsulIndexes(() => 1, 1, 8);
    const answer = (): number => {
      const x = idx.stamp('x', 'same');
      const y = idx.stamp('y', 'same');
      return idx.view('both', [
        { Key: 'x', ModifyIndex: x.modify },
        { Key: 'y', ModifyIndex: y.modify },
      ]);
    };
    const first = answer();
    // With room for one entry, x and y push each other out: fresh entry indexes every time.
    expect(answer()).toBe(first);
    expect(idx.view('both', [{ Key: 'x', ModifyIndex: 0 }])).toBeGreaterThan(first);
  });
});

describe('blocking queries', () => {
  let source: FakeSource;
  let app: FastifyInstance;

  beforeEach(async () => {
    source = new FakeSource();
    source.register('web', { id: 'web-1', node: 'node-a' });
    source.register('web', { id: 'web-2', node: 'node-b' });
    app = await createConsulApp({ source, livenessPollMs: 20, random: () => 0 });
  });

  afterEach(async () => {
    await app.close();
  });

  const ask = async (url: string): Promise<{ index: number; body: unknown; status: number }> => {
    const r = await app.inject({ method: 'GET', url });
    return {
      index: Number(r.headers['x-consul-index']),
      body: JSON.parse(r.body || 'null'),
      status: r.statusCode,
    };
  };

  type Asked = Promise<{ index: number; body: unknown; status: number }>;
  /** Starts a blocking query; resolves (to the query, boxed) once the server waits on the feed. */
  async function blocking(url: string): Promise<{ pending: Asked }> {
    const waitingBefore = source.listening;
    const pending = ask(url);
    for (let i = 0; i < 2_000 && source.listening <= waitingBefore; i++)
      await new Promise((r) => setTimeout(r, 5));
    expect(source.listening).toBeGreaterThan(waitingBefore);
    return { pending };
  }

  it('returns at once without an index, or with an index below the current one', async () => {
    const first = await ask('/v1/catalog/service/web');
    expect(first.index).toBeGreaterThan(0);
    const again = await ask(`/v1/catalog/service/web?index=${first.index - 1}&wait=5m`);
    expect(again.index).toBe(first.index);
    expect(await ask('/v1/catalog/service/web?index=0')).toMatchObject({ index: first.index });
  });

  it('waits until the service changes, not on changes that leave it as it was', async () => {
    const first = await ask('/v1/health/service/web?passing');
    const { pending } = await blocking(`/v1/health/service/web?passing&index=${first.index}&wait=5m`);
    let settled = false;
    void pending.then(() => (settled = true));
    // Another service, a key, and the same registration again: the answer is the same.
    source.register('db', { id: 'db-1', node: 'node-a' });
    source.put({ type: 'lww-register', key: 'cfg/x', value: 'y' });
    source.fire([{ type: 'rw-set', key: '_sys/services/web' }]);
    // A member suspected (still passing in Consul's terms) changes nothing either.
    source.setStatus('node-b', 'suspect');
    await new Promise((r) => setTimeout(r, 100));
    expect(settled).toBe(false);
    source.register('web', { id: 'web-3', node: 'node-a' });
    const r = await pending;
    expect(r.index).toBeGreaterThan(first.index);
    expect((r.body as { Service: { ID: string } }[]).map((e) => e.Service.ID)).toEqual([
      'web-1',
      'web-3',
      'web-2',
    ]);
  });

  it('wakes when a node dies without any event (the detector alone changed)', async () => {
    const first = await ask('/v1/health/service/web?passing');
    const { pending } = await blocking(`/v1/health/service/web?passing&index=${first.index}&wait=5m`);
    source.setStatus('node-b', 'dead');
    const r = await pending;
    expect(r.index).toBeGreaterThan(first.index);
    expect((r.body as { Service: { ID: string } }[]).map((e) => e.Service.ID)).toEqual(['web-1']);
  });

  it('answers with the same index when the wait is over and nothing changed', async () => {
    const first = await ask('/v1/catalog/services');
    const r = await ask(`/v1/catalog/services?index=${first.index}&wait=50ms`);
    expect(r.status).toBe(200);
    expect(r.index).toBe(first.index);
    expect(r.body).toEqual({ web: [] });
  });

  it('wakes a key query on a change of that key only, and on its creation', async () => {
    const missing = await ask('/v1/kv/cfg/new');
    expect(missing.status).toBe(404);
    const { pending } = await blocking(`/v1/kv/cfg/new?index=${missing.index}`);
    let settled = false;
    void pending.then(() => (settled = true));
    source.put({ type: 'lww-register', key: 'cfg/newer', value: 'no' });
    await new Promise((r) => setTimeout(r, 50));
    expect(settled).toBe(false);
    source.put({ type: 'lww-register', key: 'cfg/new', value: 'yes' });
    const r = await pending;
    expect(r.status).toBe(200);
    expect(r.index).toBeGreaterThan(missing.index);
  });

  it('answers waiting queries when the listener closes, and then follows the agent no more', async () => {
    const first = await ask('/v1/catalog/nodes');
    const { pending } = await blocking(`/v1/catalog/nodes?index=${first.index}&wait=10m`);
    await app.close();
    expect((await pending).index).toBe(first.index);
    expect(source.listening).toBe(0);
  });

  it('refuses a blocking query past the bound with 429', async () => {
    await app.close();
    app = await createConsulApp({ source, maxBlocking: 1 });
    const first = await ask('/v1/catalog/nodes');
    const { pending } = await blocking(`/v1/catalog/nodes?index=${first.index}`);
    expect(
      (await app.inject({ method: 'GET', url: `/v1/catalog/nodes?index=${first.index}` })).statusCode,
    ).toBe(429);
    // A query that does not block still answers.
    expect((await ask('/v1/catalog/nodes')).status).toBe(200);
    source.memberList.push(member('node-e', 'eu', '10.0.0.5'));
    source.fire([{ type: 'aw-set', key: '_sys/members' }]);
    expect((await pending).status).toBe(200);
  });
});
