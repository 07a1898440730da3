/**
 * Compaction (DESIGN.md "Snapshots and compaction"): dropping the prefix of the event log that
 * the latest snapshot covers, and installing a peer's snapshot in place of the whole log. Both
 * check first that no event is dropped that the snapshot does not cover, and change the
 * database in one transaction and the store's cache (log-cache.ts) only after it commits.
 */
import type { DatabaseSync, StatementSync } from 'node:sqlite';

import { type ReadonlyVectorClock, vcGet } from '../core/clock/vector-clock.js';
import type { StoredEvent } from './event-streams.js';
import type { HeadsTable, StoredHead } from './heads.js';
import type { LogStatements } from './log-append.js';
import type { LogCache, OriginState } from './log-cache.js';
import type { SnapshotsTable } from './snapshots.js';
import { intColumn, inTransaction, type Query, textColumn } from './sqlite.js';
import { invalid } from './store-checks.js';
import { StoreError, StoreErrorCode, toStoreError } from './store-errors.js';

/** The argument of Store.installSnapshot. */
export interface SnapshotToInstall {
  readonly vc: ReadonlyVectorClock;
  readonly bytes: Uint8Array;
  readonly heads?: readonly StoredHead[];
  readonly keep?: readonly StoredEvent[];
}

export class LogCompaction {
  private readonly compactSummary: StatementSync;
  private readonly deleteUpTo: StatementSync;

  constructor(
    private readonly db: DatabaseSync,
    private readonly file: string,
    private readonly log: LogCache,
    private readonly shared: LogStatements,
    private readonly snapshots: SnapshotsTable,
    private readonly heads: HeadsTable,
    private readonly query: Query,
  ) {
    // NOT INDEXED: walk the rowid range being dropped, not the whole (origin, seq) index.
    this.compactSummary = db.prepare(
      `SELECT origin, max(seq) AS seq, count(*) AS n, sum(length(bytes)) AS b
       FROM events NOT INDEXED WHERE pos <= ? GROUP BY origin`,
    );
    this.deleteUpTo = db.prepare('DELETE FROM events WHERE pos <= ?');
  }

  /** Store.compact, its argument checked. */
  compact(upTo: number): number {
    const snap = this.query('read snapshots', () => this.snapshots.latestHead());
    if (snap === undefined || snap.pos < upTo) {
      throw new StoreError(
        StoreErrorCode.NoSnapshot,
        `Cannot compact the log up to position ${upTo}: ` +
          (snap === undefined ? 'no snapshot is saved' : `the latest snapshot is at position ${snap.pos}`) +
          `. Save a snapshot at position ≥ ${upTo} first.`,
        { details: { upTo, snapshotPos: snap?.pos } },
      );
    }
    const touched = new Map<string, OriginState>();
    let dropped = 0;
    let droppedBytes = 0;
    try {
      inTransaction(this.db, () => {
        for (const row of this.compactSummary.all(upTo)) {
          const origin = textColumn(row, 'origin', this.file);
          const seq = intColumn(row, 'seq', this.file);
          const covered = vcGet(snap.vc, origin);
          if (seq > covered) {
            throw new StoreError(
              StoreErrorCode.NoSnapshot,
              `Cannot compact the log up to position ${upTo}: the snapshot at position ${snap.pos} covers ` +
                `${origin} only up to seq ${covered}, but the log holds seq ${seq} there. Its clock is wrong; ` +
                `nothing was dropped.`,
              { details: { upTo, snapshotPos: snap.pos, origin, seq, covered } },
            );
          }
          dropped += intColumn(row, 'n', this.file);
          droppedBytes += intColumn(row, 'b', this.file);
          const st = this.log.origins.get(origin);
          if (st !== undefined && seq > st.compactedSeq) {
            touched.set(origin, { maxSeq: st.maxSeq, compactedSeq: seq });
            this.shared.setCompacted.run(seq, origin);
          }
        }
        this.deleteUpTo.run(upTo);
      });
    } catch (e) {
      throw toStoreError(e, this.file, 'compact the log');
    }
    for (const [origin, st] of touched) this.log.origins.set(origin, st);
    this.log.compactedUpTo = Math.max(this.log.compactedUpTo, upTo);
    this.log.eventCount -= dropped;
    this.log.eventBytes -= droppedBytes;
    return dropped;
  }

  /** Store.installSnapshot, its snapshot's clock and bytes checked. */
  install(s: SnapshotToInstall): void {
    const keep = s.keep ?? [];
    const kept = new Map<string, number>();
    for (const e of keep) {
      const next = Math.max(vcGet(s.vc, e.origin), kept.get(e.origin) ?? 0) + 1;
      if (e.seq !== next)
        invalid(
          `kept event (${e.origin}, ${e.seq}) does not follow seq ${next - 1} of the snapshot or kept log.`,
        );
      kept.set(e.origin, e.seq);
    }
    for (const [origin, st] of this.log.origins) {
      if (st.maxSeq > Math.max(vcGet(s.vc, origin), kept.get(origin) ?? 0)) {
        throw new StoreError(
          StoreErrorCode.NoSnapshot,
          `Cannot install the snapshot: it covers ${origin} only up to seq ${vcGet(s.vc, origin)}, but this ` +
            `agent holds seq ${st.maxSeq}. Push those events to the peer first; nothing was changed.`,
          { details: { origin, seq: st.maxSeq } },
        );
      }
    }
    const pos = this.log.lastPos;
    let lastPos = pos;
    try {
      inTransaction(this.db, () => {
        for (const [origin, seq] of s.vc) {
          this.shared.addOrigin.run(origin);
          this.shared.setCompacted.run(seq, origin);
        }
        this.deleteUpTo.run(pos);
        this.snapshots.put(pos, s.vc, s.bytes);
        if (s.heads) this.heads.record(s.heads);
        for (const e of keep)
          lastPos = Number(this.shared.insertEvent.run(e.origin, e.seq, e.bytes).lastInsertRowid);
      });
    } catch (e) {
      throw toStoreError(e, this.file, 'install a snapshot');
    }
    this.log.lastPos = lastPos;
    for (const [origin, seq] of s.vc) {
      const st = this.log.origins.get(origin);
      this.log.origins.set(origin, { maxSeq: Math.max(seq, st?.maxSeq ?? 0), compactedSeq: seq });
    }
    this.log.compactedUpTo = Math.max(this.log.compactedUpTo, pos);
    this.log.eventCount = keep.length;
    this.log.eventBytes = keep.reduce((n, e) => n + e.bytes.byteLength, 0);
  }
}
