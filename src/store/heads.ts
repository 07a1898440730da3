/**
 * Per-origin signed heads (DESIGN.md "Snapshots and compaction": a snapshot proves the clock
 * it claims with, per origin, that origin's signed head). The table keeps, for every origin,
 * the envelope of the highest seq ever stored, and survives compaction (which drops the log
 * rows), so a snapshot served after compaction still carries a head for every clock entry.
 *
 * The table is created on open when missing (`CREATE TABLE IF NOT EXISTS`), outside the
 * numbered migrations, and filled from the log rows an older store still holds: the heads of
 * origins whose events were already compacted away before the upgrade cannot be recovered, and
 * snapshots this agent serves cannot prove those entries until a newer event of the origin
 * arrives (their receivers refuse them and pull from another member).
 */
import type { DatabaseSync, StatementSync } from 'node:sqlite';
import { blobColumn, intColumn, type Row } from './sqlite.js';

export interface StoredHead {
  readonly origin: string;
  readonly seq: number;
  /** The origin's signed envelope of event (origin, seq), stored verbatim. */
  readonly bytes: Uint8Array;
}

export class HeadsTable {
  private readonly upsert: StatementSync;
  private readonly select: StatementSync;

  constructor(
    db: DatabaseSync,
    private readonly file: string,
  ) {
    const existed = db
      .prepare(`SELECT 1 AS x FROM sqlite_schema WHERE type = 'table' AND name = 'heads'`)
      .get();
    if (existed === undefined) {
      db.exec(`CREATE TABLE IF NOT EXISTS heads (
          origin TEXT    PRIMARY KEY,
          seq    INTEGER NOT NULL CHECK (seq > 0),
          bytes  BLOB    NOT NULL
        ) STRICT, WITHOUT ROWID;
        INSERT OR IGNORE INTO heads (origin, seq, bytes)
          SELECT e.origin, e.seq, e.bytes FROM events e
          WHERE e.seq = (SELECT max(seq) FROM events WHERE origin = e.origin);`);
    }
    this.upsert = db.prepare(
      `INSERT INTO heads (origin, seq, bytes) VALUES (?, ?, ?)
       ON CONFLICT (origin) DO UPDATE SET seq = excluded.seq, bytes = excluded.bytes
       WHERE excluded.seq > heads.seq`,
    );
    this.select = db.prepare('SELECT seq, bytes FROM heads WHERE origin = ?');
  }

  /** Records the newest of `heads` per origin; call inside the caller's transaction. */
  record(heads: Iterable<StoredHead>): void {
    const newest = new Map<string, StoredHead>();
    for (const h of heads) {
      const prev = newest.get(h.origin);
      if (!prev || h.seq > prev.seq) newest.set(h.origin, h);
    }
    for (const h of newest.values()) this.upsert.run(h.origin, h.seq, h.bytes);
  }

  get(origin: string): StoredHead | undefined {
    const row = this.select.get(origin) as Row | undefined;
    if (row === undefined) return undefined;
    return { origin, seq: intColumn(row, 'seq', this.file), bytes: blobColumn(row, 'bytes', this.file) };
  }
}
