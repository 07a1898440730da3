/**
 * Errors of the Consul-compatible listener. Consul answers errors as plain text with the HTTP
 * status (`Invalid wait time`, `ACL not found`), and clients match on the status: this does the
 * same, rather than SMAC's `{ code, message }` JSON.
 */
export class ConsulHttpError extends Error {
  override readonly name = 'ConsulHttpError';

  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}
