/**
 * The shape of the typed errors of the layers around the core (net/errors.ts,
 * store/store-errors.ts): a stable `code` (never renamed once shipped), a sentence a person can
 * act on, optional `details` for logs and adapters, and the underlying failure as `cause`.
 * Each layer subclasses it with its own code set and `name`.
 */
export class CodedError<Code extends string> extends Error {
  readonly code: Code;
  readonly details: Readonly<Record<string, unknown>> | undefined;

  constructor(code: Code, message: string, options?: { details?: Record<string, unknown>; cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.details = options?.details;
  }
}
