// The store's per-origin signed heads (store/heads.ts): the newest envelope per origin, kept
// through compaction, replaced by a snapshot's verified heads, and filled from the log of a
// store made before the table existed.
import { DatabaseSync } from 'node:sqlite';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DB_FILE_NAME, Store } from '../../src/store/store.js';
import { clockOf, ev, useTempDirs } from './helpers.js';

const tempDir = useTempDirs();

describe('signed heads', () => {
  it('keeps the newest envelope per origin, through compaction and reopen', () => {
    const dir = tempDir();
    const store = Store.open({ dataDir: dir });
    const log = [ev('a', 1), ev('b', 1), ev('a', 2)];
    store.appendEvents(log);
    store.appendEvents([ev('a', 2), ev('a', 3)]); // a duplicate, then a newer one
    expect(store.head('a')).toEqual(ev('a', 3));
    expect(store.head('b')).toEqual(ev('b', 1));
    expect(store.head('z')).toBeUndefined();
    store.saveSnapshot({ pos: 4, vc: clockOf([...log, ev('a', 3)]), bytes: Uint8Array.of(1) });
    store.compact(4);
    expect(store.logStats().events).toBe(0);
    expect(store.head('a')).toEqual(ev('a', 3));
    store.close();
    const again = Store.open({ dataDir: dir });
    expect(again.head('b')).toEqual(ev('b', 1));
    again.installSnapshot({
      vc: new Map([
        ['a', 9],
        ['b', 1],
      ]),
      bytes: Uint8Array.of(2),
      heads: [ev('a', 9)],
    });
    expect(again.head('a')).toEqual(ev('a', 9));
    again.close();
  });

  it('fills the table from the log of a store made before it existed', () => {
    const dir = tempDir();
    const store = Store.open({ dataDir: dir });
    store.appendEvents([ev('a', 1), ev('a', 2), ev('b', 1)]);
    store.close();
    const db = new DatabaseSync(join(dir, DB_FILE_NAME));
    db.exec('DROP TABLE heads');
    db.close();
    const reopened = Store.open({ dataDir: dir });
    expect(reopened.head('a')).toEqual(ev('a', 2));
    expect(reopened.head('b')).toEqual(ev('b', 1));
    reopened.close();
  });
});
