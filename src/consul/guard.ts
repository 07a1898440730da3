/**
 * Who may use the Consul listener: on every address, loopback included (any local user can
 * reach a loopback port, DESIGN.md "Security"), only requests with the agent's API token (the
 * TCP API's, src/api/token.ts), sent as Consul clients send an ACL token: `X-Consul-Token`,
 * `Authorization: Bearer`, or `?token=`. And only requests whose Host names this agent, so that
 * a web page cannot read the catalog through a DNS name rebound to 127.0.0.1 (as the REST API,
 * src/api/app.ts).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { isIP } from 'node:net';
import type { FastifyRequest } from 'fastify';
import { first } from './blocking.js';
import { ConsulHttpError } from './errors.js';

function sha256(s: string): Buffer {
  return createHash('sha256').update(s, 'utf8').digest();
}

/** The token a Consul client sent, if any. */
export function presentedToken(request: FastifyRequest): string | undefined {
  const header = request.headers['x-consul-token'];
  if (typeof header === 'string' && header !== '') return header.trim();
  const auth = request.headers.authorization;
  const m = typeof auth === 'string' ? /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(auth) : null;
  if (m?.[1]) return m[1];
  const q = first((request.query as Record<string, unknown> | undefined)?.token);
  return q === undefined || q === '' ? undefined : q;
}

/** A check that throws 403 unless the request carries `token` (constant-time comparison). */
export function tokenGuard(token: string): (request: FastifyRequest) => void {
  const expected = sha256(token);
  return (request) => {
    const got = presentedToken(request);
    if (got === undefined || !timingSafeEqual(sha256(got), expected))
      throw new ConsulHttpError(
        403,
        "ACL not found: SMAC's Consul listener needs the agent's API token, <data dir>/api.token " +
          'or --api-token-file (send it as X-Consul-Token, CONSUL_HTTP_TOKEN, or the token option ' +
          'of the Consul client; docs/consul.md)',
      );
  };
}

/** The host of a Host header, without port or brackets, lower case, without a trailing dot. */
function hostOf(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  const m = /^\[([0-9a-fA-F:.]+)\](?::\d*)?$/.exec(header) ?? /^([^:[\]]+)(?::\d*)?$/.exec(header);
  return m?.[1]?.toLowerCase().replace(/\.$/, '');
}

/** A check that throws 403 unless the Host header names an IP, localhost, or an allowed name. */
export function hostGuard(allowed: readonly string[]): (request: FastifyRequest) => void {
  const names = new Set(['localhost', ...allowed.map((h) => h.toLowerCase().replace(/^\[(.*)\]$/, '$1'))]);
  return (request) => {
    const host = hostOf(request.headers.host);
    if (host !== undefined && (names.has(host) || isIP(host) !== 0)) return;
    throw new ConsulHttpError(
      403,
      `This agent does not serve the host ${JSON.stringify((request.headers.host ?? '').slice(0, 100))}; ` +
        'use its address, or add the name with --api-allowed-hosts',
    );
  };
}
