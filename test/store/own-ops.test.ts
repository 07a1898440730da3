// The client batches of an agent's own writes (issue 7, "a reaped member that comes back loses
// nothing it acknowledged"; src/store/own-ops.ts): kept with the event, in its transaction,
// pruned once stable, dropped beyond a seq when a rebase moved them, and kept when a rebase
// empties the log (the same epoch may be retired again at a lower cut).
import { describe, expect, it } from 'vitest';
import { Store } from '../../src/store/store.js';
import { ev, useTempDirs } from './helpers.js';

const tempDir = useTempDirs();

describe('Store: own client batches', () => {
  it('keeps each batch with its event, survives a reopen, prunes what is stable', () => {
    const dir = tempDir();
    let store = Store.open({ dataDir: dir });
    store.appendEvents([
      { ...ev('me~1', 1), clientOps: '[1]' },
      ev('other~1', 1),
      { ...ev('me~1', 2), clientOps: '[2]' },
      ev('me~1', 3), // a system write: no batch
      { ...ev('me~1', 4), clientOps: '[4]' },
    ]);
    expect(store.ownOpsSince('me~1', 1)).toEqual([
      { seq: 2, ops: '[2]' },
      { seq: 4, ops: '[4]' },
    ]);
    store.close();
    store = Store.open({ dataDir: dir });
    expect(store.ownOpsSince('me~1', 0).map((o) => o.seq)).toEqual([1, 2, 4]);
    store.pruneOwnOps('me~1', 2);
    expect(store.ownOpsSince('me~1', 0).map((o) => o.seq)).toEqual([4]);
    store.close();
  });

  it('a batch is written with its event or not at all', () => {
    const store = Store.open({ dataDir: tempDir() });
    store.appendEvents([{ ...ev('me~1', 2), clientOps: '[2]' }]);
    // Out of order for the origin: the whole group commit fails, its batch with it.
    expect(() => store.appendEvents([{ ...ev('me~1', 3), clientOps: '[3]' }, ev('me~1', 1)])).toThrow();
    expect(store.ownOpsSince('me~1', 0).map((o) => o.seq)).toEqual([2]);
    store.close();
  });

  it('dropOwnOpsBeyond drops the batches of one origin beyond a seq, and keeps the rest', () => {
    const store = Store.open({ dataDir: tempDir() });
    store.appendEvents([1, 2, 3].map((seq) => ({ ...ev('me~1', seq), clientOps: `[${String(seq)}]` })));
    store.appendEvents([{ ...ev('me~2', 1), clientOps: '[9]' }]);
    store.dropOwnOpsBeyond('me~1', 1);
    store.dropOwnOpsBeyond('me~1', 1); // again (a resumed rebase): nothing more
    expect(store.ownOpsSince('me~1', 0)).toEqual([{ seq: 1, ops: '[1]' }]);
    expect(store.ownOpsSince('me~2', 0)).toEqual([{ seq: 1, ops: '[9]' }]);
    store.close();
  });

  it('resetForRebase empties the log, snapshots and heads, and keeps metadata, batches and positions', () => {
    const dir = tempDir();
    let store = Store.open({ dataDir: dir });
    store.setMeta('epoch', 'keep');
    store.appendEvents([{ ...ev('me~1', 1), clientOps: '[1]' }, ev('other~1', 1)]);
    store.saveSnapshot({ pos: 2, vc: new Map([['me~1', 1]]), bytes: new Uint8Array([1]) });
    const lastPos = store.logStats().lastPos;
    store.resetForRebase();
    expect(store.logStats()).toEqual({ events: 0, bytes: 0, lastPos });
    expect(store.latestSnapshot()).toBeUndefined();
    expect(store.head('me~1')).toBeUndefined();
    expect(store.ownOpsSince('me~1', 0)).toEqual([{ seq: 1, ops: '[1]' }]);
    expect(store.maxSeq('me~1')).toBe(0);
    store.appendEvents([ev('me~2', 1)]);
    store.close();
    store = Store.open({ dataDir: dir });
    expect(store.getMeta('epoch')).toBe('keep');
    expect([...store.eventsAfter(0)].map((e) => [e.origin, e.seq, e.pos > lastPos])).toEqual([
      ['me~2', 1, true],
    ]);
    store.close();
  });
});
