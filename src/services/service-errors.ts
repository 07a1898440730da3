/**
 * Errors of the service layer (discovery, checks, load) that are not bad input. Bad input
 * throws the core's SmacError (INVALID_ARGUMENT, TOO_LARGE); these cover the states a valid
 * request can meet. Each carries a stable `code` (never renamed once shipped) and the HTTP
 * status it maps to, so any Fastify error handler, including the default one, answers right.
 */

export const ServiceErrorCode = {
  /** The service, endpoint or metric does not exist (here, in this replica's view). */
  NotFound: 'NOT_FOUND',
  /** The endpoint is registered on another node; its checks run, and take heartbeats, there. */
  NotLocal: 'NOT_LOCAL',
  /** A heartbeat for an endpoint whose check is not a TTL check. */
  NoTtlCheck: 'NO_TTL_CHECK',
} as const;

export type ServiceErrorCode = (typeof ServiceErrorCode)[keyof typeof ServiceErrorCode];

const STATUS: Readonly<Record<ServiceErrorCode, number>> = {
  NOT_FOUND: 404,
  NOT_LOCAL: 409,
  NO_TTL_CHECK: 409,
};

export class ServiceError extends Error {
  override readonly name = 'ServiceError';
  readonly code: ServiceErrorCode;
  readonly statusCode: number;
  readonly details: Readonly<Record<string, unknown>> | undefined;

  constructor(code: ServiceErrorCode, message: string, details?: Record<string, unknown>) {
    super(message);
    this.code = code;
    this.statusCode = STATUS[code];
    this.details = details;
  }
}

export function isServiceError(e: unknown): e is ServiceError {
  return e instanceof ServiceError;
}
