/**
 * The OpenAPI document (`GET /openapi.json`), built only when someone asks for it.
 *
 * @fastify/swagger loads yaml and a JSON-schema resolver (about 350 kB of module source, a few
 * MB of an idle agent's heap: docs/benchmarks.md "Idle memory") that an agent needs only when
 * its document is read, which most agents never do. So the API keeps, from the start, only
 * the route definitions (an `onRoute` hook); the first request for the document loads
 * @fastify/swagger, replays those routes (schema, no handler) into a throwaway Fastify
 * instance that registers it with the same options, takes that instance's document and keeps
 * it: the routes do not change once the API is ready.
 */
import type { FastifyInstance, FastifyPluginOptions, FastifyServerOptions, RouteOptions } from 'fastify';

/** What @fastify/swagger needs of a route to document it. */
interface DocumentedRoute {
  readonly method: RouteOptions['method'];
  readonly url: string;
  readonly schema: RouteOptions['schema'];
  readonly config: unknown;
}

export interface LazyOpenApi {
  /** The document, built on the first call (concurrent first calls share one build). */
  document(): Promise<unknown>;
}

/**
 * Collects the routes registered on `fastify` from now on (call it before registering them)
 * and returns the lazy document. `swaggerOptions` are @fastify/swagger's options.
 */
export function collectOpenApi(fastify: FastifyInstance, swaggerOptions: FastifyPluginOptions): LazyOpenApi {
  const routes: DocumentedRoute[] = [];
  fastify.addHook('onRoute', (route) => {
    // Fastify adds a HEAD route for every GET; @fastify/swagger leaves those out by default,
    // and the throwaway instance makes its own.
    if (route.method === 'HEAD') return;
    routes.push({ method: route.method, url: route.url, schema: route.schema, config: route.config });
  });
  let built: Promise<unknown> | undefined;
  return {
    document() {
      built ??= build(routes, swaggerOptions).catch((e: unknown) => {
        built = undefined; // a later request tries again
        throw e;
      });
      return built;
    },
  };
}

async function build(
  routes: readonly DocumentedRoute[],
  swaggerOptions: FastifyPluginOptions,
): Promise<unknown> {
  const [{ default: Fastify }, { default: swagger }] = await Promise.all([
    import('fastify'),
    import('@fastify/swagger'),
  ]);
  // Nothing is served: schemas need no compiling. Given at construction, Fastify does not load
  // its defaults (ajv's compiler, fast-json-stringify) only to have them replaced.
  const compilersFactory = {
    buildValidator: () => () => () => true,
    buildSerializer: () => () => (data: unknown) => JSON.stringify(data),
  } as unknown as NonNullable<NonNullable<FastifyServerOptions['schemaController']>['compilersFactory']>;
  const docs = Fastify({ logger: false, schemaController: { compilersFactory } });
  try {
    await docs.register(swagger, swaggerOptions);
    for (const r of routes) {
      docs.route({
        method: r.method,
        url: r.url,
        ...(r.schema === undefined ? {} : { schema: r.schema }),
        ...(r.config === undefined ? {} : { config: r.config as Record<string, unknown> }),
        handler: () => null,
      });
    }
    await docs.ready();
    return docs.swagger();
  } finally {
    await docs.close();
  }
}
