/**
 * The durable store of an agent (DESIGN.md "Durability", "Snapshots and compaction",
 * "Anti-entropy"): the event log as encoded signed event bytes in delivery order, snapshots of
 * replica state, and small metadata, in one node:sqlite database in WAL mode.
 *
 * The API is synchronous (DatabaseSync): the agent calls it from its single owner loop, and a
 * 100-event group commit costs about half a millisecond. Because this store is the only writer
 * of its file (an exclusive lock keeps a second process out), per-origin bookkeeping and log
 * statistics are cached in memory and updated only after a successful COMMIT.
 *
 * Invariant: per origin, events are appended in ascending seq order (causal delivery delivers
 * them so). Hence the (origin, seq) index is also in log-position order per origin, which lets
 * `eventsSince` answer a slightly-behind peer with per-origin range scans merged by position,
 * never a scan of the whole log. An append that would break the invariant is refused.
 *
 * This file is the API and its argument checks (store-checks.ts); opening is in
 * open-database.ts, the cache in log-cache.ts, the append path in log-append.ts, streaming
 * reads in event-streams.ts, compaction and snapshot install in log-compaction.ts, and each
 * other table (heads, own ops, snapshots, meta) in a file of its own.
 */
import { resolve } from 'node:path';
import type { DatabaseSync } from 'node:sqlite';

import type { ReadonlyVectorClock, VectorClock } from '../core/clock/vector-clock.js';
import { EventStreams, type StoredEvent } from './event-streams.js';
import { HeadsTable, type StoredHead } from './heads.js';
import { type EventToAppend, LogAppend } from './log-append.js';
import { LogCache } from './log-cache.js';
import { LogCompaction, type SnapshotToInstall } from './log-compaction.js';
import { MetaTable } from './meta.js';
import { openDatabase, type SyncMode } from './open-database.js';
import { type OwnOps, OwnOpsTable } from './own-ops.js';
import { SnapshotsTable, type StoredSnapshot, type StoredSnapshotToSave } from './snapshots.js';
import { inTransaction, type Query } from './sqlite.js';
import {
  checkBytes,
  checkClock,
  checkCount,
  checkEventsToAppend,
  checkOrigin,
  checkPageSize,
  checkSeq,
  invalid,
} from './store-checks.js';
import { StoreError, StoreErrorCode, toStoreError } from './store-errors.js';

export { DB_FILE_NAME, type SyncMode } from './open-database.js';
export { MAX_PAGE_SIZE } from './store-checks.js';
export { SNAPSHOTS_KEPT, type StoredSnapshot } from './snapshots.js';
export type { StoredEvent } from './event-streams.js';
export type { EventToAppend } from './log-append.js';

export interface StoreOptions {
  /** Directory holding `smac.db` (and its -wal file). Created with mode 0700 if missing. */
  readonly dataDir: string;
  /** Durability of a COMMIT; see SyncMode. Default 'normal'. */
  readonly sync?: SyncMode;
}

export interface LogStats {
  /** Events the log holds now (compacted ones excluded). */
  readonly events: number;
  /** Sum of their encoded sizes, in bytes (payload only, not SQLite's overhead). */
  readonly bytes: number;
  /** Highest position ever assigned (0 for a new store); compaction does not lower it. */
  readonly lastPos: number;
}

/** Rows per query when streaming: bounds memory while keeping per-query overhead small. */
export const DEFAULT_PAGE_SIZE = 256;

export class Store {
  private readonly db: DatabaseSync;
  /** Absolute path of the database file, for messages. */
  readonly file: string;
  readonly sync: SyncMode;
  private open = true;

  /** Committed per-origin bookkeeping and log statistics (log-cache.ts). */
  private readonly log: LogCache;

  /** The latest signed envelope per origin, kept through compaction (heads.ts). */
  private readonly heads: HeadsTable;
  /** The client batches of our own writes not yet stable (own-ops.ts). */
  private readonly ownOps: OwnOpsTable;
  private readonly snapshotsTable: SnapshotsTable;
  private readonly streams: EventStreams;
  private readonly compaction: LogCompaction;
  private readonly meta: MetaTable;
  private readonly appender: LogAppend;

  /**
   * Opens (creating if needed) the store in `opts.dataDir`, upgrading its schema. Throws
   * StoreError: STORE_OPEN_FAILED (directory or file not usable), STORE_LOCKED (another process
   * has it open), STORE_CORRUPT (not a SMAC database), STORE_UNSUPPORTED_VERSION (newer schema).
   */
  static open(opts: StoreOptions): Store {
    if (typeof (opts as unknown) !== 'object' || (opts as unknown) === null) {
      invalid('Store options must be an object with a dataDir.');
    }
    if (typeof opts.dataDir !== 'string' || opts.dataDir.length === 0) {
      invalid('dataDir must be a non-empty path to the directory that holds the store.');
    }
    const sync: unknown = opts.sync ?? 'normal';
    if (sync !== 'normal' && sync !== 'full')
      invalid(`sync must be 'normal' or 'full' (got ${String(sync)}).`);
    return openDatabase(resolve(opts.dataDir), sync, (db, file) => new Store(db, file, sync));
  }

