/**
 * The API listeners (DESIGN.md "Interfaces" and "Security"): a Unix socket, under the data
 * directory by default, whose file mode and group are the access control (socket.ts sets them
 * before the socket is reachable); and, when asked for, TCP on 127.0.0.1 by default. A
 * Fastify instance listens once, so each listener is its own instance of the one plugin
 * (app.ts); they share the agent and the watch bound.
 *
 * TCP always requires a bearer token (token.ts), loopback included: any local user can reach
 * a loopback port. And it answers only requests whose Host names this agent (app.ts), so that
 * a web page cannot reach it through a DNS name rebound to 127.0.0.1.
 */
import { rmSync } from 'node:fs';
import { isIPv6 } from 'node:net';
import { join } from 'node:path';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import Fastify, {
  type FastifyBaseLogger,
  type FastifyReply,
  type FastifyServerOptions,
  LogController,
} from 'fastify';
import { ConfigError } from '../agent/config.js';
import { type ApiApp, DEFAULT_API_OPTIONS, smacApi, type SmacApiOptions, validatorCompiler } from './app.js';
import { mapError } from './errors.js';
import { serializerCompiler } from './serializer.js';
import { closeIdleOnlyAfterReading, DEFAULT_KEEP_ALIVE_TIMEOUT_MS } from './keep-alive.js';
import { escapesAreWellFormed, invalidUtf8InUrl, urlBytesAreUtf8 } from './unicode.js';
import { listenOnSocket, type SocketAccess } from './socket.js';
import { resolveApiToken, type TokenSources } from './token.js';
import { WatchGate } from './watch-gate.js';

export { isLoopbackHost } from '../agent/config.js';
export { MIN_TOKEN_LENGTH } from './token.js';
export { DEFAULT_KEEP_ALIVE_TIMEOUT_MS } from './keep-alive.js';

/** TCP port of the API: next to libp2p's default 7946 (memberlist's port), clear of Consul's 8500. */
export const DEFAULT_API_PORT = 7947;
export const DEFAULT_API_HOST = '127.0.0.1';
/** Largest request body: a full batch of small ops fits; a single value is bounded by the core (64 KiB). */
export const DEFAULT_BODY_LIMIT_BYTES = 4 * 1024 * 1024;

export function defaultSocketPath(dataDir: string): string {
  return join(dataDir, 'smac.sock');
}

export interface ApiAppOptions extends SmacApiOptions {
  /** pino logger (the agent's); none by default. */
  readonly logger?: FastifyBaseLogger;
  readonly bodyLimitBytes?: number;
  /**
   * Slow-client guard: a client must send its whole request, headers and body, within this
   * time, or the connection is closed (408). Default 30 s (docs/api.md "Limits").
   */
  readonly requestTimeoutMs?: number;
  /**
   * How long an idle keep-alive connection stays open (announced in `Keep-Alive: timeout=`).
   * Default 72 s (docs/api.md "Connections").
   */
  readonly keepAliveTimeoutMs?: number;
}

/** The slow-client guard's default (docs/api.md "Limits"). */
export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;

/**
 * Node's HTTP server options for the slow-client guard. Node times out the headers on their
 * own clock (`headersTimeout`, 60 s by default, which Fastify's `requestTimeout` does not
 * change) and looks for late requests only every `connectionsCheckingInterval` (30 s by
 * default): together a trickling client was cut after 57 to 87 s, not the documented 30 s.
 * Both timeouts are the one figure here, checked at a tenth of it (at most every second).
 */
export function slowClientOptions(timeoutMs: number): {
  requestTimeout: number;
  headersTimeout: number;
  connectionsCheckingInterval: number;
} {
  return {
    requestTimeout: timeoutMs,
    headersTimeout: timeoutMs,
    connectionsCheckingInterval: Math.max(50, Math.min(1_000, Math.floor(timeoutMs / 10))),
  };
}

/**
 * Fastify's factories of schema compilers: TypeBox's validator (app.ts) and the serializer
 * without ajv (serializer.ts). Its types only know ajv's and fast-json-stringify's.
 */
const compilers = {
  buildValidator: () => validatorCompiler,
  buildSerializer: () => serializerCompiler,
} as unknown as NonNullable<NonNullable<FastifyServerOptions['schemaController']>['compilersFactory']>;

/** An app instance, ready but not listening (tests use `inject()` on it). */
export async function createApiApp(options: ApiAppOptions): Promise<ApiApp> {
  const { logger, bodyLimitBytes, requestTimeoutMs, keepAliveTimeoutMs, ...apiOptions } = options;
  const slow = slowClientOptions(requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS);
  const app = Fastify({
    ...(logger ? { loggerInstance: logger } : { logger: false }),
    // A line per request would cost more than the write it logs; errors are logged by app.ts.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: bodyLimitBytes ?? DEFAULT_BODY_LIMIT_BYTES,
    // A client must send its request within this time (slow-loris guard); responses and
    // watch streams are not limited by it.
    requestTimeout: slow.requestTimeout,
    http: slow,
    keepAliveTimeout: keepAliveTimeoutMs ?? DEFAULT_KEEP_ALIVE_TIMEOUT_MS,
    // Errors Fastify answers before any route or plugin runs: the same `{ code, message }`.
    frameworkErrors: (error, request, reply) => {
      const url = request.raw.url ?? '';
      const badUtf8 =
        (error as { code?: string }).code === 'FST_ERR_BAD_URL' &&
        escapesAreWellFormed(url) &&
        !urlBytesAreUtf8(url);
      const mapped = mapError(badUtf8 ? invalidUtf8InUrl() : error);
      void (reply as FastifyReply).status(mapped.status).send(mapped.body);
    },
    clientErrorHandler: clientError,
    // The plugin validates with TypeBox (app.ts); given here too, Fastify does not load its
    // default, ajv's compiler (with ajv's JSON Type Definition code), only to replace it. Nor
    // fast-json-stringify, which loads ajv too: replies are written by serializer.ts.
    schemaController: { compilersFactory: compilers },
  }).withTypeProvider<TypeBoxTypeProvider>();
  closeIdleOnlyAfterReading(app.server);
  await app.register(smacApi, apiOptions);
  await app.ready();
  return app;
}

