/**
 * The meta table: small named records (identity, epoch, run state, stability view), each a
 * well-formed text value under a key. Each write is its own transaction; `setSynced` syncs it
 * to disk whatever the store's sync mode.
 */
import type { DatabaseSync, StatementSync } from 'node:sqlite';

import { isWellFormedText } from '../core/codec/index.js';
import type { SyncMode } from './open-database.js';
import { type Query, textColumn } from './sqlite.js';
import { checkOrigin, invalid } from './store-checks.js';

export class MetaTable {
  private readonly select: StatementSync;
  private readonly upsert: StatementSync;

  constructor(
    private readonly db: DatabaseSync,
    private readonly file: string,
    private readonly sync: SyncMode,
    private readonly query: Query,
  ) {
    this.select = db.prepare('SELECT value FROM meta WHERE key = ?');
    this.upsert = db.prepare(
      'INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value',
    );
  }

  get(key: string): string | undefined {
    checkOrigin(key, 'meta key');
    const row = this.query('read metadata', () => this.select.get(key));
    return row === undefined ? undefined : textColumn(row, 'value', this.file);
  }

  /** Writes one key durably (its own transaction). */
  set(key: string, value: string): void {
    checkOrigin(key, 'meta key');
    if (typeof value !== 'string' || !isWellFormedText(value))
      invalid(`meta value for ${key} must be well-formed text.`);
    this.query('write metadata', () => {
      this.upsert.run(key, value);
    });
  }

  /**
   * Writes one key and syncs it to disk before returning, whatever the store's sync mode: for
   * records that must survive a power loss even under `normal` (the epoch and run state).
   */
  setSynced(key: string, value: string): void {
    if (this.sync === 'full') {
      this.set(key, value);
      return;
    }
    this.db.exec('PRAGMA synchronous = FULL');
    try {
      this.set(key, value);
    } finally {
      this.db.exec('PRAGMA synchronous = NORMAL');
    }
  }
}