  private constructor(db: DatabaseSync, file: string, sync: SyncMode) {
    this.db = db;
    this.file = file;
    this.sync = sync;
    const query: Query = (doing, fn) => this.query(doing, fn);
    this.heads = new HeadsTable(db, file);
    this.ownOps = new OwnOpsTable(db, file);
    this.snapshotsTable = new SnapshotsTable(db, file);
    this.meta = new MetaTable(db, file, sync, query);
    this.log = new LogCache(db, file);
    this.appender = new LogAppend(db, file, this.log, this.heads, this.ownOps, query);
    this.streams = new EventStreams(db, file, this.log.origins, () => this.log.compactedUpTo, query);
    this.compaction = new LogCompaction(
      db,
      file,
      this.log,
      this.appender.statements,
      this.snapshotsTable,
      this.heads,
      query,
    );
  }

  /** Closes the database; idempotent. A clean close checkpoints and removes the -wal file. */
  close(): void {
    if (!this.open) return;
    this.open = false;
    this.db.close();
  }

  /**
   * Group commit: appends `events` in ONE transaction, in order, at increasing positions.
   * Events already stored, or compacted away, are skipped (same origin and seq: the bytes are
   * assumed equal, as they are signed). Returns how many were inserted. Per origin, a new event
   * must have a higher seq than any stored before it (STORE_SEQ_ORDER otherwise). On any error
   * nothing of the batch is written.
   */
  appendEvents(events: readonly EventToAppend[]): number {
    this.ensureOpen();
    checkEventsToAppend(events);
    if (events.length === 0) return 0;
    return this.appender.append(events);
  }

  /** True when (origin, seq) is in the log or was compacted away (its effect is in a snapshot). */
  hasEvent(origin: string, seq: number): boolean {
    this.ensureOpen();
    checkOrigin(origin, 'origin');
    checkSeq(seq, 'seq');
    return this.appender.has(origin, seq);
  }

  /**
   * Events not covered by `vc` (seq > vc[origin]) that the log holds, in position order (a
   * causal order), read lazily in pages. Per origin the missing events are one range of the
   * (origin, seq) index; the ranges are merged by position, so a peer slightly behind costs
   * work proportional to what it misses. Events compacted away are not returned: a peer whose
   * clock does not cover compactedClock() needs a snapshot first. Events appended while the
   * stream is open may or may not be included; compaction while it is open ends it with
   * STORE_LOG_CHANGED.
   */
  eventsSince(vc: ReadonlyVectorClock, pageSize: number = DEFAULT_PAGE_SIZE): Generator<StoredEvent> {
    this.ensureOpen();
    checkClock(vc, 'vc');
    checkPageSize(pageSize);
    return this.streams.since(vc, pageSize);
  }

  /** Events with pos > after, in position order (replay after the latest snapshot). */
  eventsAfter(after: number, pageSize: number = DEFAULT_PAGE_SIZE): Generator<StoredEvent> {
    this.ensureOpen();
    checkCount(after, 'after');
    checkPageSize(pageSize);
    return this.streams.after(after, pageSize);
  }

  /** Highest seq ever stored for `origin`, compacted or not (0 if none): the next local seq is this + 1. */
  maxSeq(origin: string): number {
    this.ensureOpen();
    checkOrigin(origin, 'origin');
    return this.log.origins.get(origin)?.maxSeq ?? 0;
  }

  logStats(): LogStats {
    this.ensureOpen();
    return { events: this.log.eventCount, bytes: this.log.eventBytes, lastPos: this.log.lastPos };
  }

  /**
   * Saves a snapshot of the replica taken when the log's last position was `pos`; `vc` is the
   * replica's clock then. A snapshot at the same position replaces the old one; an older
   * position than the latest is refused. Keeps the latest SNAPSHOTS_KEPT.
   */
  saveSnapshot(s: StoredSnapshotToSave): void {
    this.ensureOpen();
    if (typeof (s as unknown) !== 'object' || (s as unknown) === null)
      invalid('saveSnapshot takes { pos, vc, bytes }.');
    checkCount(s.pos, 'snapshot pos');
    checkClock(s.vc, 'snapshot vc');
    checkBytes(s.bytes, 'snapshot bytes');
    this.snapshotsTable.save(s, this.log.lastPos, (doing, fn) => this.query(doing, fn));
  }

  latestSnapshot(): StoredSnapshot | undefined {
    this.ensureOpen();
    return this.query('read snapshots', () => this.snapshotsTable.latest());
  }

  /** The kept snapshots, newest first (at most SNAPSHOTS_KEPT): the fallback if the latest will not decode. */
  snapshots(): StoredSnapshot[] {
    this.ensureOpen();
    return this.query('read snapshots', () => this.snapshotsTable.all());
  }