/** Requests too broken for HTTP parsing (headers too large, garbage): answered on the raw socket. */
function clientError(err: Error & { code?: string }, socket: Duplex): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const [status, code, message] =
    err.code === 'HPE_HEADER_OVERFLOW'
      ? [431, 'TOO_LARGE', 'The request line and headers exceed 16 KiB; keys are at most 512 bytes.']
      : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? [408, 'BAD_REQUEST', 'The request was not received in time.']
        : [400, 'BAD_REQUEST', 'The request is not valid HTTP/1.1.'];
  const body = JSON.stringify({ code, message });
  if (socket.writable) {
    socket.write(
      `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\nContent-Type: application/json\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy(err);
}

export interface ApiServerOptions
  extends Omit<ApiAppOptions, 'token' | 'watchGate' | 'allowedHosts'>, TokenSources {
  /** Unix socket path (`defaultSocketPath(dataDir)`), or false for none. */
  readonly socketPath: string | false;
  /** Mode and group of the socket (default 0660, the agent's group). */
  readonly socketAccess?: SocketAccess;
  /**
   * TCP listener, or false for none. Port 0 picks a free port. It requires a bearer token:
   * `token`, `tokenFile`, or `generateAt` (where to make one, `<data dir>/api.token`).
   */
  readonly tcp: { readonly host?: string; readonly port?: number } | false;
  /** Host names a TCP request may name besides localhost, IP literals and the listen host. */
  readonly allowedHosts?: readonly string[];
}

export interface ApiServers {
  readonly socketPath: string | undefined;
  readonly tcp: { readonly host: string; readonly port: number; readonly url: string } | undefined;
  /** Whether the TCP listener requires a bearer token: always, when there is one. */
  readonly tokenRequired: boolean;
  /** The file holding the TCP listener's token (the operator's, or the generated one). */
  readonly tokenFile: string | undefined;
  close(): Promise<void>;
}

/** Starts the listeners; throws ConfigError with an actionable sentence when misconfigured. */
export async function startApiServers(options: ApiServerOptions): Promise<ApiServers> {
  const { socketPath, socketAccess, tcp, token, tokenFile, generateAt, allowedHosts, ...appOptions } =
    options;
  const resolved = tcp === false ? undefined : await resolveApiToken({ token, tokenFile, generateAt });
  if (tcp !== false && resolved === undefined) {
    throw new ConfigError(
      'The TCP API requires a bearer token: give an API token file, or a data directory to generate one in.',
    );
  }
  const watchGate = new WatchGate(appOptions.maxWatches ?? DEFAULT_API_OPTIONS.maxWatches);
  const apps: ApiApp[] = [];
  const closeAll = async (): Promise<void> => {
    await Promise.all(apps.map((a) => a.close().catch(() => undefined)));
  };
  try {
    let socket: string | undefined;
    if (socketPath !== false) {
      const app = await createApiApp({ ...appOptions, watchGate });
      apps.push(app);
      await listenOnSocket(app, socketPath, socketAccess);
      socket = socketPath;
    }
    let tcpAddress: ApiServers['tcp'];
    if (tcp !== false) {
      const host = tcp.host ?? DEFAULT_API_HOST;
      const app = await createApiApp({
        ...appOptions,
        watchGate,
        token: resolved?.token,
        allowedHosts: [...LOCAL_HOST_NAMES, host, ...(allowedHosts ?? [])],
      });
      apps.push(app);
      try {
        await app.listen({ host, port: tcp.port ?? DEFAULT_API_PORT });
      } catch (e) {
        throw listenError(e, `${host}:${tcp.port ?? DEFAULT_API_PORT}`);
      }
      const address = app.server.address();
      const port = typeof address === 'object' && address ? address.port : (tcp.port ?? DEFAULT_API_PORT);
      tcpAddress = { host, port, url: `http://${isIPv6(host) ? `[${host}]` : host}:${port}` };
      // The dashboard's login URLs point here, the only listener a browser can reach.
      if (appOptions.ui !== undefined) appOptions.ui.tcpUrl = tcpAddress.url;
    }
    return {
      socketPath: socket,
      tcp: tcpAddress,
      tokenRequired: tcpAddress !== undefined,
      tokenFile: tcpAddress === undefined ? undefined : resolved?.file,
      close: async () => {
        await closeAll();
        if (socket !== undefined) rmSync(socket, { force: true });
      },
    };
  } catch (e) {
    await closeAll();
    throw e;
  }
}

/** Names every TCP listener answers to, besides IP literals and its own host (app.ts, Host check). */
const LOCAL_HOST_NAMES = ['localhost'];

function listenError(e: unknown, where: string): unknown {
  const code = (e as { code?: unknown }).code;
  if (code === 'EADDRINUSE')
    return new ConfigError(`The API address ${where} is in use; choose another one.`);
  if (code === 'EADDRNOTAVAIL')
    return new ConfigError(`The API address ${where} is not an address of this host.`);
  if (code === 'EACCES')
    return new ConfigError(`Not allowed to listen on ${where}; choose a port above 1023.`);
  return e;
}
