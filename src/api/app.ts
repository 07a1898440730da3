/**
 * The REST API as ONE Fastify plugin (STYLE.md, fastify: `app.ts` is a plugin, only
 * `server.ts` listens). The plugin owns what every route shares — validation (TypeBox), the
 * single error handler, the Host check and bearer-token auth when the listener needs them
 * (TCP), request metrics, the
 * OpenAPI document — and registers the route modules, one file per route group under
 * `routes/`. More groups (health, services, load) join by adding a RouteModule to
 * DEFAULT_ROUTES, or by passing `routes` in the options.
 *
 * The plugin is not encapsulated (fastify-plugin): its error handler, 404 handler and hooks
 * apply to the whole instance, including requests that match no route.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { isIP } from 'node:net';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type {
  FastifyBaseLogger,
  FastifyInstance,
  FastifyPluginAsync,
  FastifyRequest,
  FastifySchemaCompiler,
  RawReplyDefaultExpression,
  RawRequestDefaultExpression,
  RawServerDefault,
} from 'fastify';
import fp from 'fastify-plugin';
import type { TSchema } from 'typebox';
import { Compile } from 'typebox/compile';
import { Value } from 'typebox/value';
import { DEFAULT_LIMITS, type Limits } from '../core/limits.js';
import type { ApiAgent } from './agent-port.js';
import { ApiError, ApiErrorCode, mapError } from './errors.js';
import { ApiMetrics, type MetricSource } from './metrics.js';
import { collectOpenApi } from './openapi.js';
import { serializerCompiler } from './serializer.js';
import { batchRoutes } from './routes/batch.js';
import { healthRoutes } from './routes/health.js';
import { objectRoutes } from './routes/objects.js';
import { statusRoutes } from './routes/status.js';
import { watchRoutes } from './routes/watch.js';
import { uiAuthorizes, uiRouteModule } from './routes/ui.js';
import type { UiSessions } from './ui-sessions.js';
import { checkJsonText, checkUtf8Body, invalidUtf8InUrl, urlBytesAreUtf8 } from './unicode.js';
import { WatchGate } from './watch-gate.js';

/** A Fastify instance whose route schemas type requests and replies (TypeBox). */
export type ApiApp = FastifyInstance<
  RawServerDefault,
  RawRequestDefaultExpression,
  RawReplyDefaultExpression,
  FastifyBaseLogger,
  TypeBoxTypeProvider
>;

export interface SmacApiOptions {
  readonly agent: ApiAgent;
  /** Input bounds; must match the agent's (the core enforces them again). */
  readonly limits?: Limits;
  /**
   * Bearer token every request must carry (`Authorization: Bearer <token>`). Set on TCP
   * listeners; the Unix socket relies on its file permissions instead.
   */
  readonly token?: string | undefined;
  /**
   * Host names a request's `Host` header may name (TCP listeners; DNS-rebinding guard). IP
   * literals always pass. Undefined: no check (the Unix socket, which no web page can reach).
   */
  readonly allowedHosts?: readonly string[] | undefined;
  /** Metrics kept elsewhere in the agent, shown on /metrics too (the DNS listener's). */
  readonly metricSources?: readonly MetricSource[];
  /** Most concurrent watches; a watch past it gets 429 TOO_MANY_WATCHES. */
  readonly maxWatches?: number;
  /** Share one bound between several app instances (server.ts: socket + TCP). Overrides maxWatches. */
  readonly watchGate?: WatchGate;
  /** SSE comment this often, so proxies and clients can tell an idle stream from a dead one. */
  readonly watchHeartbeatMs?: number;
  /**
   * Bytes a watch may have queued for a slow reader before the stream is ended (the client
   * resumes from its last cursor). Bounds memory per watch.
   */
  readonly watchBufferBytes?: number;
  /**
   * The dashboard (routes/ui.ts), when the agent runs with --ui: its login sessions, shared by
   * the listeners. On a listener with a token, a session cookie then authorizes the page and
   * the read-only routes it uses.
   */
  readonly ui?: UiSessions | undefined;
  /** Extra route groups, registered after the built-in ones. */
  readonly routes?: readonly RouteModule[];
  /** Version reported in the OpenAPI document. */
  readonly version?: string;
}

