/**
 * Errors of the REST API: the codes the API adds to the core's (src/core/errors.ts), the one
 * table that maps every code to an HTTP status, and the conversion of anything thrown by a
 * route, a hook or Fastify itself into the JSON body `{ code, message }` (DESIGN.md
 * "Interfaces": errors are JSON with a stable code and a sentence a person can act on).
 *
 * Bad input always maps to a 4xx. Only a failure of the agent itself is a 5xx.
 */
import { isServiceError } from '../services/service-errors.js';
import { ErrorCode, isSmacError } from '../core/errors.js';

export const ApiErrorCode = {
  /** The request does not match the route's schema, or its body is not JSON. */
  BadRequest: 'BAD_REQUEST',
  /** No such object, or no such route. */
  NotFound: 'NOT_FOUND',
  /** The listener requires a bearer token and the request carries none or a wrong one. */
  Unauthorized: 'UNAUTHORIZED',
  /** The request's Host header names no name this listener serves (DNS rebinding guard). */
  HostNotAllowed: 'HOST_NOT_ALLOWED',
  /** The request body is not `application/json`. */
  UnsupportedMediaType: 'UNSUPPORTED_MEDIA_TYPE',
  /** Text in the URL or the body is not valid Unicode: bad UTF-8, or a lone surrogate (unicode.ts). */
  InvalidUtf8: 'INVALID_UTF8',
  /** A watch cursor is not one this API handed out. */
  InvalidCursor: 'INVALID_CURSOR',
  /** The listener already serves its maximum number of watches. */
  TooManyWatches: 'TOO_MANY_WATCHES',
  /** An operator's force-leave while the most force-leaves allowed are pending (src/agent/force-leaves.ts). */
  TooManyForceLeaves: 'TOO_MANY_FORCE_LEAVES',
  /** `forget` of a member this agent does not hold reaped (src/agent/forgotten-members.ts). */
  MemberNotReaped: 'MEMBER_NOT_REAPED',
  /** `forget` while the most forgotten members allowed are kept (src/agent/forgotten-members.ts). */
  TooManyForgotten: 'TOO_MANY_FORGOTTEN',
  /** A dashboard login was asked of an agent without a TCP listener, the only one a browser reaches. */
  UiNeedsTcp: 'UI_NEEDS_TCP',
  /** The agent is stopping; retry against it once it is back. */
  Unavailable: 'UNAVAILABLE',
  /** A bug or a failure of the agent; the message is generic and the details are logged. */
  Internal: 'INTERNAL',
} as const;

export type ApiErrorCode = (typeof ApiErrorCode)[keyof typeof ApiErrorCode];

/** HTTP status for every stable code. Codes not listed here are bad input (400). */
export const HTTP_STATUS: Readonly<Record<string, number>> = Object.freeze({
  [ErrorCode.UnknownType]: 400,
  [ErrorCode.InvalidOp]: 400,
  [ErrorCode.InvalidArgument]: 400,
  [ErrorCode.InvalidKey]: 400,
  [ErrorCode.InvalidValue]: 400,
  [ErrorCode.TooLarge]: 413,
  [ErrorCode.ReservedKey]: 403,
  [ErrorCode.Overflow]: 400,
  [ErrorCode.TypeConflict]: 409,
  [ErrorCode.DecodeError]: 400,
  [ErrorCode.InvalidEvent]: 400,
  [ErrorCode.UnsupportedVersion]: 400,
  [ApiErrorCode.BadRequest]: 400,
  [ApiErrorCode.NotFound]: 404,
  [ApiErrorCode.Unauthorized]: 401,
  [ApiErrorCode.HostNotAllowed]: 403,
  [ApiErrorCode.UnsupportedMediaType]: 415,
  [ApiErrorCode.InvalidCursor]: 400,
  [ApiErrorCode.InvalidUtf8]: 400,
  [ApiErrorCode.TooManyWatches]: 429,
  [ApiErrorCode.TooManyForceLeaves]: 429,
  [ApiErrorCode.UiNeedsTcp]: 409,
  [ApiErrorCode.MemberNotReaped]: 409,
  [ApiErrorCode.TooManyForgotten]: 429,
  [ApiErrorCode.Unavailable]: 503,
  [ApiErrorCode.Internal]: 500,
});

export class ApiError extends Error {
  override readonly name = 'ApiError';
  readonly statusCode: number;

  constructor(
    readonly code: ApiErrorCode,
    message: string,
  ) {
    super(message);
    this.statusCode = HTTP_STATUS[code] ?? 400;
  }
}

/** The JSON body of every error response. */
export interface ErrorReply {
  readonly code: string;
  readonly message: string;
  readonly details?: Readonly<Record<string, unknown>>;
}

export interface MappedError {
  readonly status: number;
  readonly body: ErrorReply;
  /** True when the error is ours to fix (log it), not the caller's. */
  readonly internal: boolean;
}

/** Fastify's own error codes for bodies it could not parse, mapped to ours. */
const FASTIFY_CODES: Readonly<Record<string, ApiErrorCode | typeof ErrorCode.TooLarge>> = {
  FST_ERR_CTP_BODY_TOO_LARGE: ErrorCode.TooLarge,
  FST_ERR_CTP_INVALID_MEDIA_TYPE: ApiErrorCode.UnsupportedMediaType,
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: ApiErrorCode.BadRequest,
  FST_ERR_CTP_EMPTY_JSON_BODY: ApiErrorCode.BadRequest,
  FST_ERR_CTP_INVALID_JSON_BODY: ApiErrorCode.BadRequest,
  FST_ERR_BAD_URL: ApiErrorCode.BadRequest,
};

/** Turns anything a request may throw into a status and a `{ code, message }` body. */
export function mapError(e: unknown): MappedError {
  if (e instanceof ApiError)
    return { status: e.statusCode, body: { code: e.code, message: e.message }, internal: false };
  if (isServiceError(e)) {
    const body: ErrorReply = e.details
      ? { code: e.code, message: e.message, details: e.details }
      : { code: e.code, message: e.message };
    return { status: e.statusCode, body, internal: false };
  }
  if (isSmacError(e)) {
    const body: ErrorReply = e.details
      ? { code: e.code, message: e.message, details: e.details }
      : { code: e.code, message: e.message };
    return { status: HTTP_STATUS[e.code] ?? 400, body, internal: false };
  }
  const fe = e as { code?: unknown; statusCode?: unknown; message?: unknown; validation?: unknown };
  const message = typeof fe.message === 'string' ? fe.message : 'The request failed.';
  if (fe.code === 'AGENT_STOPPED') {
    return { status: 503, body: { code: ApiErrorCode.Unavailable, message }, internal: false };
  }
  if (fe.validation !== undefined) {
    return {
      status: 400,
      body: { code: ApiErrorCode.BadRequest, message: `Invalid request: ${message}.` },
      internal: false,
    };
  }
  const known = typeof fe.code === 'string' ? FASTIFY_CODES[fe.code] : undefined;
  if (known) return { status: HTTP_STATUS[known] ?? 400, body: { code: known, message }, internal: false };
  if (typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
    return { status: fe.statusCode, body: { code: ApiErrorCode.BadRequest, message }, internal: false };
  }
  return {
    status: 500,
    body: { code: ApiErrorCode.Internal, message: 'The agent failed to handle the request; see its log.' },
    internal: true,
  };
}
