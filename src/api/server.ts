/**
 * The API listeners (DESIGN.md "Interfaces" and "Security"): a Unix socket under the data
 * directory (mode 0660: access is whoever may open the file) and TCP, on 127.0.0.1 by default.
 * A Fastify instance listens once, so each listener is its own instance of the one plugin
 * (app.ts); they share the agent and the watch bound.
 *
 * TCP on an address that is not loopback requires a bearer token, and the agent refuses to
 * start without one: such an address is reachable by other hosts, and the cluster's
 * pre-shared key does not protect the HTTP port.
 */
import { chmodSync, lstatSync, readFileSync, rmSync } from 'node:fs';
import { createConnection, isIPv4, isIPv6 } from 'node:net';
import { join } from 'node:path';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import Fastify, { type FastifyBaseLogger, type FastifyReply, LogController } from 'fastify';
import { ConfigError } from '../agent/config.js';
import { type ApiApp, DEFAULT_API_OPTIONS, smacApi, type SmacApiOptions } from './app.js';
import { mapError } from './errors.js';
import { WatchGate } from './watch-gate.js';

/** TCP port of the API: next to libp2p's default 7946 (memberlist's port), clear of Consul's 8500. */
export const DEFAULT_API_PORT = 7947;
export const DEFAULT_API_HOST = '127.0.0.1';
/** Largest request body: a full batch of small ops fits; a single value is bounded by the core (64 KiB). */
export const DEFAULT_BODY_LIMIT_BYTES = 4 * 1024 * 1024;
/** A bearer token shorter than this is guessable; `openssl rand -hex 32` makes a good one. */
export const MIN_TOKEN_LENGTH = 16;
/** sockaddr_un holds 108 bytes including the terminating NUL on Linux. */
const MAX_SOCKET_PATH_BYTES = 107;

export function defaultSocketPath(dataDir: string): string {
  return join(dataDir, 'smac.sock');
}

export interface ApiAppOptions extends SmacApiOptions {
  /** pino logger (the agent's); none by default. */
  readonly logger?: FastifyBaseLogger;
  readonly bodyLimitBytes?: number;
}

