/**
 * The store's SQLite schema and its forward migrations (DESIGN.md "Durability"). The schema
 * version lives in `PRAGMA user_version` and the file is stamped with `PRAGMA application_id`,
 * so a stranger's database is refused rather than altered. Each migration runs in its own
 * transaction together with the version bump: a crash mid-upgrade leaves the previous version.
 * Migrations are append-only: never edit a shipped one, add the next.
 */
import type { DatabaseSync } from 'node:sqlite';

import { inTransaction } from './sqlite.js';
import { StoreError, StoreErrorCode } from './store-errors.js';

/** 'SMAC' in ASCII; `file smac.db` and `PRAGMA application_id` show whose file this is. */
export const APPLICATION_ID = 0x534d4143;

/** MIGRATIONS[i] takes the schema from version i to i + 1. */
const MIGRATIONS: readonly string[] = [
  // 1: event log, per-origin bookkeeping, snapshots, metadata.
  `
  -- The event log. pos is the delivery order; AUTOINCREMENT so a position is never reused,
  -- even after compaction has deleted the newest rows (snapshots refer to positions).
  CREATE TABLE events (
    pos    INTEGER PRIMARY KEY AUTOINCREMENT,
    origin TEXT    NOT NULL,
    seq    INTEGER NOT NULL CHECK (seq > 0),
    bytes  BLOB    NOT NULL
  ) STRICT;
  -- Idempotent appends, and per-origin range scans for anti-entropy (covering: holds pos).
  CREATE UNIQUE INDEX events_by_origin_seq ON events (origin, seq);

  -- One row per origin ever stored, written when the origin first appears and on compaction.
  -- compacted_seq is the highest seq the log no longer holds (the compacted clock); an origin's
  -- highest seq ever stored is max(compacted_seq, max(seq) of its events), so seq numbers
  -- survive compaction and are never reused.
  CREATE TABLE origins (
    origin        TEXT    PRIMARY KEY,
    compacted_seq INTEGER NOT NULL DEFAULT 0 CHECK (compacted_seq >= 0)
  ) STRICT, WITHOUT ROWID;

  -- Snapshots: encoded replica state at log position pos, with its vector clock as JSON.
  CREATE TABLE snapshots (
    pos   INTEGER PRIMARY KEY CHECK (pos >= 0),
    vc    TEXT    NOT NULL,
    bytes BLOB    NOT NULL
  ) STRICT;

  -- Small agent metadata (identity, HLC, ...): string to string.
  CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
  ) STRICT, WITHOUT ROWID;

  PRAGMA application_id = ${APPLICATION_ID};
  `,
];

export const SCHEMA_VERSION = MIGRATIONS.length;

function pragmaInt(db: DatabaseSync, name: string): number {
  const row = db.prepare(`PRAGMA ${name}`).get();
  const v = row?.[name];
  if (typeof v !== 'number') throw new Error(`PRAGMA ${name} returned no integer`);
  return v;
}

/** Brings the database at `file` to SCHEMA_VERSION, or explains why it cannot. */
export function migrate(db: DatabaseSync, file: string): void {
  const version = pragmaInt(db, 'user_version');
  if (version > SCHEMA_VERSION) {
    throw new StoreError(
      StoreErrorCode.UnsupportedVersion,
      `The store ${file} has schema version ${version}, written by a newer SMAC; this build knows up to ` +
        `version ${SCHEMA_VERSION}. Upgrade smac, or point it at another data directory.`,
      { details: { file, version, supported: SCHEMA_VERSION } },
    );
  }
  if (version === 0) {
    const tables = db.prepare(`SELECT count(*) AS n FROM sqlite_schema`).get()?.n;
    if (tables !== 0) {
      throw new StoreError(
        StoreErrorCode.Corrupt,
        `${file} is an SQLite database but not a SMAC store (it already has tables and no SMAC schema ` +
          `version). Choose an empty data directory.`,
        { details: { file } },
      );
    }
  } else if (pragmaInt(db, 'application_id') !== APPLICATION_ID) {
    throw new StoreError(
      StoreErrorCode.Corrupt,
      `${file} is an SQLite database of another application (application_id is not SMAC's). ` +
        `Choose an empty data directory.`,
      { details: { file } },
    );
  }
  for (let v = version; v < SCHEMA_VERSION; v++) {
    inTransaction(db, () => {
      db.exec(MIGRATIONS[v] ?? '');
      db.exec(`PRAGMA user_version = ${v + 1}`);
    });
  }
}
