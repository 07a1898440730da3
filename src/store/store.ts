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
 */
import { accessSync, closeSync, constants as fsConstants, mkdirSync, openSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { DatabaseSync, type StatementSync } from 'node:sqlite';

import { isWellFormedText } from '../core/codec/index.js';
import {
  isCount,
  type ReadonlyVectorClock,
  type VectorClock,
  vcFromRecord,
  vcGet,
  vcToRecord,
} from '../core/clock/vector-clock.js';
import { migrate } from './schema.js';
import { blobColumn, inTransaction, intColumn, type Row, textColumn } from './sqlite.js';
import { type OwnOps, OwnOpsTable } from './own-ops.js';
import { HeadsTable, type StoredHead } from './heads.js';
import { StoreError, StoreErrorCode, toStoreError } from './store-errors.js';

/**
 * PRAGMA synchronous, in WAL mode (figures and trade-offs: docs/store.md).
 * - 'normal' (default): COMMIT writes the WAL without fsync. A committed write survives kill -9
 *   of the process (the kernel holds the pages); a power loss or kernel crash may lose the last
 *   commits, never corrupting the file. Fast: about 20k single-event commits/s here.
 * - 'full': COMMIT also fsyncs the WAL, so a committed write survives power loss too. Each
 *   commit waits for the disk (about 2.5k single-event commits/s here), so batch the writes.
 */
export type SyncMode = 'normal' | 'full';

export interface StoreOptions {
  /** Directory holding `smac.db` (and its -wal file). Created with mode 0700 if missing. */
  readonly dataDir: string;
  /** Durability of a COMMIT; see SyncMode. Default 'normal'. */
  readonly sync?: SyncMode;
}

export interface StoredEvent {
  readonly pos: number;
  readonly origin: string;
  readonly seq: number;
  readonly bytes: Uint8Array;
}

export interface StoredSnapshot {
  readonly pos: number;
  readonly vc: VectorClock;
  readonly bytes: Uint8Array;
}

export interface EventToAppend {
  readonly origin: string;
  readonly seq: number;
  readonly bytes: Uint8Array;
  /** For this agent's own client writes: the client batch as JSON (own-ops.ts). */
  readonly clientOps?: string;
}

export interface LogStats {
  /** Events the log holds now (compacted ones excluded). */
  readonly events: number;
  /** Sum of their encoded sizes, in bytes (payload only, not SQLite's overhead). */
  readonly bytes: number;
  /** Highest position ever assigned (0 for a new store); compaction does not lower it. */
  readonly lastPos: number;
}

export const DB_FILE_NAME = 'smac.db';
/** Rows per query when streaming: bounds memory while keeping per-query overhead small. */
export const DEFAULT_PAGE_SIZE = 256;
export const MAX_PAGE_SIZE = 10_000;
/** Snapshots kept: the latest, and one to fall back on should the latest fail to decode. */
export const SNAPSHOTS_KEPT = 2;
/**
 * How long open waits for another connection's lock. Short: a second agent on the same data
 * directory should fail fast with STORE_LOCKED, and a killed predecessor's lock is released by
 * the kernel at once.
 */
const BUSY_TIMEOUT_MS = 250;

interface OriginState {
  /** Highest seq ever stored, compacted or not. */
  readonly maxSeq: number;
  /** Highest seq the log no longer holds (0: nothing compacted). */
  readonly compactedSeq: number;
}

interface OriginCursor {
  readonly origin: string;
  afterSeq: number;
  positions: number[];
  next: number;
  exhausted: boolean;
}

function invalid(message: string, details?: Record<string, unknown>): never {
  throw new StoreError(
    StoreErrorCode.InvalidArgument,
    message,
    details === undefined ? undefined : { details },
  );
}

function checkOrigin(origin: unknown, what: string): asserts origin is string {
  if (typeof origin !== 'string' || origin.length === 0) invalid(`${what} must be a non-empty string.`);
  if (!isWellFormedText(origin)) invalid(`${what} must be well-formed text (it has a lone surrogate).`);
}

function checkSeq(seq: unknown, what: string): asserts seq is number {
  if (!isCount(seq) || seq === 0) invalid(`${what} must be a positive safe integer (got ${String(seq)}).`);
}

function checkCount(n: unknown, what: string): asserts n is number {
  if (!isCount(n)) invalid(`${what} must be a non-negative safe integer (got ${String(n)}).`);
}

function checkBytes(bytes: unknown, what: string): asserts bytes is Uint8Array {
  if (!(bytes instanceof Uint8Array)) invalid(`${what} must be a Uint8Array.`);
}

function checkPageSize(pageSize: unknown): asserts pageSize is number {
  if (!isCount(pageSize) || pageSize === 0 || pageSize > MAX_PAGE_SIZE) {
    invalid(`pageSize must be an integer from 1 to ${MAX_PAGE_SIZE} (got ${String(pageSize)}).`);
  }
}

function checkClock(vc: unknown, what: string): asserts vc is ReadonlyVectorClock {
  if (!(vc instanceof Map)) invalid(`${what} must be a Map of replica id to count.`);
  for (const [id, n] of vc as Map<unknown, unknown>) {
    if (typeof id !== 'string' || id.length === 0)
      invalid(`${what} has a replica id that is not a non-empty string.`);
    if (!isCount(n))
      invalid(`${what} entry for ${id} must be a non-negative safe integer (got ${String(n)}).`);
  }
}

/** Creates the data directory (0700) if needed and checks this process may write in it. */
function prepareDataDir(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch (e) {
    throw new StoreError(
      StoreErrorCode.OpenFailed,
      `Cannot create the data directory ${dir} (${errnoOf(e)}). Create it (mkdir -m 700 ${dir}) and make it ` +
        `writable by the user running smac, or pass another data directory.`,
      { details: { dir }, cause: e },
    );
  }
  try {
    accessSync(dir, fsConstants.W_OK | fsConstants.X_OK);
  } catch (e) {
    throw new StoreError(
      StoreErrorCode.OpenFailed,
      `The data directory ${dir} is not writable by the user running smac (${errnoOf(e)}). ` +
        `Fix its owner or mode (chown, chmod 700), or pass another data directory.`,
      { details: { dir }, cause: e },
    );
  }
}

/** Creates the database file with mode 0600 before SQLite would create it 0644: it holds the identity key. */
function prepareDbFile(file: string): void {
  try {
    closeSync(openSync(file, 'a', 0o600));
  } catch (e) {
    throw new StoreError(
      StoreErrorCode.OpenFailed,
      `Cannot create or open the store ${file} (${errnoOf(e)}). Make it readable and writable by the user ` +
        `running smac, or pass another data directory.`,
      { details: { file }, cause: e },
    );
  }
}

function logChanged(): StoreError {
  return new StoreError(
    StoreErrorCode.LogChanged,
    'Events were compacted away while being streamed. Start the read again (a peer may need a snapshot first).',
  );
}

function errnoOf(e: unknown): string {
  if (e instanceof Error && 'code' in e && typeof e.code === 'string') return e.code;
  return e instanceof Error ? e.message : String(e);
}

export class Store {
  private readonly db: DatabaseSync;
  /** Absolute path of the database file, for messages. */
  readonly file: string;
  readonly sync: SyncMode;
  private open = true;

  // Caches of committed state; see the module header for why they are safe.
  private readonly origins = new Map<string, OriginState>();
  private eventCount = 0;
  private eventBytes = 0;
  private lastPos = 0;
  /** Highest position compacted since open; lets an open eventsAfter stream notice a compaction. */
  private compactedUpTo = 0;

  /** The latest signed envelope per origin, kept through compaction (heads.ts). */
  private readonly heads: HeadsTable;
  /** The client batches of our own writes not yet stable (own-ops.ts). */
  private readonly ownOps: OwnOpsTable;

  private readonly stmt: {
    readonly insertEvent: StatementSync;
    readonly eventExists: StatementSync;
    readonly addOrigin: StatementSync;
    readonly setCompacted: StatementSync;
    readonly originRange: StatementSync;
    readonly eventsAtPositions: StatementSync;
    readonly eventsAfter: StatementSync;
    readonly compactSummary: StatementSync;
    readonly deleteUpTo: StatementSync;
    readonly putSnapshot: StatementSync;
    readonly pruneSnapshots: StatementSync;
    readonly snapshots: StatementSync;
    readonly latestSnapshot: StatementSync;
    readonly latestSnapshotHead: StatementSync;
    readonly getMeta: StatementSync;
    readonly setMeta: StatementSync;
  };

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
    const dir = resolve(opts.dataDir);
    prepareDataDir(dir);
    const file = join(dir, DB_FILE_NAME);
    prepareDbFile(file);
    let db: DatabaseSync;
    try {
      db = new DatabaseSync(file);
    } catch (e) {
      throw toStoreError(e, file, 'open the database');
    }
    try {
      db.exec(`PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS}`);
      // Before WAL is entered: no shared-memory index is created, and the lock taken on first
      // access is held until close, so a second agent on this directory is refused.
      db.exec('PRAGMA locking_mode = EXCLUSIVE');
      const mode = db.prepare('PRAGMA journal_mode = WAL').get()?.journal_mode;
      if (mode !== 'wal') {
        throw new StoreError(
          StoreErrorCode.OpenFailed,
          `The store ${file} could not enter WAL mode (journal_mode is ${String(mode)}). Put the data ` +
            `directory on a local filesystem.`,
          { details: { file } },
        );
      }
      db.exec(`PRAGMA synchronous = ${sync === 'full' ? 'FULL' : 'NORMAL'}`);
      migrate(db, file);
      return new Store(db, file, sync);
    } catch (e) {
      db.close();
      throw toStoreError(e, file, 'open the database');
    }
  }

  private constructor(db: DatabaseSync, file: string, sync: SyncMode) {
    this.db = db;
    this.file = file;
    this.sync = sync;
    this.stmt = {
      insertEvent: db.prepare('INSERT INTO events (origin, seq, bytes) VALUES (?, ?, ?)'),
      eventExists: db.prepare('SELECT 1 AS x FROM events WHERE origin = ? AND seq = ?'),
      addOrigin: db.prepare('INSERT INTO origins (origin) VALUES (?) ON CONFLICT (origin) DO NOTHING'),
      setCompacted: db.prepare('UPDATE origins SET compacted_seq = ? WHERE origin = ?'),
      // Index-only: (origin, seq) entries carry pos, so no event bytes are read here.
      originRange: db.prepare(
        'SELECT pos, seq FROM events WHERE origin = ? AND seq > ? ORDER BY seq LIMIT ?',
      ),
      eventsAtPositions: db.prepare(
        'SELECT pos, origin, seq, bytes FROM events WHERE pos IN (SELECT value FROM json_each(?)) ORDER BY pos',
      ),
      eventsAfter: db.prepare(
        'SELECT pos, origin, seq, bytes FROM events WHERE pos > ? ORDER BY pos LIMIT ?',
      ),
      // NOT INDEXED: walk the rowid range being dropped, not the whole (origin, seq) index.
      compactSummary: db.prepare(
        `SELECT origin, max(seq) AS seq, count(*) AS n, sum(length(bytes)) AS b
         FROM events NOT INDEXED WHERE pos <= ? GROUP BY origin`,
      ),
      deleteUpTo: db.prepare('DELETE FROM events WHERE pos <= ?'),
      putSnapshot: db.prepare(
        `INSERT INTO snapshots (pos, vc, bytes) VALUES (?, ?, ?)
         ON CONFLICT (pos) DO UPDATE SET vc = excluded.vc, bytes = excluded.bytes`,
      ),
      pruneSnapshots: db.prepare(
        `DELETE FROM snapshots WHERE pos NOT IN (SELECT pos FROM snapshots ORDER BY pos DESC LIMIT ${SNAPSHOTS_KEPT})`,
      ),
      snapshots: db.prepare('SELECT pos, vc, bytes FROM snapshots ORDER BY pos DESC'),
      latestSnapshot: db.prepare('SELECT pos, vc, bytes FROM snapshots ORDER BY pos DESC LIMIT 1'),
      latestSnapshotHead: db.prepare('SELECT pos, vc FROM snapshots ORDER BY pos DESC LIMIT 1'),
      getMeta: db.prepare('SELECT value FROM meta WHERE key = ?'),
      setMeta: db.prepare(
        'INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value',
      ),
    };
    this.heads = new HeadsTable(db, file);
    this.ownOps = new OwnOpsTable(db, file);
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
    // Checked through `unknown`: Array.isArray would narrow a readonly array to any[].
    const list: unknown = events;
    if (!Array.isArray(list)) invalid('appendEvents takes an array of { origin, seq, bytes }.');
    events.forEach((e: unknown, i) => {
      if (typeof e !== 'object' || e === null)
        invalid(`events[${i}] must be an object { origin, seq, bytes }.`);
      const { origin, seq, bytes } = e as Partial<EventToAppend>;
      checkOrigin(origin, `events[${i}].origin`);
      checkSeq(seq, `events[${i}].seq`);
      checkBytes(bytes, `events[${i}].bytes`);
    });
    if (events.length === 0) return 0;

    const touched = new Map<string, OriginState>();
    const newHeads: StoredHead[] = [];
    let inserted = 0;
    let addedBytes = 0;
    let lastPos = this.lastPos;
    try {
      inTransaction(this.db, () => {
        for (const { origin, seq, bytes, clientOps } of events) {
          let st = touched.get(origin) ?? this.origins.get(origin);
          if (st === undefined) {
            this.stmt.addOrigin.run(origin);
            st = { maxSeq: 0, compactedSeq: 0 };
          }
          if (seq <= st.maxSeq) {
            if (seq <= st.compactedSeq || this.stmt.eventExists.get(origin, seq) !== undefined) continue;
            throw new StoreError(
              StoreErrorCode.SeqOrder,
              `Event (${origin}, ${seq}) was appended after seq ${st.maxSeq} of the same origin. The log is a ` +
                `delivery order, so per origin seq must ascend; this is a bug in the caller. Nothing of the ` +
                `batch was written.`,
              { details: { origin, seq, maxSeq: st.maxSeq } },
            );
          }
          const r = this.stmt.insertEvent.run(origin, seq, bytes);
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
    for (const [origin, st] of touched) this.origins.set(origin, st);
    this.eventCount += inserted;
    this.eventBytes += addedBytes;
    this.lastPos = lastPos;
    return inserted;
  }

  /** True when (origin, seq) is in the log or was compacted away (its effect is in a snapshot). */
  hasEvent(origin: string, seq: number): boolean {
    this.ensureOpen();
    checkOrigin(origin, 'origin');
    checkSeq(seq, 'seq');
    const st = this.origins.get(origin);
    if (st === undefined || seq > st.maxSeq) return false;
    if (seq <= st.compactedSeq) return true;
    return this.query('read events', () => this.stmt.eventExists.get(origin, seq)) !== undefined;
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

  /** Events with pos > after, in position order (replay after the latest snapshot). */
  eventsAfter(after: number, pageSize: number = DEFAULT_PAGE_SIZE): Generator<StoredEvent> {
    this.ensureOpen();
    checkCount(after, 'after');
    checkPageSize(pageSize);
    return this.streamAfter(after, pageSize);
  }

  /** Highest seq ever stored for `origin`, compacted or not (0 if none): the next local seq is this + 1. */
  maxSeq(origin: string): number {
    this.ensureOpen();
    checkOrigin(origin, 'origin');
    return this.origins.get(origin)?.maxSeq ?? 0;
  }

  logStats(): LogStats {
    this.ensureOpen();
    return { events: this.eventCount, bytes: this.eventBytes, lastPos: this.lastPos };
  }

  /**
   * Saves a snapshot of the replica taken when the log's last position was `pos`; `vc` is the
   * replica's clock then. A snapshot at the same position replaces the old one; an older
   * position than the latest is refused. Keeps the latest SNAPSHOTS_KEPT.
   */
  saveSnapshot(s: {
    readonly pos: number;
    readonly vc: ReadonlyVectorClock;
    readonly bytes: Uint8Array;
  }): void {
    this.ensureOpen();
    if (typeof (s as unknown) !== 'object' || (s as unknown) === null)
      invalid('saveSnapshot takes { pos, vc, bytes }.');
    checkCount(s.pos, 'snapshot pos');
    checkClock(s.vc, 'snapshot vc');
    checkBytes(s.bytes, 'snapshot bytes');
    if (s.pos > this.lastPos) {
      invalid(`snapshot pos ${s.pos} is beyond the log's last position ${this.lastPos}.`, { pos: s.pos });
    }
    const latest = this.latestSnapshotHead();
    if (latest !== undefined && s.pos < latest.pos) {
      invalid(
        `snapshot pos ${s.pos} is older than the latest snapshot (pos ${latest.pos}); snapshots only move forward.`,
        {
          pos: s.pos,
        },
      );
    }
    const vcJson = JSON.stringify(vcToRecord(s.vc));
    try {
      inTransaction(this.db, () => {
        this.stmt.putSnapshot.run(s.pos, vcJson, s.bytes);
        this.stmt.pruneSnapshots.run();
      });
    } catch (e) {
      throw toStoreError(e, this.file, 'save a snapshot');
    }
  }

  latestSnapshot(): StoredSnapshot | undefined {
    this.ensureOpen();
    const row = this.query('read snapshots', () => this.stmt.latestSnapshot.get());
    return row === undefined ? undefined : this.snapshotOf(row);
  }

  /** The kept snapshots, newest first (at most SNAPSHOTS_KEPT): the fallback if the latest will not decode. */
  snapshots(): StoredSnapshot[] {
    this.ensureOpen();
    return this.query('read snapshots', () => this.stmt.snapshots.all()).map((row) => this.snapshotOf(row));
  }

  /**
   * Drops the events at positions ≤ `upTo`, which the latest snapshot must cover: its position
   * must be ≥ upTo and its clock must include every dropped event (STORE_NO_SNAPSHOT otherwise).
   * compactedClock() grows by what was dropped. Returns the number of events dropped.
   */
  compact(upTo: number): number {
    this.ensureOpen();
    checkCount(upTo, 'upTo');
    const snap = this.latestSnapshotHead();
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
        for (const row of this.stmt.compactSummary.all(upTo)) {
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
          const st = this.origins.get(origin);
          if (st !== undefined && seq > st.compactedSeq) {
            touched.set(origin, { maxSeq: st.maxSeq, compactedSeq: seq });
            this.stmt.setCompacted.run(seq, origin);
          }
        }
        this.stmt.deleteUpTo.run(upTo);
      });
    } catch (e) {
      throw toStoreError(e, this.file, 'compact the log');
    }
    for (const [origin, st] of touched) this.origins.set(origin, st);
    this.compactedUpTo = Math.max(this.compactedUpTo, upTo);
    this.eventCount -= dropped;
    this.eventBytes -= droppedBytes;
    return dropped;
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
  installSnapshot(s: {
    readonly vc: ReadonlyVectorClock;
    readonly bytes: Uint8Array;
    readonly heads?: readonly StoredHead[];
    readonly keep?: readonly StoredEvent[];
  }): void {
    this.ensureOpen();
    checkClock(s.vc, 'snapshot vc');
    checkBytes(s.bytes, 'snapshot bytes');
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
    for (const [origin, st] of this.origins) {
      if (st.maxSeq > Math.max(vcGet(s.vc, origin), kept.get(origin) ?? 0)) {
        throw new StoreError(
          StoreErrorCode.NoSnapshot,
          `Cannot install the snapshot: it covers ${origin} only up to seq ${vcGet(s.vc, origin)}, but this ` +
            `agent holds seq ${st.maxSeq}. Push those events to the peer first; nothing was changed.`,
          { details: { origin, seq: st.maxSeq } },
        );
      }
    }
    const pos = this.lastPos;
    let lastPos = pos;
    const vcJson = JSON.stringify(vcToRecord(s.vc));
    try {
      inTransaction(this.db, () => {
        for (const [origin, seq] of s.vc) {
          this.stmt.addOrigin.run(origin);
          this.stmt.setCompacted.run(seq, origin);
        }
        this.stmt.deleteUpTo.run(pos);
        this.stmt.putSnapshot.run(pos, vcJson, s.bytes);
        this.stmt.pruneSnapshots.run();
        if (s.heads) this.heads.record(s.heads);
        for (const e of keep)
          lastPos = Number(this.stmt.insertEvent.run(e.origin, e.seq, e.bytes).lastInsertRowid);
      });
    } catch (e) {
      throw toStoreError(e, this.file, 'install a snapshot');
    }
    this.lastPos = lastPos;
    for (const [origin, seq] of s.vc) {
      const st = this.origins.get(origin);
      this.origins.set(origin, { maxSeq: Math.max(seq, st?.maxSeq ?? 0), compactedSeq: seq });
    }
    this.compactedUpTo = Math.max(this.compactedUpTo, pos);
    this.eventCount = keep.length;
    this.eventBytes = keep.reduce((n, e) => n + e.bytes.byteLength, 0);
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

  /** Drops the client batches of `origin` up to `seq` (stable). */
  pruneOwnOps(origin: string, seq: number): void {
    this.ensureOpen();
    this.query('prune own ops', () => {
      this.ownOps.prune(origin, seq);
    });
  }

  /**
   * Empties the log, its snapshots, heads and own ops, in one transaction, keeping the metadata
   * (identity, epoch, stability view): a member whose epoch was reaped below what it holds
   * starts over from a peer's state, as a new member does (src/agent/rebase.ts). Positions go
   * on from where they were (they are never reused).
   */
  resetForRebase(): void {
    this.ensureOpen();
    try {
      inTransaction(this.db, () => {
        this.db.exec('DELETE FROM events; DELETE FROM origins; DELETE FROM snapshots; DELETE FROM heads;');
        this.ownOps.clear();
      });
    } catch (e) {
      throw toStoreError(e, this.file, 'reset the store for a rebase');
    }
    this.origins.clear();
    this.eventCount = 0;
    this.eventBytes = 0;
    this.compactedUpTo = this.lastPos;
  }

  /** Per origin, the highest seq the log no longer holds (only origins with something compacted). */
  compactedClock(): VectorClock {
    this.ensureOpen();
    const vc: VectorClock = new Map();
    for (const [origin, st] of this.origins) if (st.compactedSeq > 0) vc.set(origin, st.compactedSeq);
    return vc;
  }

  getMeta(key: string): string | undefined {
    this.ensureOpen();
    checkOrigin(key, 'meta key');
    const row = this.query('read metadata', () => this.stmt.getMeta.get(key));
    return row === undefined ? undefined : textColumn(row, 'value', this.file);
  }

  /** Writes one key durably (its own transaction). */
  setMeta(key: string, value: string): void {
    this.ensureOpen();
    checkOrigin(key, 'meta key');
    if (typeof value !== 'string' || !isWellFormedText(value))
      invalid(`meta value for ${key} must be well-formed text.`);
    this.query('write metadata', () => this.stmt.setMeta.run(key, value));
  }

  /**
   * Writes one key and syncs it to disk before returning, whatever the store's sync mode: for
   * records that must survive a power loss even under `normal` (the epoch and run state).
   */
  setMetaSynced(key: string, value: string): void {
    this.ensureOpen();
    if (this.sync === 'full') {
      this.setMeta(key, value);
      return;
    }
    this.db.exec('PRAGMA synchronous = FULL');
    try {
      this.setMeta(key, value);
    } finally {
      this.db.exec('PRAGMA synchronous = NORMAL');
    }
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
    const rows = this.query('read events', () => this.stmt.originRange.all(c.origin, c.afterSeq, pageSize));
    c.positions = rows.map((r) => intColumn(r, 'pos', this.file));
    c.next = 0;
    c.exhausted = rows.length < pageSize;
    const last = rows[rows.length - 1];
    if (last !== undefined) c.afterSeq = intColumn(last, 'seq', this.file);
  }

  private eventsAt(positions: readonly number[]): StoredEvent[] {
    const rows = this.query('read events', () => this.stmt.eventsAtPositions.all(JSON.stringify(positions)));
    if (rows.length !== positions.length) throw logChanged();
    return rows.map((r) => this.eventOf(r));
  }

  private *streamAfter(after: number, pageSize: number): Generator<StoredEvent> {
    let from = after;
    const compactedAtStart = this.compactedUpTo;
    for (;;) {
      if (this.compactedUpTo !== compactedAtStart && this.compactedUpTo > from) throw logChanged();
      const rows = this.query('read events', () => this.stmt.eventsAfter.all(from, pageSize));
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

  private snapshotOf(row: Row): StoredSnapshot {
    return {
      pos: intColumn(row, 'pos', this.file),
      vc: this.clockOf(row),
      bytes: blobColumn(row, 'bytes', this.file),
    };
  }

  private latestSnapshotHead(): { pos: number; vc: VectorClock } | undefined {
    const row = this.query('read snapshots', () => this.stmt.latestSnapshotHead.get());
    return row === undefined ? undefined : { pos: intColumn(row, 'pos', this.file), vc: this.clockOf(row) };
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