/** An app instance, ready but not listening (tests use `inject()` on it). */
export async function createApiApp(options: ApiAppOptions): Promise<ApiApp> {
  const { logger, bodyLimitBytes, ...apiOptions } = options;
  const app = Fastify({
    ...(logger ? { loggerInstance: logger } : { logger: false }),
    // A line per request would cost more than the write it logs; errors are logged by app.ts.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: bodyLimitBytes ?? DEFAULT_BODY_LIMIT_BYTES,
    // A client must send its request within this time (slow-loris guard); responses and
    // watch streams are not limited by it.
    requestTimeout: 30_000,
    // Errors Fastify answers before any route or plugin runs: the same `{ code, message }`.
    frameworkErrors: (error, _request, reply) => {
      const mapped = mapError(error);
      void (reply as FastifyReply).status(mapped.status).send(mapped.body);
    },
    clientErrorHandler: clientError,
  }).withTypeProvider<TypeBoxTypeProvider>();
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

export interface ApiServerOptions extends Omit<ApiAppOptions, 'token' | 'watchGate'> {
  /** Unix socket path (`defaultSocketPath(dataDir)`), or false for none. */
  readonly socketPath: string | false;
  /** TCP listener, or false for none. Port 0 picks a free port. */
  readonly tcp: { readonly host?: string; readonly port?: number } | false;
  /** Bearer token for the TCP listener. */
  readonly token?: string | undefined;
  /** File holding the token (first line); an alternative to `token` that keeps it out of `ps`. */
  readonly tokenFile?: string | undefined;
}

export interface ApiServers {
  readonly socketPath: string | undefined;
  readonly tcp: { readonly host: string; readonly port: number; readonly url: string } | undefined;
  /** Whether the TCP listener requires a bearer token. */
  readonly tokenRequired: boolean;
  close(): Promise<void>;
}

/** Starts the listeners; throws ConfigError with an actionable sentence when misconfigured. */
export async function startApiServers(options: ApiServerOptions): Promise<ApiServers> {
  const { socketPath, tcp, token: tokenOption, tokenFile, ...appOptions } = options;
  const token = resolveToken(tokenOption, tokenFile);
  const host = tcp === false ? undefined : (tcp.host ?? DEFAULT_API_HOST);
  if (host !== undefined && !isLoopbackHost(host) && token === undefined) {
    throw new ConfigError(
      `The API would listen on ${host}, which is not a loopback address, without a bearer token. ` +
        'Set an API token (or token file), or listen on 127.0.0.1.',
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
      await prepareSocketPath(socketPath);
      const app = await createApiApp({ ...appOptions, watchGate });
      apps.push(app);
      try {
        await app.listen({ path: socketPath });
      } catch (e) {
        throw listenError(e, socketPath);
      }
      chmodSync(socketPath, 0o660);
      socket = socketPath;
    }
    let tcpAddress: ApiServers['tcp'];
    if (tcp !== false && host !== undefined) {
      const app = await createApiApp({ ...appOptions, watchGate, token });
      apps.push(app);
      try {
        await app.listen({ host, port: tcp.port ?? DEFAULT_API_PORT });
      } catch (e) {
        throw listenError(e, `${host}:${tcp.port ?? DEFAULT_API_PORT}`);
      }
      const address = app.server.address();
      const port = typeof address === 'object' && address ? address.port : (tcp.port ?? DEFAULT_API_PORT);
      tcpAddress = { host, port, url: `http://${isIPv6(host) ? `[${host}]` : host}:${port}` };
    }
    return {
      socketPath: socket,
      tcp: tcpAddress,
      tokenRequired: tcpAddress !== undefined && token !== undefined,
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

export function isLoopbackHost(host: string): boolean {
  if (host === 'localhost') return true;
  if (isIPv4(host)) return host.startsWith('127.');
  if (isIPv6(host)) {
    const h = host.toLowerCase();
    return h === '::1' || h === '0:0:0:0:0:0:0:1' || h.startsWith('::ffff:127.');
  }
  return false;
}

function resolveToken(token: string | undefined, tokenFile: string | undefined): string | undefined {
  if (token !== undefined && tokenFile !== undefined) {
    throw new ConfigError('Set the API token or the API token file, not both.');
  }
  let t = token;
  if (tokenFile !== undefined) {
    try {
      t = readFileSync(tokenFile, 'utf8').split('\n')[0]?.trim() ?? '';
    } catch (e) {
      throw new ConfigError(`Cannot read the API token file ${tokenFile}: ${(e as Error).message}.`);
    }
  }
  if (t === undefined) return undefined;
  if (t.length < MIN_TOKEN_LENGTH || !/^[\x21-\x7e]+$/.test(t)) {
    throw new ConfigError(
      `The API token must be at least ${MIN_TOKEN_LENGTH} printable characters without spaces ` +
        '(for example the output of `openssl rand -hex 32`).',
    );
  }
  return t;
}

/**
 * Makes the socket path usable: too long is an error; a live socket means another agent
 * serves this data directory (an error); a dead one is left from a crash and is removed.
 */
async function prepareSocketPath(path: string): Promise<void> {
  const bytes = Buffer.byteLength(path);
  if (bytes > MAX_SOCKET_PATH_BYTES) {
    throw new ConfigError(
      `The API socket path ${path} is ${bytes} bytes; Unix sockets allow ${MAX_SOCKET_PATH_BYTES}. ` +
        'Use a shorter data directory or socket path.',
    );
  }
  let isSocket: boolean;
  try {
    isSocket = lstatSync(path).isSocket();
  } catch {
    return; // nothing there
  }
  if (!isSocket) {
    throw new ConfigError(`${path} exists and is not a socket; move it away or choose another socket path.`);
  }
  if (await someoneListens(path)) {
    throw new ConfigError(
      `Another process serves the API on ${path}; is an agent already running with this data directory?`,
    );
  }
  rmSync(path, { force: true });
}

function someoneListens(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createConnection({ path });
    const done = (answer: boolean): void => {
      s.destroy();
      resolve(answer);
    };
    s.setTimeout(1_000, () => {
      done(true); // it accepted the connection or hangs: either way, not ours to remove
    });
    s.once('connect', () => {
      done(true);
    });
    s.once('error', () => {
      done(false);
    });
  });
}

function listenError(e: unknown, where: string): unknown {
  const code = (e as { code?: unknown }).code;
  if (code === 'EADDRINUSE')
    return new ConfigError(`The API address ${where} is in use; choose another one.`);
  if (code === 'EADDRNOTAVAIL')
    return new ConfigError(`The API address ${where} is not an address of this host.`);
  if (code === 'EACCES') {
    return new ConfigError(
      `Not allowed to listen on ${where}; check the directory's permissions or the port (>1023).`,
    );
  }
  if (code === 'ENOENT')
    return new ConfigError(`Cannot create the API socket ${where}: its directory does not exist.`);
  return e;
}
