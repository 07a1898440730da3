/**
 * The agent's identity: one Ed25519 key pair, kept in `<dataDir>/identity.key`. Its libp2p peer
 * id is the replica id that names the agent's events, and its private key signs them
 * (DESIGN.md "Authenticity"), so the key must survive restarts (an agent that came back with a
 * new id would be a new replica) and must not leak (anyone holding it can forge the agent's
 * events). The file holds the libp2p protobuf encoding of the private key, mode 0600, like an
 * ssh private key; a file others can read is refused rather than trusted.
 */
import { randomBytes } from 'node:crypto';
import { link, mkdir, open, readFile, stat, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys';
import type { PrivateKey } from '@libp2p/interface';
import { NetErrorCode, netFail } from './errors.js';

export const IDENTITY_FILE_NAME = 'identity.key';

/** The protobuf form of an Ed25519 private key is 68 bytes; anything much larger is not a key. */
const MAX_KEY_FILE_BYTES = 4096;

/**
 * Loads the agent's private key from `<dataDir>/identity.key`, creating the directory (mode
 * 0700) and a fresh Ed25519 key (mode 0600) on first start. Throws NetError
 * INSECURE_KEY_FILE when the file is group or world accessible, CORRUPT_KEY_FILE when it is
 * not a readable Ed25519 key.
 */
export async function loadOrCreateIdentity(dataDir: string): Promise<PrivateKey> {
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const path = join(dataDir, IDENTITY_FILE_NAME);
  const existing = await readKeyFile(path);
  if (existing !== undefined) return existing;
  const key = await generateKeyPair('Ed25519');
  if (await createExclusively(path, privateKeyToProtobuf(key))) return key;
  // Another process created the file between our read and our link: its key wins.
  const raced = await readKeyFile(path);
  if (raced === undefined) {
    netFail(
      NetErrorCode.CorruptKeyFile,
      `The identity key file ${path} vanished while it was being created.`,
    );
  }
  return raced;
}

/** The key in `path`, undefined when there is no file. */
async function readKeyFile(path: string): Promise<PrivateKey | undefined> {
  let info;
  try {
    info = await stat(path);
  } catch (e) {
    if (isErrno(e, 'ENOENT')) return undefined;
    throw e;
  }
  if (!info.isFile()) {
    netFail(NetErrorCode.CorruptKeyFile, `The identity key path ${path} exists but is not a regular file.`);
  }
  assertPrivateMode(path, info.mode, 'identity key');
  if (info.size > MAX_KEY_FILE_BYTES) {
    netFail(
      NetErrorCode.CorruptKeyFile,
      `The identity key file ${path} is ${info.size} bytes, too large to be a key. Restore it from a backup, or delete it to give this agent a new identity.`,
    );
  }
  const bytes = await readFile(path);
  let key: PrivateKey;
  try {
    key = privateKeyFromProtobuf(bytes);
  } catch (e) {
    return netFail(
      NetErrorCode.CorruptKeyFile,
      `The identity key file ${path} is not a libp2p private key. Restore it from a backup, or delete it to give this agent a new identity.`,
      { cause: e },
    );
  }
  if (key.type !== 'Ed25519') {
    netFail(
      NetErrorCode.CorruptKeyFile,
      `The identity key file ${path} holds a ${key.type} key; SMAC signs events with Ed25519 keys only.`,
    );
  }
  return key;
}

/** Refuses a key file that group or others may read or write (as ssh does for private keys). */
export function assertPrivateMode(path: string, mode: number, what: string): void {
  const problem = privateModeProblem(path, mode, what);
  if (problem !== undefined) {
    netFail(NetErrorCode.InsecureKeyFile, problem, { details: { path, mode: mode & 0o777 } });
  }
}

/** Why a secret file of this mode is refused (group or others may access it), or undefined. */
export function privateModeProblem(path: string, mode: number, what: string): string | undefined {
  if ((mode & 0o077) === 0) return undefined;
  return `The ${what} file ${path} has mode ${(mode & 0o777).toString(8).padStart(3, '0')}; it must not be accessible to group or others. Run: chmod 600 ${path}`;
}

/**
 * Writes `bytes` to `path` only if no file is there, and never leaves a partial file at
 * `path`: the bytes go to a private temporary file, are synced, and are then hard-linked into
 * place (link fails if the target exists). False when `path` already existed.
 */
export async function createExclusively(path: string, bytes: Uint8Array): Promise<boolean> {
  const tmp = `${path}.${process.pid.toString()}.${randomBytes(6).toString('hex')}.tmp`;
  const handle = await open(tmp, 'wx', 0o600);
  try {
    try {
      await handle.writeFile(bytes);
      await handle.sync();
    } finally {
      await handle.close();
    }
    try {
      await link(tmp, path);
    } catch (e) {
      if (isErrno(e, 'EEXIST')) return false;
      throw e;
    }
    // The new directory entry must survive a crash too, or a restart would mint another id.
    const dir = await open(dirname(path), 'r');
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
    return true;
  } finally {
    await unlink(tmp).catch(() => undefined);
  }
}

export function isErrno(e: unknown, code: string): boolean {
  return e instanceof Error && (e as NodeJS.ErrnoException).code === code;
}
