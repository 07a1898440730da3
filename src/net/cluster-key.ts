/**
 * The cluster key: the libp2p private-network (pnet) pre-shared key that keeps every node
 * without it out of the cluster (DESIGN.md "Security"). Its file format is the one go-ipfs
 * and js-libp2p share (the "swarm.key" of libp2p's pnet spec, PSK v1):
 *
 *   /key/swarm/psk/1.0.0/\n/base16/\n<64 hex digits>
 *
 * 95 bytes in all. A key with a different header, codec or length would make @libp2p/pnet
 * fail at the first connection with an unhelpful error, so it is refused here, up front, with
 * a sentence that says what is wrong. One trailing newline (an editor's habit) is tolerated.
 */
import { readFile, stat } from 'node:fs/promises';
import { generateKey } from '@libp2p/pnet';
import { NetErrorCode, netFail } from './errors.js';
import { assertPrivateMode, createExclusively, isErrno } from './identity.js';

export const CLUSTER_KEY_BYTES = 95;

const HEADER = '/key/swarm/psk/1.0.0/\n/base16/\n';
const HEX_KEY = /^[0-9a-fA-F]{64}$/;

/** A fresh random cluster key, 95 bytes in the pnet PSK v1 format. */
export function generateClusterKey(): Uint8Array {
  const key = new Uint8Array(CLUSTER_KEY_BYTES);
  generateKey(key);
  return key;
}

/**
 * Validates `bytes` as a cluster key and returns its canonical 95 bytes. Throws NetError
 * BAD_CLUSTER_KEY with the reason otherwise.
 */
export function parseClusterKey(bytes: Uint8Array, source = 'The cluster key'): Uint8Array {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return netFail(
      NetErrorCode.BadClusterKey,
      `${source} is not text; expected a pnet key made by \`smac keygen\`.`,
    );
  }
  if (text.endsWith('\r\n')) text = text.slice(0, -2);
  else if (text.endsWith('\n')) text = text.slice(0, -1);
  if (!text.startsWith(HEADER)) {
    netFail(
      NetErrorCode.BadClusterKey,
      `${source} must start with the two lines "/key/swarm/psk/1.0.0/" and "/base16/"; regenerate it with \`smac keygen\`.`,
    );
  }
  const hex = text.slice(HEADER.length);
  if (!HEX_KEY.test(hex)) {
    netFail(
      NetErrorCode.BadClusterKey,
      `${source} must end with exactly 64 hexadecimal digits (a 256-bit key); found ${hex.length} characters.`,
    );
  }
  return new TextEncoder().encode(HEADER + hex.toLowerCase());
}

export interface LoadClusterKeyOptions {
  /**
   * Refuse a file that group or others can access (default true). Container secrets are often
   * mounted 0444; pass false there, where the mount itself is the access control.
   */
  requirePrivateMode?: boolean;
}

/** Reads and validates the cluster key file at `path`. */
export async function loadClusterKey(path: string, options: LoadClusterKeyOptions = {}): Promise<Uint8Array> {
  let info;
  try {
    info = await stat(path);
  } catch (e) {
    if (isErrno(e, 'ENOENT')) {
      netFail(
        NetErrorCode.BadClusterKey,
        `The cluster key file ${path} does not exist. Create one with \`smac keygen\` and copy it to every node.`,
      );
    }
    throw e;
  }
  if (!info.isFile())
    netFail(NetErrorCode.BadClusterKey, `The cluster key path ${path} is not a regular file.`);
  if (options.requirePrivateMode ?? true) assertPrivateMode(path, info.mode, 'cluster key');
  if (info.size > 1024) {
    netFail(NetErrorCode.BadClusterKey, `The cluster key file ${path} is ${info.size} bytes; a key is 95.`);
  }
  return parseClusterKey(await readFile(path), `The cluster key file ${path}`);
}

/**
 * Writes `key` (a fresh one by default) to `path` with mode 0600 and returns it. Refuses to
 * replace an existing file (NetError KEY_FILE_EXISTS): overwriting a cluster key would cut
 * this node off from every node that still has the old one.
 */
export async function writeClusterKey(
  path: string,
  key: Uint8Array = generateClusterKey(),
): Promise<Uint8Array> {
  const canonical = parseClusterKey(key);
  if (!(await createExclusively(path, canonical))) {
    netFail(
      NetErrorCode.KeyFileExists,
      `The cluster key file ${path} already exists; delete it first if you really mean to replace the key.`,
    );
  }
  return canonical;
}
