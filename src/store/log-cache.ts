/**
 * What the store keeps in memory about its log: per origin, the highest seq stored and the
 * highest compacted away, and the log's totals. Loaded on open, then updated by the store only
 * after a successful COMMIT: the store is the only writer of its file (an exclusive lock keeps
 * a second process out), so the cache always describes what is committed.
 */
import type { DatabaseSync } from 'node:sqlite';

import type { VectorClock } from '../core/clock/vector-clock.js';
import { intColumn, textColumn } from './sqlite.js';

/** What the store caches per origin. */
export interface OriginState {
  /** Highest seq ever stored, compacted or not. */
  readonly maxSeq: number;
  /** Highest seq the log no longer holds (0: nothing compacted). */
  readonly compactedSeq: number;
}

export class LogCache {
  readonly origins = new Map<string, OriginState>();
  eventCount = 0;
  eventBytes = 0;
  /** Highest position ever assigned (0 for a new store); compaction does not lower it. */
  lastPos = 0;
  /** Highest position compacted since open; lets an open eventsAfter stream notice a compaction. */
  compactedUpTo = 0;

  constructor(db: DatabaseSync, file: string) {
    // One index probe per origin (max over an equality prefix), not a scan of the log.
    const maxStored = db.prepare('SELECT max(seq) AS m FROM events WHERE origin = ?');
    for (const row of db.prepare('SELECT origin, compacted_seq FROM origins').all()) {
      const origin = textColumn(row, 'origin', file);
      const compactedSeq = intColumn(row, 'compacted_seq', file);
      const m = maxStored.get(origin);
      const maxSeq = Math.max(compactedSeq, m?.m === null ? 0 : intColumn(m, 'm', file));
      if (maxSeq > 0) this.origins.set(origin, { maxSeq, compactedSeq });
    }
    const totals = db.prepare('SELECT count(*) AS n, coalesce(sum(length(bytes)), 0) AS b FROM events').get();
    this.eventCount = intColumn(totals, 'n', file);
    this.eventBytes = intColumn(totals, 'b', file);
    const seqRow = db.prepare(`SELECT seq FROM sqlite_sequence WHERE name = 'events'`).get();
    this.lastPos = seqRow === undefined ? 0 : intColumn(seqRow, 'seq', file);
  }

  /** Per origin, the highest seq the log no longer holds (only origins with something compacted). */
  compactedClock(): VectorClock {
    const vc: VectorClock = new Map();
    for (const [origin, st] of this.origins) if (st.compactedSeq > 0) vc.set(origin, st.compactedSeq);
    return vc;
  }
}