/** Every default, with its reason. */
export const DEFAULT_API_OPTIONS = Object.freeze({
  /** A watch costs a listener and a per-object digest map; 256 covers a host's containers. */
  maxWatches: 256,
  /** The design's 15 s: well inside common proxy idle timeouts (60 s), negligible traffic. */
  watchHeartbeatMs: 15_000,
  /** 8 MiB: a few thousand changes of headroom; past it a reader is not keeping up anyway. */
  watchBufferBytes: 8 * 1024 * 1024,
  version: '0.1.0',
});

/** What a route module gets: the agent and the shared pieces, with defaults filled in. */
export interface ApiContext {
  readonly agent: ApiAgent;
  readonly limits: Limits;
  readonly metrics: ApiMetrics;
  readonly watches: WatchGate;
  readonly watchHeartbeatMs: number;
  readonly watchBufferBytes: number;
}

/** One group of routes, in its own file under routes/. */
export interface RouteModule {
  readonly name: string;
  register(app: ApiApp, ctx: ApiContext): void | Promise<void>;
}

export const DEFAULT_ROUTES: readonly RouteModule[] = [
  objectRoutes,
  batchRoutes,
  watchRoutes,
  statusRoutes,
  healthRoutes,
];

const plugin: FastifyPluginAsync<SmacApiOptions> = async (fastify, opts) => {
  const ctx: ApiContext = {
    agent: opts.agent,
    limits: opts.limits ?? DEFAULT_LIMITS,
    metrics: new ApiMetrics(opts.metricSources),
    watches: opts.watchGate ?? new WatchGate(opts.maxWatches ?? DEFAULT_API_OPTIONS.maxWatches),
    watchHeartbeatMs: opts.watchHeartbeatMs ?? DEFAULT_API_OPTIONS.watchHeartbeatMs,
    watchBufferBytes: opts.watchBufferBytes ?? DEFAULT_API_OPTIONS.watchBufferBytes,
  };

  fastify.setValidatorCompiler(validatorCompiler);
  fastify.setSerializerCompiler(serializerCompiler);

  fastify.setErrorHandler((error, request, reply) => {
    const mapped = mapError(error);
    if (mapped.internal) request.log.error({ err: error, url: request.url }, 'request failed');
    if (mapped.status === 401) void reply.header('www-authenticate', 'Bearer');
    return reply.status(mapped.status).send(mapped.body);
  });

  fastify.setNotFoundHandler((request, reply) => {
    return reply.status(404).send({
      code: ApiErrorCode.NotFound,
      message: `There is no route ${request.method} ${request.url.split('?')[0] ?? ''}; see /openapi.json.`,
    });
  });

  // Host first: a page reaching us through a rebound DNS name learns nothing about the token.
  if (opts.allowedHosts !== undefined) {
    const allowed = new Set(opts.allowedHosts.map(normalizeHost));
    fastify.addHook('onRequest', (request, _reply, done) => {
      const host = hostName(request.headers.host);
      if (host !== undefined && (allowed.has(host) || isIP(host) !== 0)) done();
      else {
        done(
          new ApiError(
            ApiErrorCode.HostNotAllowed,
            `This agent does not serve the host ${JSON.stringify((request.headers.host ?? '').slice(0, 100))}; use its address ` +
              '(e.g. 127.0.0.1 or localhost), or add the name to the agent with --api-allowed-hosts.',
          ),
        );
      }
    });
  }

  const token = opts.token;
  const ui = opts.ui;
  if (token !== undefined) {
    const expected = sha256(token);
    fastify.addHook('onRequest', (request, _reply, done) => {
      if (bearerMatches(request, expected)) done();
      else if (ui !== undefined && uiAuthorizes(request, ui)) done();
      else if (ui !== undefined && request.url.startsWith('/ui')) {
        done(
          new ApiError(
            ApiErrorCode.Unauthorized,
            'The dashboard needs a login: run `smac ui` on the agent host and open the URL it prints.',
          ),
        );
      } else {
        done(
          new ApiError(
            ApiErrorCode.Unauthorized,
            'The TCP API requires the header `Authorization: Bearer <token>` with the agent API token. ' +
              "It is in the agent's token file (by default <data dir>/api.token, which the smac CLI reads), " +
              'or use the Unix socket, which needs none.',
          ),
        );
      }
    });
  }

  // Text is Unicode (unicode.ts): the URL's escapes must be UTF-8 (Fastify refuses a bad path
  // itself, server.ts maps that; the query string it would decode with U+FFFD).
  fastify.addHook('onRequest', (request, _reply, done) => {
    if (urlBytesAreUtf8(request.url)) done();
    else done(invalidUtf8InUrl());
  });

  // Bodies are JSON in UTF-8 and nothing else: no text/plain parser (415), bytes checked
  // before decoding (Node would put U+FFFD in place of bad ones), strings after parsing.
  fastify.removeContentTypeParser(['application/json', 'text/plain']);
  const parseJson = fastify.getDefaultJsonParser('error', 'error');
  fastify.addContentTypeParser('application/json', { parseAs: 'buffer' }, (request, body, done) => {
    try {
      checkUtf8Body(body as Buffer);
    } catch (e) {
      done(e as Error, undefined);
      return;
    }
    void parseJson(request, (body as Buffer).toString('utf8'), (err: Error | null, value?: unknown) => {
      if (err) {
        done(err, undefined);
        return;
      }
      try {
        checkJsonText(value);
      } catch (e) {
        done(e as Error, undefined);
        return;
      }
      done(null, value);
    });
  });

  fastify.addHook('onResponse', (request, reply, done) => {
    ctx.metrics.observeRequest(
      request.method,
      request.routeOptions.url ?? 'unmatched',
      reply.statusCode,
      reply.elapsedTime / 1000,
    );
    done();
  });

  // Built on the first request for it (openapi.ts): @fastify/swagger is not loaded before.
  const openapi = collectOpenApi(fastify, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'SMAC agent API',
        description: 'Objects (operation-based CRDTs), atomic batches, watches and agent status.',
        version: opts.version ?? DEFAULT_API_OPTIONS.version,
      },
      components: {
        securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
      },
    },
  });

  const uiRoutes = ui === undefined ? [] : [uiRouteModule(ui)];
  for (const route of [...DEFAULT_ROUTES, ...uiRoutes, ...(opts.routes ?? [])]) {
    await fastify.register(async (child) => {
      await route.register(child.withTypeProvider<TypeBoxTypeProvider>(), ctx);
    });
  }

  fastify.get('/openapi.json', { schema: { hide: true } }, () => openapi.document());
};

