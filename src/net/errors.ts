/**
 * Typed errors of the network layer. Like the core's SmacError, every failure carries a stable
 * `code` (never renamed once shipped) and a sentence a person can act on. Decoding failures of
 * the core's codecs keep their own SmacError codes (DECODE_ERROR, TOO_LARGE, ...); the codes
 * here cover what only the network layer can judge: signatures, origins, key files and peers
 * that break a wire protocol.
 */
import { CodedError } from '../core/coded-error.js';
import { isSmacError } from '../core/errors.js';

export const NetErrorCode = {
  /** An envelope's signature does not verify against its event's origin. */
  BadSignature: 'BAD_SIGNATURE',
  /** An event's origin is not an Ed25519 libp2p peer id, so no key can check its signature. */
  BadOrigin: 'BAD_ORIGIN',
  /** A key file is readable or writable by group or others. */
  InsecureKeyFile: 'INSECURE_KEY_FILE',
  /** A key file exists but does not hold a key this build can read. */
  CorruptKeyFile: 'CORRUPT_KEY_FILE',
  /** A cluster key (pnet pre-shared key) is malformed. */
  BadClusterKey: 'BAD_CLUSTER_KEY',
  /** Refused to overwrite an existing key file. */
  KeyFileExists: 'KEY_FILE_EXISTS',
  /** A peer sent a frame that breaks the sync or push protocol (shape, size or order). */
  BadFrame: 'BAD_FRAME',
  /** The remote side of a sync or push stream reported a failure of its own. */
  RemoteError: 'REMOTE_ERROR',
  /** The remote side is serving as many sync streams as it allows. */
  Busy: 'BUSY',
  /** A local argument is out of range (a limit, a size, an option). */
  InvalidArgument: 'INVALID_ARGUMENT',
} as const;

export type NetErrorCode = (typeof NetErrorCode)[keyof typeof NetErrorCode];

export class NetError extends CodedError<NetErrorCode> {
  override readonly name = 'NetError';
}

export function isNetError(e: unknown): e is NetError {
  return e instanceof NetError;
}

/** The stable code of a NetError or a core SmacError, else undefined. */
export function errorCode(e: unknown): string | undefined {
  if (isNetError(e) || isSmacError(e)) return e.code;
  return undefined;
}

/** Throws a NetError; typed `never` so it can close a switch or an expression. */
export function netFail(
  code: NetErrorCode,
  message: string,
  options?: { details?: Record<string, unknown>; cause?: unknown },
): never {
  throw new NetError(code, message, options);
}