  /**
   * Drops the events at positions ≤ `upTo`, which the latest snapshot must cover: its position
   * must be ≥ upTo and its clock must include every dropped event (STORE_NO_SNAPSHOT otherwise).
   * compactedClock() grows by what was dropped. Returns the number of events dropped.
   */
  compact(upTo: number): number {
    this.ensureOpen();
    checkCount(upTo, 'upTo');
    return this.compaction.compact(upTo);
  }

  /**
   * Installs a snapshot received from a peer (a new agent, or one far behind a compacted log):
   * the snapshot replaces the whole log, and the log then starts after its clock — which
   * compactedClock() reports, so this agent in turn sends a snapshot to peers behind it. Every
   * event the log holds must be covered by `vc` (a returning agent pushes its own events to the
   * peer first); otherwise STORE_NO_SNAPSHOT and nothing changes. `heads` (the snapshot's
   * verified signed heads) replace older heads of their origins, in the same transaction.
   *
   * `keep`: logged events the snapshot does not cover that stay in the log after it (a
   * returning writer's own newest events, re-applied on top of the snapshot): appended again
   * after the snapshot's position, in their order, so recovery replays them after it.
   */
  installSnapshot(s: SnapshotToInstall): void {
    this.ensureOpen();
    checkClock(s.vc, 'snapshot vc');
    checkBytes(s.bytes, 'snapshot bytes');
    this.compaction.install(s);
  }

  /**
   * The signed envelope of the highest seq stored for `origin` (kept after compaction), or
   * undefined: what a served snapshot carries as that origin's head.
   */
  head(origin: string): StoredHead | undefined {
    this.ensureOpen();
    return this.query('read heads', () => this.heads.get(origin));
  }

  /** The client batches of our own writes under `origin` beyond `seq` (own-ops.ts). */
  ownOpsSince(origin: string, seq: number): OwnOps[] {
    this.ensureOpen();
    return this.query('read own ops', () => this.ownOps.since(origin, seq));
  }

  /** How many client batches of our own writes are kept (own-ops.ts). */
  ownOpsCount(): number {
    this.ensureOpen();
    return this.query('count own ops', () => this.ownOps.count());
  }

  /** Drops the client batches of `origin` up to `seq` (stable). */
  pruneOwnOps(origin: string, seq: number): void {
    this.ensureOpen();
    this.query('prune own ops', () => {
      this.ownOps.prune(origin, seq);
    });
  }

  /** Drops the client batches of `origin` beyond `seq` (a rebase moved them: own-ops.ts). */
  dropOwnOpsBeyond(origin: string, seq: number): void {
    this.ensureOpen();
    this.query('drop own ops', () => {
      this.ownOps.drop(origin, seq);
    });
  }

  /**
   * Empties the log, its snapshots and heads, in one transaction, keeping the metadata
   * (identity, epoch, stability view) and the client batches of our own writes: a member whose
   * epoch was reaped below what it holds starts over from a peer's state, as a new member does
   * (src/agent/rebase.ts), and may have to re-run more of them should the same epoch be retired
   * again at a lower cut (own-ops.ts). Positions go on from where they were (never reused).
   */
  resetForRebase(): void {
    this.ensureOpen();
    try {
      inTransaction(this.db, () => {
        this.db.exec('DELETE FROM events; DELETE FROM origins; DELETE FROM snapshots; DELETE FROM heads;');
      });
    } catch (e) {
      throw toStoreError(e, this.file, 'reset the store for a rebase');
    }
    this.log.origins.clear();
    this.log.eventCount = 0;
    this.log.eventBytes = 0;
    this.log.compactedUpTo = this.log.lastPos;
  }

  /** Per origin, the highest seq the log no longer holds (only origins with something compacted). */
  compactedClock(): VectorClock {
    this.ensureOpen();
    return this.log.compactedClock();
  }

  getMeta(key: string): string | undefined {
    this.ensureOpen();
    return this.meta.get(key);
  }

  /** Writes one key durably (its own transaction). */
  setMeta(key: string, value: string): void {
    this.ensureOpen();
    this.meta.set(key, value);
  }

  /**
   * Writes one key and syncs it to disk before returning, whatever the store's sync mode: for
   * records that must survive a power loss even under `normal` (the epoch and run state).
   */
  setMetaSynced(key: string, value: string): void {
    this.ensureOpen();
    this.meta.setSynced(key, value);
  }

  /** Runs one statement, turning SQLite failures into StoreErrors that name the file. */
  private query<T>(doing: string, fn: () => T): T {
    this.ensureOpen();
    try {
      return fn();
    } catch (e) {
      throw toStoreError(e, this.file, doing);
    }
  }

  private ensureOpen(): void {
    if (!this.open) {
      throw new StoreError(
        StoreErrorCode.Closed,
        `The store ${this.file} is closed; open it again with Store.open.`,
      );
    }
  }
}
