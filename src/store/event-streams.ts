/**
 * Reading the event log as streams, lazily in pages: everything after a position (replay after
 * the latest snapshot), or what a peer's clock does not cover (anti-entropy). The latter merges
 * per-origin ranges of the (origin, seq) index by position, relying on the store's invariant
 * that per origin, seqs ascend with positions (store.ts), so a peer slightly behind costs work
 * proportional to what it misses, never a scan of the whole log.
 */
import type { DatabaseSync, StatementSync } from 'node:sqlite';

import { type ReadonlyVectorClock, vcGet } from '../core/clock/vector-clock.js';
import type { OriginState } from './log-cache.js';
import { blobColumn, intColumn, type Query, type Row, textColumn } from './sqlite.js';
import { StoreError, StoreErrorCode } from './store-errors.js';

export interface StoredEvent {
  readonly pos: number;
  readonly origin: string;
  readonly seq: number;
  readonly bytes: Uint8Array;
}

interface OriginCursor {
  readonly origin: string;
  afterSeq: number;
  positions: number[];
  next: number;
  exhausted: boolean;
}

export class EventStreams {
  private readonly originRange: StatementSync;
  private readonly eventsAtPositions: StatementSync;
  private readonly eventsAfter: StatementSync;

  /**
   * `origins` is the store's cache of committed per-origin state, `compactedUpTo` the highest
   * position compacted since open: both are read live, so a stream notices a compaction.
   */
  constructor(
    db: DatabaseSync,
    private readonly file: string,
    private readonly origins: ReadonlyMap<string, OriginState>,
    private readonly compactedUpTo: () => number,
    private readonly query: Query,
  ) {
    // Index-only: (origin, seq) entries carry pos, so no event bytes are read here.
    this.originRange = db.prepare(
      'SELECT pos, seq FROM events WHERE origin = ? AND seq > ? ORDER BY seq LIMIT ?',
    );
    this.eventsAtPositions = db.prepare(
      'SELECT pos, origin, seq, bytes FROM events WHERE pos IN (SELECT value FROM json_each(?)) ORDER BY pos',
    );
    this.eventsAfter = db.prepare(
      'SELECT pos, origin, seq, bytes FROM events WHERE pos > ? ORDER BY pos LIMIT ?',
    );
  }

  /** Events not covered by `vc` that the log holds, in position order (Store.eventsSince). */
  since(vc: ReadonlyVectorClock, pageSize: number): Generator<StoredEvent> {
    const cursors: OriginCursor[] = [];
    for (const [origin, st] of this.origins) {
      const seen = vcGet(vc, origin);
      if (st.maxSeq > seen) {
        cursors.push({
          origin,
          afterSeq: Math.max(seen, st.compactedSeq),
          positions: [],
          next: 0,
          exhausted: false,
        });
      }
    }
    return this.streamSince(cursors, pageSize);
  }

  private *streamSince(cursors: OriginCursor[], pageSize: number): Generator<StoredEvent> {
    let live = cursors;
    for (;;) {
      // Only positions at or below `bound` are final: a cursor that still has unread index
      // entries may yet produce any position above its last buffered one.
      let bound = Infinity;
      for (const c of live) {
        if (c.next === c.positions.length && !c.exhausted) this.refill(c, pageSize);
        if (!c.exhausted) bound = Math.min(bound, c.positions[c.positions.length - 1] ?? Infinity);
      }
      live = live.filter((c) => c.next < c.positions.length);
      if (live.length === 0) return;
      const ready: number[] = [];
      for (const c of live) {
        for (let p = c.positions[c.next]; p !== undefined && p <= bound; p = c.positions[++c.next])
          ready.push(p);
      }
      ready.sort((a, b) => a - b);
      for (let i = 0; i < ready.length; i += pageSize) yield* this.eventsAt(ready.slice(i, i + pageSize));
    }
  }

  private refill(c: OriginCursor, pageSize: number): void {
    // Compaction drops a prefix of each origin's seqs: if it reached past what this cursor has
    // read, events the peer needs are gone and skipping them silently would leave it a gap.
    if ((this.origins.get(c.origin)?.compactedSeq ?? 0) > c.afterSeq) throw logChanged();
    const rows = this.query('read events', () => this.originRange.all(c.origin, c.afterSeq, pageSize));
    c.positions = rows.map((r) => intColumn(r, 'pos', this.file));
    c.next = 0;
    c.exhausted = rows.length < pageSize;
    const last = rows[rows.length - 1];
    if (last !== undefined) c.afterSeq = intColumn(last, 'seq', this.file);
  }
  private eventsAt(positions: readonly number[]): StoredEvent[] {
    const rows = this.query('read events', () => this.eventsAtPositions.all(JSON.stringify(positions)));
    if (rows.length !== positions.length) throw logChanged();
    return rows.map((r) => this.eventOf(r));
  }

  /** Events with pos > after, in position order (Store.eventsAfter). */
  *after(after: number, pageSize: number): Generator<StoredEvent> {
    let from = after;
    const compactedAtStart = this.compactedUpTo();
    for (;;) {
      if (this.compactedUpTo() !== compactedAtStart && this.compactedUpTo() > from) throw logChanged();
      const rows = this.query('read events', () => this.eventsAfter.all(from, pageSize));
      for (const row of rows) {
        const e = this.eventOf(row);
        from = e.pos;
        yield e;
      }
      if (rows.length < pageSize) return;
    }
  }

  private eventOf(row: Row): StoredEvent {
    return {
      pos: intColumn(row, 'pos', this.file),
      origin: textColumn(row, 'origin', this.file),
      seq: intColumn(row, 'seq', this.file),
      bytes: blobColumn(row, 'bytes', this.file),
    };
  }
}

function logChanged(): StoreError {
  return new StoreError(
    StoreErrorCode.LogChanged,
    'Events were compacted away while being streamed. Start the read again (a peer may need a snapshot first).',
  );
}
