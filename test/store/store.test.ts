/**
 * The store's file handling and event appends: what a reopen recovers, WAL and the schema
 * version, idempotent and all-or-nothing group commits, and the typed errors an operator sees.
 */
import { chmodSync, existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { describe, expect, it } from 'vitest';

import { APPLICATION_ID, SCHEMA_VERSION } from '../../src/store/schema.js';
import { StoreErrorCode } from '../../src/store/store-errors.js';
import { DB_FILE_NAME, Store } from '../../src/store/store.js';
import { ev, expectStoreError, useTempDirs } from './helpers.js';

const tempDir = useTempDirs();

function all(store: Store): { pos: number; origin: string; seq: number; text: string }[] {
  return [...store.eventsAfter(0)].map((e) => ({
    pos: e.pos,
    origin: e.origin,
    seq: e.seq,
    text: new TextDecoder().decode(e.bytes),
  }));
}

function pragma(file: string, name: string): unknown {
  const db = new DatabaseSync(file);
  try {
    return db.prepare(`PRAGMA ${name}`).get()?.[name];
  } finally {
    db.close();
  }
}

describe('Store: opening and reopening', () => {
  it('creates the data directory 0700 and the database 0600', () => {
    const dir = join(tempDir(), 'nested', 'data');
    const store = Store.open({ dataDir: dir });
    store.close();
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(statSync(join(dir, DB_FILE_NAME)).mode & 0o777).toBe(0o600);
  });

  it('uses an existing data directory as it is', () => {
    const dir = join(tempDir(), 'existing');
    mkdirSync(dir);
    chmodSync(dir, 0o750);
    Store.open({ dataDir: dir }).close();
    expect(statSync(dir).mode & 0o777).toBe(0o750);
  });

  it('persists events, metadata, snapshots and positions across a reopen', () => {
    const dir = tempDir();
    const a = Store.open({ dataDir: dir });
    a.appendEvents([ev('a', 1), ev('b', 1), ev('a', 2)]);
    a.setMeta('identity', 'key-bytes');
    a.saveSnapshot({
      pos: 2,
      vc: new Map([
        ['a', 1],
        ['b', 1],
      ]),
      bytes: Uint8Array.of(9),
    });
    const before = { log: all(a), stats: a.logStats() };
    a.close();

    const b = Store.open({ dataDir: dir });
    expect(all(b)).toEqual(before.log);
    expect(b.logStats()).toEqual(before.stats);
    expect(b.maxSeq('a')).toBe(2);
    expect(b.getMeta('identity')).toBe('key-bytes');
    expect(b.latestSnapshot()?.pos).toBe(2);
    expect(b.appendEvents([ev('a', 3)])).toBe(1);
    expect(all(b).at(-1)).toMatchObject({ pos: 4, origin: 'a', seq: 3 });
    b.close();
  });

  it('runs in WAL mode with the schema version and application id set', () => {
    const dir = tempDir();
    const store = Store.open({ dataDir: dir, sync: 'full' });
    store.appendEvents([ev('a', 1)]);
    expect(existsSync(join(dir, `${DB_FILE_NAME}-wal`))).toBe(true);
    store.close();
    const file = join(dir, DB_FILE_NAME);
    expect(pragma(file, 'journal_mode')).toBe('wal');
    expect(pragma(file, 'user_version')).toBe(SCHEMA_VERSION);
    expect(pragma(file, 'application_id')).toBe(APPLICATION_ID);
  });

  it('refuses a second process or connection on the same data directory', () => {
    const dir = tempDir();
    const a = Store.open({ dataDir: dir });
    expectStoreError(() => Store.open({ dataDir: dir }), StoreErrorCode.Locked, /another process/);
    a.appendEvents([ev('a', 1)]);
    a.close();
    const b = Store.open({ dataDir: dir });
    expect(b.maxSeq('a')).toBe(1);
    b.close();
  });

  it('says which path is unusable when the data directory cannot be created', () => {
    const blocker = join(tempDir(), 'a-file');
    writeFileSync(blocker, 'not a directory');
    const dataDir = join(blocker, 'data');
    expectStoreError(
      () => Store.open({ dataDir }),
      StoreErrorCode.OpenFailed,
      new RegExp(`${dataDir}.*data directory`),
    );
  });

  it('refuses a file that is not a database, without touching it', () => {
    const dir = tempDir();
    const file = join(dir, DB_FILE_NAME);
    writeFileSync(file, 'x'.repeat(4096));
    expectStoreError(() => Store.open({ dataDir: dir }), StoreErrorCode.Corrupt, /Move it aside/);
    expect(statSync(file).size).toBe(4096);
  });

  it("refuses another application's SQLite database", () => {
    const dir = tempDir();
    const db = new DatabaseSync(join(dir, DB_FILE_NAME));
    db.exec('CREATE TABLE mine (x)');
    db.close();
    expectStoreError(() => Store.open({ dataDir: dir }), StoreErrorCode.Corrupt, /not a SMAC store/);
  });

  it('refuses a schema newer than this build', () => {
    const dir = tempDir();
    Store.open({ dataDir: dir }).close();
    const db = new DatabaseSync(join(dir, DB_FILE_NAME));
    db.exec(`PRAGMA user_version = ${SCHEMA_VERSION + 1}`);
    db.close();
    expectStoreError(() => Store.open({ dataDir: dir }), StoreErrorCode.UnsupportedVersion, /newer SMAC/);
  });

  it('rejects bad options', () => {
    expectStoreError(() => Store.open({ dataDir: '' }), StoreErrorCode.InvalidArgument);
    expectStoreError(
      () => Store.open({ dataDir: tempDir(), sync: 'off' as 'full' }),
      StoreErrorCode.InvalidArgument,
      /'normal' or 'full'/,
    );
  });

  it('fails every call after close, and close is idempotent', () => {
    const store = Store.open({ dataDir: tempDir() });
    const stream = store.eventsAfter(0);
    store.close();
    store.close();
    expectStoreError(() => store.appendEvents([ev('a', 1)]), StoreErrorCode.Closed);
    expectStoreError(() => store.maxSeq('a'), StoreErrorCode.Closed);
    expectStoreError(() => store.getMeta('k'), StoreErrorCode.Closed);
    expectStoreError(() => stream.next(), StoreErrorCode.Closed);
  });
});

describe('Store: appending events', () => {
  it('assigns increasing positions in append order and counts bytes', () => {
    const store = Store.open({ dataDir: tempDir() });
    expect(store.logStats()).toEqual({ events: 0, bytes: 0, lastPos: 0 });
    expect(store.appendEvents([ev('b', 1), ev('a', 1), ev('b', 2)])).toBe(3);
    expect(all(store)).toEqual([
      { pos: 1, origin: 'b', seq: 1, text: 'b#1' },
      { pos: 2, origin: 'a', seq: 1, text: 'a#1' },
      { pos: 3, origin: 'b', seq: 2, text: 'b#2' },
    ]);
    expect(store.logStats()).toEqual({ events: 3, bytes: 9, lastPos: 3 });
    expect(store.appendEvents([])).toBe(0);
    store.close();
  });

  it('ignores events already stored, across and within batches', () => {
    const store = Store.open({ dataDir: tempDir() });
    expect(store.appendEvents([ev('a', 1), ev('a', 2)])).toBe(2);
    expect(store.appendEvents([ev('a', 1), ev('a', 2)])).toBe(0);
    expect(store.appendEvents([ev('a', 2), ev('a', 3), ev('a', 3), ev('b', 1)])).toBe(2);
    expect(all(store).map((e) => `${e.origin}${e.seq}`)).toEqual(['a1', 'a2', 'a3', 'b1']);
    expect(store.logStats()).toMatchObject({ events: 4, lastPos: 4 });
    store.close();
  });

  it('tracks maxSeq and hasEvent per origin, gaps included', () => {
    const store = Store.open({ dataDir: tempDir() });
    store.appendEvents([ev('a', 1), ev('a', 5), ev('b', 2)]);
    expect(store.maxSeq('a')).toBe(5);
    expect(store.maxSeq('b')).toBe(2);
    expect(store.maxSeq('c')).toBe(0);
    expect([1, 2, 5, 6].map((s) => store.hasEvent('a', s))).toEqual([true, false, true, false]);
    expect(store.hasEvent('c', 1)).toBe(false);
    store.close();
  });

  it('writes nothing of a batch with an invalid row', () => {
    const store = Store.open({ dataDir: tempDir() });
    store.appendEvents([ev('a', 1)]);
    const before = store.logStats();
    const bad = [ev('a', 2), ev('b', 1), { origin: 'c', seq: 0, bytes: Uint8Array.of(1) }];
    expectStoreError(() => store.appendEvents(bad), StoreErrorCode.InvalidArgument, /events\[2\]\.seq/);
    expect(store.logStats()).toEqual(before);
    expect(store.hasEvent('a', 2)).toBe(false);
    expect(store.maxSeq('b')).toBe(0);
    store.close();
  });

  it('rolls back a batch that fails halfway, in the database and in memory', () => {
    const dir = tempDir();
    const store = Store.open({ dataDir: dir });
    store.appendEvents([ev('a', 1), ev('a', 2)]);
    const before = store.logStats();
    // (a, 4) after (a, 5): out of delivery order, detected only after two rows were inserted.
    expectStoreError(
      () => store.appendEvents([ev('b', 1), ev('a', 5), ev('a', 4)]),
      StoreErrorCode.SeqOrder,
      /\(a, 4\).*Nothing of the batch was written/,
    );
    expect(store.logStats()).toEqual(before);
    expect(store.maxSeq('a')).toBe(2);
    expect(store.hasEvent('b', 1)).toBe(false);
    expect(store.appendEvents([ev('b', 1)])).toBe(1);
    expect(store.logStats().lastPos).toBe(3);
    store.close();
    const reopened = Store.open({ dataDir: dir });
    expect(all(reopened).map((e) => `${e.origin}${e.seq}@${e.pos}`)).toEqual(['a1@1', 'a2@2', 'b1@3']);
    expect(reopened.maxSeq('a')).toBe(2);
    reopened.close();
  });

  it('refuses to fill a gap behind an origin’s latest event', () => {
    const store = Store.open({ dataDir: tempDir() });
    store.appendEvents([ev('a', 1), ev('a', 3)]);
    expectStoreError(() => store.appendEvents([ev('a', 2)]), StoreErrorCode.SeqOrder);
    store.close();
  });

  it('keeps a byte view exactly, not the buffer behind it', () => {
    const store = Store.open({ dataDir: tempDir() });
    const backing = Uint8Array.of(0, 1, 2, 3, 4);
    store.appendEvents([{ origin: 'a', seq: 1, bytes: backing.subarray(1, 3) }]);
    expect([...store.eventsAfter(0)][0]?.bytes).toEqual(Uint8Array.of(1, 2));
    store.close();
  });

  it.each([
    ['a non-array', 'nope', /array/],
    ['an empty origin', [{ origin: '', seq: 1, bytes: Uint8Array.of() }], /origin/],
    ['a non-string origin', [{ origin: 7, seq: 1, bytes: Uint8Array.of() }], /origin/],
    ['a lone surrogate in the origin', [{ origin: 'a\ud800', seq: 1, bytes: Uint8Array.of() }], /surrogate/],
    ['seq 0', [{ origin: 'a', seq: 0, bytes: Uint8Array.of() }], /seq/],
    ['a fractional seq', [{ origin: 'a', seq: 1.5, bytes: Uint8Array.of() }], /seq/],
    ['an unsafe seq', [{ origin: 'a', seq: 2 ** 53, bytes: Uint8Array.of() }], /seq/],
    ['bytes as an array', [{ origin: 'a', seq: 1, bytes: [1, 2] }], /bytes/],
    ['a null row', [null], /events\[0\]/],
  ])('rejects %s and leaves the log unchanged', (_name, input, message) => {
    const store = Store.open({ dataDir: tempDir() });
    store.appendEvents([ev('z', 1)]);
    expectStoreError(() => store.appendEvents(input as never), StoreErrorCode.InvalidArgument, message);
    expect(store.logStats()).toEqual({ events: 1, bytes: 3, lastPos: 1 });
    store.close();
  });

  it('validates the arguments of the queries', () => {
    const store = Store.open({ dataDir: tempDir() });
    expectStoreError(() => store.hasEvent('', 1), StoreErrorCode.InvalidArgument);
    expectStoreError(() => store.hasEvent('a', -1), StoreErrorCode.InvalidArgument);
    expectStoreError(() => store.maxSeq(5 as never), StoreErrorCode.InvalidArgument);
    store.close();
  });
});

describe('Store: metadata', () => {
  it('gets, sets, overwrites and persists string values', () => {
    const dir = tempDir();
    const store = Store.open({ dataDir: dir });
    expect(store.getMeta('hlc')).toBeUndefined();
    store.setMeta('hlc', '1');
    store.setMeta('hlc', '2');
    store.setMeta('name', 'nœud ✓');
    store.close();
    const reopened = Store.open({ dataDir: dir });
    expect(reopened.getMeta('hlc')).toBe('2');
    expect(reopened.getMeta('name')).toBe('nœud ✓');
    reopened.close();
  });

  it('rejects empty keys and non-string values', () => {
    const store = Store.open({ dataDir: tempDir() });
    expectStoreError(() => {
      store.setMeta('', 'x');
    }, StoreErrorCode.InvalidArgument);
    expectStoreError(() => {
      store.setMeta('k', 5 as never);
    }, StoreErrorCode.InvalidArgument);
    expectStoreError(() => store.getMeta(''), StoreErrorCode.InvalidArgument);
    expect(store.getMeta('k')).toBeUndefined();
    store.close();
  });
});
