/**
 * Typed errors of the pure core. Every failure a caller can cause carries a stable `code`
 * (never renamed once shipped) and a sentence a person can act on. Adapters (REST, CLI, sync)
 * map codes to their own surfaces; nothing here knows about HTTP.
 */

export const ErrorCode = {
  /** The CRDT type name is not one the registry knows. */
  UnknownType: 'UNKNOWN_TYPE',
  /** An operation is malformed or not valid for the object's type. */
  InvalidOp: 'INVALID_OP',
  /** An argument has the wrong shape or type (not an op: a key, a clock, a config value). */
  InvalidArgument: 'INVALID_ARGUMENT',
  /** A key is empty, too long, not UTF-8 text, or badly namespaced. */
  InvalidKey: 'INVALID_KEY',
  /** A JSON value, batch or message is larger than its configured bound. */
  TooLarge: 'TOO_LARGE',
  /** A value is not plain JSON (functions, cycles, NaN, non-plain objects ...). */
  InvalidValue: 'INVALID_VALUE',
  /** An encoded event or snapshot could not be decoded. */
  DecodeError: 'DECODE_ERROR',
  /** A remote event is structurally valid but inconsistent (bad seq, self-dependency ...). */
  InvalidEvent: 'INVALID_EVENT',
  /** An encoding version this build does not understand. */
  UnsupportedVersion: 'UNSUPPORTED_VERSION',
  /** A local write targets the reserved `_sys/` namespace without system privilege. */
  ReservedKey: 'RESERVED_KEY',
  /** A counter would leave the safe range. */
  Overflow: 'OVERFLOW',
  /** A local write would add a second type under a key another type holds here (type-conflict.ts). */
  TypeConflict: 'TYPE_CONFLICT',
} as const;

export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

export class SmacError extends Error {
  override readonly name = 'SmacError';
  readonly code: ErrorCode;
  readonly details: Readonly<Record<string, unknown>> | undefined;

  constructor(code: ErrorCode, message: string, details?: Record<string, unknown>) {
    super(message);
    this.code = code;
    this.details = details;
  }
}

export function isSmacError(e: unknown): e is SmacError {
  return e instanceof SmacError;
}

/** Throws a SmacError; typed `never` so it can close a switch or an expression. */
export function fail(code: ErrorCode, message: string, details?: Record<string, unknown>): never {
  throw new SmacError(code, message, details);
}