/** The API plugin: `app.register(smacApi, { agent })`. */
export const smacApi = fp(plugin, { name: 'smac-api', fastify: '5.x' });

/**
 * TypeBox validation. Bodies are checked as sent (no coercion: a number is not a key);
 * query strings and headers are text, so their values are converted first ("10" → 10).
 * Only the first errors are reported, so a 10,000-op batch of garbage gets a short message.
 */
export const validatorCompiler: FastifySchemaCompiler<TSchema> = ({ schema, httpPart }) => {
  const check = Compile(schema);
  const convert = httpPart === 'querystring' || httpPart === 'headers';
  return (input: unknown) => {
    const value = convert ? Value.Convert(schema, input) : input;
    if (check.Check(value)) return { value };
    return { error: check.Errors(value).slice(0, 3) as never };
  };
};

/** The host of a Host header without its port, lower case, without a trailing dot; brackets kept off IPv6. */
function hostName(header: string | undefined): string | undefined {
  if (header === undefined || header.length === 0) return undefined;
  const m = /^\[([0-9a-fA-F:.]+)\](?::\d*)?$/.exec(header) ?? /^([^:[\]]+)(?::\d*)?$/.exec(header);
  return m?.[1] === undefined ? undefined : normalizeHost(m[1]);
}

function normalizeHost(host: string): string {
  const h = host.toLowerCase().replace(/^\[(.*)\]$/, '$1');
  return h.endsWith('.') ? h.slice(0, -1) : h;
}

function sha256(s: string): Buffer {
  return createHash('sha256').update(s, 'utf8').digest();
}

/** Constant-time comparison (of digests, which have equal lengths whatever the input). */
function bearerMatches(request: FastifyRequest, expected: Buffer): boolean {
  const header = request.headers.authorization;
  if (typeof header !== 'string') return false;
  const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header);
  if (!m?.[1]) return false;
  return timingSafeEqual(sha256(m[1]), expected);
}
