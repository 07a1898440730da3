// Pending force-leaves are kept in the store's meta, bounded, and parsed defensively
// (src/agent/force-leaves.ts); the API answers a force-leave past the bound with
// 429 TOO_MANY_FORCE_LEAVES and says when one is pending.
import { rmSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { ForceLeaves, TooManyForceLeaves } from '../../src/agent/force-leaves.js';
import { type MembersSource, membersRouteModule } from '../../src/api/routes/members.js';
import { createApiApp } from '../../src/api/server.js';
import { Store } from '../../src/store/store.js';
import { ReplicaAgent } from '../api/helpers.js';
import { quiet, tempDir } from './helpers.js';

const dirs: string[] = [];
const stores: Store[] = [];
afterEach(() => {
  for (const s of stores.splice(0)) s.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function open(dir: string): Store {
  const s = Store.open({ dataDir: dir });
  stores.push(s);
  return s;
}

describe('pending force-leaves', () => {
  it('are kept in the store: a reopened store resumes them, a cleared one is gone', () => {
    const dir = tempDir();
    dirs.push(dir);
    const store = open(dir);
    const f = new ForceLeaves({ store, log: quiet });
    f.add({ peerId: 'peer-b', at: 2 });
    f.add({ peerId: 'peer-a', at: 1, done: 'peer-a~e1' });
    f.add({ peerId: 'peer-b', at: 3 }); // again: nothing changes
    store.close();
    stores.pop();
    const again = new ForceLeaves({ store: open(dir), log: quiet });
    expect(again.list()).toEqual([
      { peerId: 'peer-a', at: 1, done: 'peer-a~e1' },
      { peerId: 'peer-b', at: 2 },
    ]);
    again.clear('peer-a');
    expect(new ForceLeaves({ store: stores.at(-1)!, log: quiet }).list()).toEqual([
      { peerId: 'peer-b', at: 2 },
    ]);
  });

  it('are bounded: one past the bound is refused with TOO_MANY_FORCE_LEAVES, recording nothing', () => {
    const dir = tempDir();
    dirs.push(dir);
    const store = open(dir);
    const f = new ForceLeaves({ store, log: quiet, max: 2 });
    f.add({ peerId: 'p1', at: 1 });
    f.add({ peerId: 'p2', at: 2 });
    let err: unknown;
    try {
      f.add({ peerId: 'p3', at: 3 });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(TooManyForceLeaves);
    expect((err as TooManyForceLeaves).code).toBe('TOO_MANY_FORCE_LEAVES');
    expect(f.has('p3')).toBe(false);
    f.add({ peerId: 'p1', at: 4 }); // one already pending is no new one
    f.clear('p1');
    f.add({ peerId: 'p3', at: 5 });
    expect(new ForceLeaves({ store, log: quiet }).list().map((i) => i.peerId)).toEqual(['p2', 'p3']);
  });

  it('a damaged record is read as none, and entries that do not parse are skipped', () => {
    const dir = tempDir();
    dirs.push(dir);
    const store = open(dir);
    store.setMeta('force-leaves', '{not json');
    expect(new ForceLeaves({ store, log: quiet }).list()).toEqual([]);
    store.setMeta(
      'force-leaves',
      JSON.stringify([
        null,
        7,
        { peerId: '', at: 1 },
        { peerId: 'x'.repeat(200), at: 1 },
        { peerId: 'ok', at: 'no' },
        { peerId: 'ok', at: 9 },
      ]),
    );
    expect(new ForceLeaves({ store, log: quiet }).list()).toEqual([{ peerId: 'ok', at: 9 }]);
  });
});

describe('POST /v1/members/:id/force-leave', () => {
  it('says whether it is pending, and refuses one past the bound with 429 TOO_MANY_FORCE_LEAVES', async () => {
    const pending = new Set<string>();
    const source: MembersSource = {
      members: () => ({ members: [], transitions: [] }),
      forceLeave: (id) => {
        if (id === 'unknown') return false;
        if (id === 'one-too-many') throw new TooManyForceLeaves(32);
        pending.add(id);
        return true;
      },
      forceLeavePending: (id) => pending.has(id),
    };
    const app = await createApiApp({ agent: new ReplicaAgent('self'), routes: [membersRouteModule(source)] });
    try {
      const ok = await app.inject({ method: 'POST', url: '/v1/members/peer-c/force-leave' });
      expect(ok.statusCode).toBe(200);
      expect(ok.json()).toEqual({ id: 'peer-c', removed: true, pending: true });
      const over = await app.inject({ method: 'POST', url: '/v1/members/one-too-many/force-leave' });
      expect(over.statusCode).toBe(429);
      expect(over.json().code).toBe('TOO_MANY_FORCE_LEAVES');
      expect(over.json().message).toMatch(/32 force-leaves are pending/);
      const unknown = await app.inject({ method: 'POST', url: '/v1/members/unknown/force-leave' });
      expect(unknown.statusCode).toBe(404);
    } finally {
      await app.close();
    }
  });
});
