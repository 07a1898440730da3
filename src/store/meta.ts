/**
 * The meta table: small named records (identity, epoch, run state, stability view), each a
 * well-formed text value under a key.
 */
import type { DatabaseSync, StatementSync } from 'node:sqlite';

import { textColumn } from './sqlite.js';

export class MetaTable {
  private readonly select: StatementSync;
  private readonly upsert: StatementSync;

  constructor(
    db: DatabaseSync,
    private readonly file: string,
  ) {
    this.select = db.prepare('SELECT value FROM meta WHERE key = ?');
    this.upsert = db.prepare(
      'INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value',
    );
  }

  get(key: string): string | undefined {
    const row = this.select.get(key);
    return row === undefined ? undefined : textColumn(row, 'value', this.file);
  }

  set(key: string, value: string): void {
    this.upsert.run(key, value);
  }
}
