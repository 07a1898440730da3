/**
 * The Consul-compatible listener (docs/consul.md): a Fastify instance of its own, on
 * 127.0.0.1:8500 by default (Consul's port, so its paths never meet SMAC's /v1/status or
 * /v1/health), serving the subset of Consul's HTTP API that discovery tools read.
 */
import { isIPv6 } from 'node:net';
import Fastify, {
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyReply,
  LogController,
} from 'fastify';
import { ConfigError } from '../agent/config.js';
import { DEFAULT_REQUEST_TIMEOUT_MS, slowClientOptions } from '../api/server.js';
import { closeIdleOnlyAfterReading } from '../api/keep-alive.js';
import type { ConsulContext } from './context.js';
import { ConsulHttpError } from './errors.js';
import { ConsulFeed, DEFAULT_LIVENESS_POLL_MS } from './feed.js';
import { hostGuard, tokenGuard } from './guard.js';
import { ConsulIndexes } from './indexes.js';
import { agentRoutes } from './routes-agent.js';
import { catalogRoutes } from './routes-catalog.js';
import { kvRoutes } from './routes-kv.js';
import { nodeRoutes } from './routes-node.js';
import type { ConsulSource } from './source.js';

export const DEFAULT_CONSUL_HOST = '127.0.0.1';
export const DEFAULT_CONSUL_PORT = 8500;
/** Blocking queries waiting at once: each holds a connection and a feed subscription. */
export const DEFAULT_MAX_BLOCKING = 512;

export interface ConsulAppOptions {
  readonly source: ConsulSource;
  /** Required of every request; undefined: none (in-process tests only: a listener has one). */
  readonly token?: string | undefined;
  /** Host names a request's Host may name besides localhost and IP literals. */
  readonly allowedHosts?: readonly string[];
  readonly maxBlocking?: number;
  readonly livenessPollMs?: number;
  readonly logger?: FastifyBaseLogger;
  /** Wall clock for the indexes (tests). */
  readonly now?: () => number;
  /** Random in [0, 1) for the wait jitter (tests). */
  readonly random?: () => number;
  /** A client must send its whole request within this time (default 30 s, as the REST API). */
  readonly requestTimeoutMs?: number;
}

/** The app, ready but not listening (tests use inject()). */
export async function createConsulApp(options: ConsulAppOptions): Promise<FastifyInstance> {
  // The REST API's slow-client guard (docs/api.md "Limits"): a request must arrive within 30 s.
  // Answers are not limited by it: a blocking query may take its whole wait.
  const slow = slowClientOptions(options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS);
  const app = Fastify({
    ...(options.logger ? { loggerInstance: options.logger } : { logger: false }),
    requestTimeout: slow.requestTimeout,
    http: slow,
    logController: new LogController({ disableRequestLogging: true }),
    // Errors before any route runs (a URL that is not valid UTF-8): plain text too.
    frameworkErrors: (error, _request, reply) => {
      void (reply as FastifyReply)
        .status(400)
        .type('text/plain; charset=utf-8')
        .send(`Bad request: ${error.message}`);
    },
  });
  // Idle connections are closed only once what arrived on them was read (src/api/keep-alive.ts).
  closeIdleOnlyAfterReading(app.server);
  const closing = new AbortController();
  const feed = new ConsulFeed(options.source, options.livenessPollMs ?? DEFAULT_LIVENESS_POLL_MS);
  const ctx: ConsulContext = {
    source: options.source,
    indexes: new ConsulIndexes(options.now),
    feed,
    maxBlocking: options.maxBlocking ?? DEFAULT_MAX_BLOCKING,
    closing: closing.signal,
    waiting: { count: 0 },
    ...(options.random ? { random: options.random } : {}),
  };
  // Bodies are never read (the listener is read-only); any content type reaches the 405.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (_request, _payload, done) => {
    done(null, undefined);
  });
  const checkHost = hostGuard(options.allowedHosts ?? []);
  const checkToken = options.token === undefined ? undefined : tokenGuard(options.token);
  app.addHook('onRequest', (request, _reply, done) => {
    try {
      checkHost(request);
      checkToken?.(request);
      done();
    } catch (e) {
      done(e as Error);
    }
  });
  app.setErrorHandler((error, request, reply) => {
    if (error instanceof ConsulHttpError)
      return reply.status(error.status).type('text/plain; charset=utf-8').send(error.message);
    const status = (error as { statusCode?: number }).statusCode;
    if (typeof status === 'number' && status >= 400 && status < 500)
      return reply
        .status(status)
        .type('text/plain; charset=utf-8')
        .send((error as Error).message);
    request.log.error({ err: error, url: request.url }, 'consul request failed');
    return reply.status(500).type('text/plain; charset=utf-8').send('Internal error');
  });
  app.setNotFoundHandler((request, reply) =>
    reply
      .status(404)
      .type('text/plain; charset=utf-8')
      .send(
        `SMAC serves a subset of Consul's HTTP API; ${request.method} ${request.url.split('?')[0] ?? ''} is not in it (docs/consul.md)`,
      ),
  );
  // `?pretty`, which people add when they read Consul with curl: indented JSON.
  app.addHook('onSend', (request, reply, payload, done) => {
    const query = request.query as Record<string, unknown> | undefined;
    const json = String(reply.getHeader('content-type') ?? '').startsWith('application/json');
    if (query?.pretty === undefined || !json || typeof payload !== 'string') {
      done(null, payload);
      return;
    }
    let pretty = payload;
    try {
      pretty = JSON.stringify(JSON.parse(payload), null, 4) + '\n';
    } catch {
      // not JSON after all: as it is
    }
    done(null, pretty);
  });
  // Waiting queries would hold close() for minutes: answer them now.
  app.addHook('preClose', (done) => {
    closing.abort();
    feed.stop();
    done();
  });
  catalogRoutes(app, ctx);
  nodeRoutes(app, ctx);
  kvRoutes(app, ctx);
  agentRoutes(app, ctx);
  await app.ready();
  return app;
}

export interface ConsulListenOptions extends Omit<ConsulAppOptions, 'token'> {
  readonly host: string;
  readonly port: number;
  /** The API token, required of every request, loopback included (DESIGN.md "Security"). */
  readonly token: string | undefined;
}

export interface ConsulServer {
  readonly url: string;
  close(): Promise<void>;
}

/** Starts the listener; throws ConfigError with an actionable sentence when misconfigured. */
export async function startConsulServer(options: ConsulListenOptions): Promise<ConsulServer> {
  const { host, port, token, ...rest } = options;
  // Any local user can reach a loopback port: the token is required there too.
  if (token === undefined)
    throw new ConfigError(
      `The Consul listener on ${host} needs the API token: give --api-token-file, or a data directory to generate one in.`,
    );
  const app = await createConsulApp({
    ...rest,
    token,
    allowedHosts: [host, ...(rest.allowedHosts ?? [])],
  });
  try {
    await app.listen({ host, port });
  } catch (e) {
    await app.close();
    const code = (e as { code?: unknown }).code;
    if (code === 'EADDRINUSE')
      throw new ConfigError(
        `The Consul address ${host}:${port} is in use (a Consul agent?); choose another with --consul-addr.`,
      );
    if (code === 'EADDRNOTAVAIL')
      throw new ConfigError(`The Consul address ${host} is not an address of this host.`);
    throw e;
  }
  const address = app.server.address();
  const bound = typeof address === 'object' && address ? address.port : port;
  return {
    url: `http://${isIPv6(host) ? `[${host}]` : host}:${bound}`,
    close: () => app.close(),
  };
}
