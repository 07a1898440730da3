/**
 * The SDK's transport pieces shared by requests and watches: its error type, how an HTTP
 * answer or a socket failure becomes one, and small request helpers.
 */
import type { ClientRequest, IncomingMessage } from 'node:http';

/** Codes the client itself reports (no HTTP answer): status 0. */
export const ClientErrorCode = {
  /** The agent could not be reached (no socket, connection refused or reset). */
  ConnectionFailed: 'CONNECTION_FAILED',
  /** No answer within the timeout. */
  Timeout: 'TIMEOUT',
  /** The answer was not what the API sends (not JSON, a broken event stream). */
  BadResponse: 'BAD_RESPONSE',
} as const;

export class SmacApiError extends Error {
  override readonly name = 'SmacApiError';

  constructor(
    /** The API's stable code (e.g. INVALID_OP, NOT_FOUND) or a ClientErrorCode. */
    readonly code: string,
    /** HTTP status, or 0 when there was no HTTP answer. */
    readonly status: number,
    message: string,
    readonly details?: Readonly<Record<string, unknown>>,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

export function query(params: Record<string, string | number | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined) q.set(k, String(v));
  const s = q.toString();
  return s === '' ? '' : '?' + s;
}

export async function readAll(res: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of res as AsyncIterable<Buffer>) chunks.push(c);
  return Buffer.concat(chunks).toString('utf8');
}

export function errorFromResponse(status: number, text: string): SmacApiError {
  try {
    const body = JSON.parse(text) as { code?: unknown; message?: unknown; details?: unknown };
    if (typeof body.code === 'string' && typeof body.message === 'string') {
      const details =
        typeof body.details === 'object' && body.details !== null
          ? (body.details as Record<string, unknown>)
          : undefined;
      return new SmacApiError(body.code, status, body.message, details);
    }
  } catch {
    // not JSON: fall through
  }
  return new SmacApiError(
    `HTTP_${status}`,
    status,
    `The agent answered HTTP ${status}: ${text.slice(0, 200)}`,
  );
}

export function transportError(e: unknown): SmacApiError {
  if (e instanceof SmacApiError) return e;
  const err = e as { code?: unknown; message?: unknown };
  const message = typeof err.message === 'string' ? err.message : String(e);
  return new SmacApiError(
    ClientErrorCode.ConnectionFailed,
    0,
    `Cannot reach the agent: ${message}`,
    undefined,
    {
      cause: e,
    },
  );
}

/**
 * Methods whose request may be sent again (RFC 9110 9.2.2): reads, and PUT and DELETE, whose
 * effect is the same however often they apply (a DELETE sent again after the first one did
 * apply answers NOT_FOUND). Never POST: ops and batches are not idempotent, and the API has no
 * idempotency key.
 */
const IDEMPOTENT_METHODS = new Set(['GET', 'HEAD', 'PUT', 'DELETE']);

/** Sends of one request at most: the first, and two more on stale reused connections. */
export const MAX_ATTEMPTS = 3;

/** Marks a failed send that `send` may repeat (never leaves the client). */
export class ResendableError extends Error {}

/**
 * Whether a request that failed with `e` may be sent again: it is idempotent, it went out on a
 * reused keep-alive connection, and the connection was reset or closed before any answer (a
 * `response` would have come first). That is how a connection the server closed as idle, just
 * as the request went out, fails; another connection is tried (the failed one left the pool).
 */
export function mayResend(method: string, req: ClientRequest, e: unknown): boolean {
  const code = (e as { code?: unknown }).code;
  return IDEMPOTENT_METHODS.has(method) && req.reusedSocket && (code === 'ECONNRESET' || code === 'EPIPE');
}
