/**
 * The snapshots table (DESIGN.md "Snapshots and compaction"): replica state encoded at a log
 * position, with the replica's clock then. The latest SNAPSHOTS_KEPT are kept, so that a
 * latest one that fails to decode has one to fall back on.
 */
import type { DatabaseSync, StatementSync } from 'node:sqlite';

import {
  type ReadonlyVectorClock,
  type VectorClock,
  vcFromRecord,
  vcToRecord,
} from '../core/clock/vector-clock.js';
import { blobColumn, inTransaction, intColumn, type Query, type Row, textColumn } from './sqlite.js';
import { invalid } from './store-checks.js';
import { StoreError, StoreErrorCode, toStoreError } from './store-errors.js';

/** Snapshots kept: the latest, and one to fall back on should the latest fail to decode. */
export const SNAPSHOTS_KEPT = 2;

export interface StoredSnapshot {
  readonly pos: number;
  readonly vc: VectorClock;
  readonly bytes: Uint8Array;
}

/** The argument of Store.saveSnapshot: replica state taken when the log's last position was `pos`. */
export interface StoredSnapshotToSave {
  readonly pos: number;
  readonly vc: ReadonlyVectorClock;
  readonly bytes: Uint8Array;
}

export class SnapshotsTable {
  private readonly upsert: StatementSync;
  private readonly prune: StatementSync;
  private readonly newestFirst: StatementSync;
  private readonly latestRow: StatementSync;
  private readonly latestHeadRow: StatementSync;

  constructor(
    private readonly db: DatabaseSync,
    private readonly file: string,
  ) {
    this.upsert = db.prepare(
      `INSERT INTO snapshots (pos, vc, bytes) VALUES (?, ?, ?)
       ON CONFLICT (pos) DO UPDATE SET vc = excluded.vc, bytes = excluded.bytes`,
    );
    this.prune = db.prepare(
      `DELETE FROM snapshots WHERE pos NOT IN (SELECT pos FROM snapshots ORDER BY pos DESC LIMIT ${SNAPSHOTS_KEPT})`,
    );
    this.newestFirst = db.prepare('SELECT pos, vc, bytes FROM snapshots ORDER BY pos DESC');
    this.latestRow = db.prepare('SELECT pos, vc, bytes FROM snapshots ORDER BY pos DESC LIMIT 1');
    this.latestHeadRow = db.prepare('SELECT pos, vc FROM snapshots ORDER BY pos DESC LIMIT 1');
  }

  /**
   * Store.saveSnapshot, its arguments checked: refuses a position beyond the log's `lastPos` or
   * older than the latest snapshot's, then saves it in its own transaction.
   */
  save(s: StoredSnapshotToSave, lastPos: number, query: Query): void {
    if (s.pos > lastPos) {
      invalid(`snapshot pos ${s.pos} is beyond the log's last position ${lastPos}.`, { pos: s.pos });
    }
    const latest = query('read snapshots', () => this.latestHead());
    if (latest !== undefined && s.pos < latest.pos) {
      invalid(
        `snapshot pos ${s.pos} is older than the latest snapshot (pos ${latest.pos}); snapshots only move forward.`,
        { pos: s.pos },
      );
    }
    try {
      inTransaction(this.db, () => {
        this.put(s.pos, s.vc, s.bytes);
      });
    } catch (e) {
      throw toStoreError(e, this.file, 'save a snapshot');
    }
  }

  /**
   * Saves a snapshot at `pos` (replacing one at the same position) and drops all but the
   * latest SNAPSHOTS_KEPT; call inside the caller's transaction.
   */
  put(pos: number, vc: ReadonlyVectorClock, bytes: Uint8Array): void {
    this.upsert.run(pos, JSON.stringify(vcToRecord(vc)), bytes);
    this.prune.run();
  }

  latest(): StoredSnapshot | undefined {
    const row = this.latestRow.get();
    return row === undefined ? undefined : this.snapshotOf(row);
  }

  /** The kept snapshots, newest first. */
  all(): StoredSnapshot[] {
    return this.newestFirst.all().map((row) => this.snapshotOf(row));
  }

  /** The latest snapshot's position and clock, without its bytes. */
  latestHead(): { pos: number; vc: VectorClock } | undefined {
    const row = this.latestHeadRow.get();
    return row === undefined ? undefined : { pos: intColumn(row, 'pos', this.file), vc: this.clockOf(row) };
  }

  private snapshotOf(row: Row): StoredSnapshot {
    return {
      pos: intColumn(row, 'pos', this.file),
      vc: this.clockOf(row),
      bytes: blobColumn(row, 'bytes', this.file),
    };
  }

  private clockOf(row: Row): VectorClock {
    const json = textColumn(row, 'vc', this.file);
    try {
      return vcFromRecord(JSON.parse(json), 'snapshot clock');
    } catch (e) {
      throw new StoreError(
        StoreErrorCode.Corrupt,
        `The store ${this.file} holds a snapshot whose clock is not valid (${e instanceof Error ? e.message : String(e)}). ` +
          `Move the file aside and restart: the agent will resynchronise from its peers.`,
        { details: { file: this.file }, cause: e },
      );
    }
  }
}
