/**
 * The per-node and per-check reads of Consul's catalog and health APIs (consul-template's
 * `node` and `checks` functions read these): `/v1/catalog/node/<node>` (the node and its
 * services, `null` for an unknown node, as Consul), `/v1/health/node/<node>` (its checks),
 * `/v1/health/checks/<service>` (the endpoints' own checks) and `/v1/health/state/<state>`
 * (every check in a state, or `any`). All are blocking queries.
 */
import type { FastifyInstance } from 'fastify';
import {
  agentServiceJson,
  type Entry,
  entriesOf,
  type EntryFilter,
  nodeStamp,
  serfCheck,
  serviceCheck,
} from './catalog.js';
import { answer, catalogTopic, type ConsulContext, entryFilter, type Query } from './context.js';
import { ConsulHttpError } from './errors.js';
import { nodeJson, nodeMap } from './nodes.js';

const STATES = new Set(['any', 'passing', 'warning', 'critical']);

/** Every endpoint of the filter's datacenter, with its node. */
function allEntries(ctx: ConsulContext, filter: EntryFilter): Entry[] {
  const nodes = nodeMap(ctx.source);
  return [...ctx.source.serviceNames()].sort().flatMap((name) => entriesOf(ctx.source, name, filter, nodes));
}

/** Every check of the datacenter: each node's serfHealth, then its endpoints' checks. */
function allChecks(ctx: ConsulContext, filter: EntryFilter, onNode?: string): object[] {
  const entries = allEntries(ctx, filter).filter((e) => onNode === undefined || e.node.name === onNode);
  const nodes = [...nodeMap(ctx.source).values()]
    .filter((n) => n.datacenter === filter.dc && (onNode === undefined || n.name === onNode))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return nodes.flatMap((n) => [
    serfCheck(ctx.indexes, n),
    ...entries
      .filter((e) => e.node.name === n.name)
      .map((e) => serviceCheck(ctx.indexes, e))
      .filter((c): c is object => c !== undefined),
  ]);
}

export function nodeRoutes(app: FastifyInstance, ctx: ConsulContext): void {
  app.get<{ Params: { node: string } }>('/v1/catalog/node/:node', (request, reply) => {
    const query = request.query as Query;
    const filter = entryFilter(ctx, query);
    const { node } = request.params;
    return answer(ctx, request, reply, JSON.stringify(['node', node, filter.dc]), catalogTopic, () => {
      const info = nodeMap(ctx.source).get(node);
      if (info?.datacenter !== filter.dc) return null;
      const services: Record<string, object> = {};
      for (const e of allEntries(ctx, filter))
        if (e.node.name === node) services[e.endpoint.id] = agentServiceJson(ctx.indexes, e.endpoint);
      return { Node: nodeJson(info, nodeStamp(ctx.indexes, info)), Services: services };
    });
  });

  app.get<{ Params: { node: string } }>('/v1/health/node/:node', (request, reply) => {
    const filter = entryFilter(ctx, request.query as Query);
    const { node } = request.params;
    return answer(ctx, request, reply, JSON.stringify(['health-node', node, filter.dc]), catalogTopic, () =>
      allChecks(ctx, filter, node),
    );
  });

  app.get<{ Params: { service: string } }>('/v1/health/checks/:service', (request, reply) => {
    const query = request.query as Query;
    const filter = entryFilter(ctx, query);
    const { service } = request.params;
    const view = JSON.stringify(['checks', service, filter.dc, filter.nodeMeta]);
    return answer(ctx, request, reply, view, catalogTopic, () =>
      entriesOf(ctx.source, service, { ...filter, tags: [] })
        .map((e) => serviceCheck(ctx.indexes, e))
        .filter((c): c is object => c !== undefined),
    );
  });

  app.get<{ Params: { state: string } }>('/v1/health/state/:state', (request, reply) => {
    const filter = entryFilter(ctx, request.query as Query);
    const { state } = request.params;
    if (!STATES.has(state))
      throw new ConsulHttpError(400, `Invalid check state ${JSON.stringify(state.slice(0, 40))}`);
    return answer(ctx, request, reply, JSON.stringify(['state', state, filter.dc]), catalogTopic, () =>
      allChecks(ctx, filter).filter((c) => state === 'any' || (c as { Status: string }).Status === state),
    );
  });
}
