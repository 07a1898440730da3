/**
 * Opening the store's database file: the data directory (0700) and file (0600) are created
 * and checked first, for errors a person can act on; then SQLite is set up (busy timeout, an
 * exclusive lock, WAL mode, the sync mode) and the schema migrated (schema.ts).
 */
import { accessSync, closeSync, constants as fsConstants, mkdirSync, openSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';

import { migrate } from './schema.js';
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

export const DB_FILE_NAME = 'smac.db';
/**
 * How long open waits for another connection's lock. Short: a second agent on the same data
 * directory should fail fast with STORE_LOCKED, and a killed predecessor's lock is released by
 * the kernel at once.
 */
const BUSY_TIMEOUT_MS = 250;

/**
 * Opens (creating if needed) the database in `dir`, an absolute path, and hands it to `build`
 * with the file's path; closes it again if setting it up or `build` fails. Throws StoreError.
 */
export function openDatabase<T>(
  dir: string,
  sync: SyncMode,
  build: (db: DatabaseSync, file: string) => T,
): T {
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
    return build(db, file);
  } catch (e) {
    db.close();
    throw toStoreError(e, file, 'open the database');
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

function errnoOf(e: unknown): string {
  if (e instanceof Error && 'code' in e && typeof e.code === 'string') return e.code;
  return e instanceof Error ? e.message : String(e);
}
