/**
 * The append path of the event log (DESIGN.md "Durability"): a group commit of delivered
 * events in one transaction, at increasing positions, with their heads (heads.ts) and, for our
 * own client writes, their client batches (own-ops.ts). The store's cache (log-cache.ts) is
 * updated only after the COMMIT.
 *
 * Invariant (store.ts): per origin, events are appended in ascending seq order; an append that
 * would break it is refused with STORE_SEQ_ORDER and nothing of the batch is written.
 */
import type { DatabaseSync, StatementSync } from 'node:sqlite';

import type { HeadsTable, StoredHead } from './heads.js';
import type { LogCache, OriginState } from './log-cache.js';
import type { OwnOpsTable } from './own-ops.js';
import { inTransaction, type Query } from './sqlite.js';
import { StoreError, StoreErrorCode, toStoreError } from './store-errors.js';

export interface EventToAppend {
  readonly origin: string;
  readonly seq: number;
  readonly bytes: Uint8Array;
  /** For this agent's own client writes: the client batch as JSON (own-ops.ts). */
  readonly clientOps?: string;
}

/** The log statements compaction (log-compaction.ts) shares with appending. */
export interface LogStatements {
  readonly insertEvent: StatementSync;
  readonly addOrigin: StatementSync;
  readonly setCompacted: StatementSync;
}

export class LogAppend {
  /** The statements compaction shares with appending (log-compaction.ts). */
  readonly statements: LogStatements;
  private readonly eventExists: StatementSync;

  constructor(
    private readonly db: DatabaseSync,
    private readonly file: string,
    private readonly log: LogCache,
    private readonly heads: HeadsTable,
    private readonly ownOps: OwnOpsTable,
    private readonly query: Query,
  ) {
    this.statements = {
      insertEvent: db.prepare('INSERT INTO events (origin, seq, bytes) VALUES (?, ?, ?)'),
      addOrigin: db.prepare('INSERT INTO origins (origin) VALUES (?) ON CONFLICT (origin) DO NOTHING'),
      setCompacted: db.prepare('UPDATE origins SET compacted_seq = ? WHERE origin = ?'),
    };
    this.eventExists = db.prepare('SELECT 1 AS x FROM events WHERE origin = ? AND seq = ?');
  }

  /** Store.appendEvents, its argument checked and not empty. */
  append(events: readonly EventToAppend[]): number {
    const touched = new Map<string, OriginState>();
    const newHeads: StoredHead[] = [];
    let inserted = 0;
    let addedBytes = 0;
    let lastPos = this.log.lastPos;
    try {
      inTransaction(this.db, () => {
        for (const { origin, seq, bytes, clientOps } of events) {
          let st = touched.get(origin) ?? this.log.origins.get(origin);
          if (st === undefined) {
            this.statements.addOrigin.run(origin);
            st = { maxSeq: 0, compactedSeq: 0 };
          }
          if (seq <= st.maxSeq) {
            if (seq <= st.compactedSeq || this.eventExists.get(origin, seq) !== undefined) continue;
            throw new StoreError(
              StoreErrorCode.SeqOrder,
              `Event (${origin}, ${seq}) was appended after seq ${st.maxSeq} of the same origin. The log is a ` +
                `delivery order, so per origin seq must ascend; this is a bug in the caller. Nothing of the ` +
                `batch was written.`,
              { details: { origin, seq, maxSeq: st.maxSeq } },
            );
          }
          const r = this.statements.insertEvent.run(origin, seq, bytes);
          if (clientOps !== undefined) this.ownOps.record(origin, seq, clientOps);
          lastPos = Number(r.lastInsertRowid);
          touched.set(origin, { maxSeq: seq, compactedSeq: st.compactedSeq });
          newHeads.push({ origin, seq, bytes });
          inserted++;
          addedBytes += bytes.byteLength;
        }
        this.heads.record(newHeads);
      });
    } catch (e) {
      throw toStoreError(e, this.file, 'append events');
    }
    for (const [origin, st] of touched) this.log.origins.set(origin, st);
    this.log.eventCount += inserted;
    this.log.eventBytes += addedBytes;
    this.log.lastPos = lastPos;
    return inserted;
  }

  /** Store.hasEvent, its arguments checked. */
  has(origin: string, seq: number): boolean {
    const st = this.log.origins.get(origin);
    if (st === undefined || seq > st.maxSeq) return false;
    if (seq <= st.compactedSeq) return true;
    return this.query('read events', () => this.eventExists.get(origin, seq)) !== undefined;
  }
}
