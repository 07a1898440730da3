/**
 * Typed errors of the durable store (DESIGN.md "Durability"). Like the core's SmacError, every
 * failure carries a stable `code` (never renamed once shipped) and a sentence an operator can act
 * on; the agent maps codes to exit statuses and log lines. SQLite's own errors are kept as
 * `cause`, so nothing is lost for debugging.
 */
import { CodedError } from '../core/coded-error.js';

export const StoreErrorCode = {
  /** The data directory or database file could not be created, opened or written. */
  OpenFailed: 'STORE_OPEN_FAILED',
  /** Another process holds the database (two agents on one data directory). */
  Locked: 'STORE_LOCKED',
  /** The file is not a SMAC store, or its contents fail a consistency check. */
  Corrupt: 'STORE_CORRUPT',
  /** The schema was written by a newer SMAC than this build. */
  UnsupportedVersion: 'STORE_UNSUPPORTED_VERSION',
  /** compact() was asked to drop events that no saved snapshot covers. */
  NoSnapshot: 'STORE_NO_SNAPSHOT',
  /** An argument has the wrong shape, type or range. */
  InvalidArgument: 'STORE_INVALID_ARGUMENT',
  /** An origin's events were appended out of seq order (the log must be a delivery order). */
  SeqOrder: 'STORE_SEQ_ORDER',
  /** A read or write failed after the store was opened (disk full, I/O error ...); nothing was written. */
  IoError: 'STORE_IO_ERROR',
  /** Events vanished (compaction) while a stream over them was still being read. */
  LogChanged: 'STORE_LOG_CHANGED',
  /** The store was used after close(). */
  Closed: 'STORE_CLOSED',
} as const;

export type StoreErrorCode = (typeof StoreErrorCode)[keyof typeof StoreErrorCode];

export class StoreError extends CodedError<StoreErrorCode> {
  override readonly name = 'StoreError';
}

export function isStoreError(e: unknown): e is StoreError {
  return e instanceof StoreError;
}

/** SQLite primary result codes we react to (https://sqlite.org/rescode.html). */
const SQLITE_BUSY = 5;
const SQLITE_LOCKED = 6;
const SQLITE_READONLY = 8;
const SQLITE_IOERR = 10;
const SQLITE_CORRUPT = 11;
const SQLITE_FULL = 13;
const SQLITE_CANTOPEN = 14;
const SQLITE_NOTADB = 26;

/** The primary SQLite result code of an error thrown by node:sqlite, if it is one. */
export function sqliteResultCode(e: unknown): number | undefined {
  if (!(e instanceof Error) || !('errcode' in e) || typeof e.errcode !== 'number') return undefined;
  return e.errcode & 0xff;
}

/**
 * Turns an error thrown by node:sqlite into a StoreError with advice. `file` is the database
 * path, `doing` says what was being attempted ("open", "append events" ...). StoreErrors pass
 * through unchanged.
 */
export function toStoreError(e: unknown, file: string, doing: string): StoreError {
  if (e instanceof StoreError) return e;
  const why = e instanceof Error ? e.message : String(e);
  const details = { file, doing };
  switch (sqliteResultCode(e)) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return new StoreError(
        StoreErrorCode.Locked,
        `The store ${file} is locked by another process (${why}). Only one agent may use a data directory: ` +
          `stop the other agent, or give this one a different data directory.`,
        { details, cause: e },
      );
    case SQLITE_NOTADB:
    case SQLITE_CORRUPT:
      return new StoreError(
        StoreErrorCode.Corrupt,
        `The store ${file} is damaged or is not a SMAC database (${why}) while trying to ${doing}. ` +
          `Move it aside and restart: the agent will resynchronise from its peers.`,
        { details, cause: e },
      );
    case SQLITE_READONLY:
    case SQLITE_CANTOPEN:
      return new StoreError(
        StoreErrorCode.OpenFailed,
        `Cannot write the store ${file} (${why}) while trying to ${doing}. Make the file and its directory ` +
          `writable by the user running smac, or choose another data directory.`,
        { details, cause: e },
      );
    case SQLITE_FULL:
      return new StoreError(
        StoreErrorCode.IoError,
        `The disk holding ${file} is full (${why}); nothing was written. Free space, or compact the log.`,
        { details, cause: e },
      );
    case SQLITE_IOERR:
      return new StoreError(
        StoreErrorCode.IoError,
        `An I/O error hit the store ${file} (${why}) while trying to ${doing}; nothing was written. ` +
          `Check the disk and the kernel log.`,
        { details, cause: e },
      );
    default:
      return new StoreError(StoreErrorCode.IoError, `The store ${file} failed to ${doing}: ${why}.`, {
        details,
        cause: e,
      });
  }
}
