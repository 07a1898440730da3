/**
 * `/v1/catalog/*` and `/v1/health/service/<name>` in Consul's shapes (catalog.ts), all of them
 * blocking queries. `?passing` keeps the entries whose checks all pass: a live node
 * (serfHealth) and a passing check of the endpoint, if it has one.
 */
import type { FastifyInstance } from 'fastify';
import {
  catalogNodes,
  catalogServiceJson,
  catalogServices,
  datacenters,
  entriesOf,
  entryStatuses,
  healthServiceJson,
} from './catalog.js';
import { answer, catalogTopic, type ConsulContext, entryFilter, flag, type Query } from './context.js';

/** The part of the URL that names the answer: path and the parameters that shape it. */
function viewOf(path: string, query: Query, keys: readonly string[]): string {
  return JSON.stringify([path, ...keys.map((k) => query[k] ?? null)]);
}

export function catalogRoutes(app: FastifyInstance, ctx: ConsulContext): void {
  app.get('/v1/catalog/datacenters', () => datacenters(ctx.source));

  app.get('/v1/catalog/services', (request, reply) => {
    const query = request.query as Query;
    const filter = entryFilter(ctx, query);
    return answer(ctx, request, reply, viewOf('services', query, ['dc', 'node-meta']), catalogTopic, () =>
      catalogServices(ctx.source, filter),
    );
  });

  app.get<{ Params: { name: string } }>('/v1/catalog/service/:name', (request, reply) => {
    const query = request.query as Query;
    const filter = entryFilter(ctx, query);
    const { name } = request.params;
    return answer(
      ctx,
      request,
      reply,
      viewOf(`catalog/${name}`, query, ['dc', 'tag', 'node-meta']),
      catalogTopic,
      () => entriesOf(ctx.source, name, filter).map((e) => catalogServiceJson(ctx.indexes, e)),
    );
  });

  app.get('/v1/catalog/nodes', (request, reply) => {
    const query = request.query as Query;
    const filter = entryFilter(ctx, query);
    return answer(ctx, request, reply, viewOf('nodes', query, ['dc', 'node-meta']), catalogTopic, () =>
      catalogNodes(ctx.indexes, ctx.source, filter),
    );
  });

  app.get<{ Params: { name: string } }>('/v1/health/service/:name', (request, reply) => {
    const query = request.query as Query;
    const filter = entryFilter(ctx, query);
    const passing = flag(query.passing);
    const { name } = request.params;
    return answer(
      ctx,
      request,
      reply,
      viewOf(`health/${name}`, { ...query, passing: passing ? '1' : null }, [
        'dc',
        'tag',
        'node-meta',
        'passing',
      ]),
      catalogTopic,
      () =>
        entriesOf(ctx.source, name, filter)
          .filter((e) => !passing || entryStatuses(e).every((s) => s === 'passing'))
          .map((e) => healthServiceJson(ctx.indexes, e)),
    );
  });
}
