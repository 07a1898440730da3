/**
 * Thin helpers over node:sqlite (built into Node >= 22): a transaction wrapper, since the
 * module has none, and typed column reads, since rows come back as untyped records. A column
 * of the wrong type means the file was altered behind our back, so it is reported as corruption.
 */
import type { DatabaseSync, SQLOutputValue } from 'node:sqlite';

import { StoreError, StoreErrorCode } from './store-errors.js';

export type Row = Record<string, SQLOutputValue>;

/** Runs one statement, turning SQLite failures into StoreErrors that name the file (Store's `query`). */
export type Query = <T>(doing: string, fn: () => T) => T;

/**
 * Runs `fn` inside BEGIN IMMEDIATE ... COMMIT. Any throw (from `fn` or from COMMIT) rolls the
 * whole transaction back, so a batch is written entirely or not at all.
 */
export function inTransaction<T>(db: DatabaseSync, fn: () => T): T {
  db.exec('BEGIN IMMEDIATE');
  try {
    const result = fn();
    db.exec('COMMIT');
    return result;
  } catch (e) {
    try {
      db.exec('ROLLBACK');
    } catch {
      // SQLite already rolled back on its own (it does after some I/O errors); the
      // original error is the one worth reporting.
    }
    throw e;
  }
}

function corrupt(file: string, column: string, v: unknown): StoreError {
  return new StoreError(
    StoreErrorCode.Corrupt,
    `The store ${file} holds a ${typeof v} where column ${column} should be; the file was modified ` +
      `outside SMAC. Move it aside and restart: the agent will resynchronise from its peers.`,
    { details: { file, column } },
  );
}

export function intColumn(row: Row | undefined, column: string, file: string): number {
  const v = row?.[column];
  if (typeof v !== 'number' || !Number.isSafeInteger(v)) throw corrupt(file, column, v);
  return v;
}

export function textColumn(row: Row | undefined, column: string, file: string): string {
  const v = row?.[column];
  if (typeof v !== 'string') throw corrupt(file, column, v);
  return v;
}

export function blobColumn(row: Row | undefined, column: string, file: string): Uint8Array {
  const v = row?.[column];
  if (!(v instanceof Uint8Array)) throw corrupt(file, column, v);
  return v;
}
