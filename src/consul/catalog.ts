/**
 * SMAC services as Consul catalog and health entries (docs/consul.md, "Mapping"). A SMAC
 * endpoint is a Consul service instance: ServiceName the service, ServiceID the endpoint id,
 * on the node of the member it was registered on. Its health checks are the node's
 * `serfHealth` (passing while the member is alive or suspect) and, when it has one, its own
 * check `service:<id>` (SMAC's http, tcp or ttl check; critical until its first result, as
 * in Consul).
 */
import type { EndpointView } from '../services/discovery.js';
import type { ConsulIndexes } from './indexes.js';
import { type NodeInfo, nodeJson, nodeMap, unknownNode } from './nodes.js';
import type { ConsulSource } from './source.js';

/** What a catalog or health query selects (Consul's query parameters). */
export interface EntryFilter {
  /** The datacenter (region); the agent's own when absent. */
  readonly dc: string;
  /** Every one of these tags (`?tag=`, repeatable). */
  readonly tags: readonly string[];
  /** Node meta `key:value` pairs that must all match (`?node-meta=`, repeatable). */
  readonly nodeMeta: readonly (readonly [string, string])[];
}

export interface Entry {
  readonly node: NodeInfo;
  readonly endpoint: EndpointView;
}

const WEIGHTS = { Passing: 1, Warning: 1 };

/** The endpoints of `name` in the filter's datacenter, with their nodes, in a stable order. */
export function entriesOf(
  source: ConsulSource,
  name: string,
  filter: EntryFilter,
  nodes: ReadonlyMap<string, NodeInfo> = nodeMap(source),
): Entry[] {
  const out: Entry[] = [];
  for (const e of source.endpoints(name)) {
    const region = e.region ?? source.region;
    const node = nodes.get(e.node) ?? unknownNode(e.node, e.address, region);
    if (node.datacenter !== filter.dc) continue;
    if (!filter.tags.every((t) => e.tags.includes(t))) continue;
    if (!filter.nodeMeta.every(([k, v]) => node.meta[k] === v)) continue;
    out.push({ node, endpoint: e });
  }
  return out.sort((a, b) => cmp(a.node.name, b.node.name) || cmp(a.endpoint.id, b.endpoint.id));
}

/** Services of the datacenter with the union of their tags: `/v1/catalog/services`. */
export function catalogServices(source: ConsulSource, filter: EntryFilter): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  const nodes = nodeMap(source);
  for (const name of [...source.serviceNames()].sort(cmp)) {
    const entries = entriesOf(source, name, filter, nodes);
    if (entries.length === 0) continue;
    out[name] = [...new Set(entries.flatMap((e) => e.endpoint.tags))].sort(cmp);
  }
  return out;
}

function serviceStamp(indexes: ConsulIndexes, e: EndpointView): { create: number; modify: number } {
  return indexes.stamp(`svc\u0000${e.service}\u0000${e.id}`, [
    e.node,
    e.address,
    e.port,
    e.tags,
    e.meta,
    e.check?.type ?? null,
  ]);
}

export function nodeStamp(indexes: ConsulIndexes, n: NodeInfo): { create: number; modify: number } {
  return indexes.stamp(`node\u0000${n.name}`, [n.address, n.datacenter, n.meta]);
}

/** One entry of `/v1/catalog/service/<name>`. */
export function catalogServiceJson(indexes: ConsulIndexes, { node, endpoint: e }: Entry): object {
  const stamp = serviceStamp(indexes, e);
  return {
    ID: node.id,
    Node: node.name,
    Address: node.address,
    Datacenter: node.datacenter,
    TaggedAddresses: { lan: node.address, wan: node.address },
    NodeMeta: node.meta,
    ServiceKind: '',
    ServiceID: e.id,
    ServiceName: e.service,
    ServiceTags: e.tags,
    ServiceAddress: e.address,
    ServiceTaggedAddresses: {},
    ServiceWeights: WEIGHTS,
    ServiceMeta: e.meta,
    ServicePort: e.port,
    ServiceEnableTagOverride: false,
    ServiceProxy: {},
    ServiceConnect: {},
    CreateIndex: stamp.create,
    ModifyIndex: stamp.modify,
  };
}

/** The Consul statuses of an entry's checks: the node's, then the endpoint's own if any. */
export function entryStatuses({ node, endpoint: e }: Entry): string[] {
  const serf = node.alive ? 'passing' : 'critical';
  return e.check === null ? [serf] : [serf, e.check.status];
}

/** The node's own check: passing while the member is alive or suspect. */
export function serfCheck(indexes: ConsulIndexes, node: NodeInfo): object {
  return checkJson(indexes, node.name, {
    CheckID: 'serfHealth',
    Name: 'Serf Health Status',
    Status: node.alive ? 'passing' : 'critical',
    Output: node.alive ? 'Agent alive and reachable' : 'Agent not live or unreachable',
    ServiceID: '',
    ServiceName: '',
    ServiceTags: [],
    Type: '',
  });
}

/** The endpoint's own check, if it has one. */
export function serviceCheck(indexes: ConsulIndexes, { node, endpoint: e }: Entry): object | undefined {
  if (e.check === null) return undefined;
  return checkJson(indexes, node.name, {
    CheckID: `service:${e.id}`,
    Name: `Service '${e.service}' check`,
    Status: e.check.status,
    Output: e.check.output,
    ServiceID: e.id,
    ServiceName: e.service,
    ServiceTags: e.tags,
    Type: e.check.type,
  });
}

/** An endpoint as a node's service (`Service` in health answers, the values of catalog/node's `Services`). */
export function agentServiceJson(indexes: ConsulIndexes, e: EndpointView): object {
  const svc = serviceStamp(indexes, e);
  return {
    Kind: '',
    ID: e.id,
    Service: e.service,
    Tags: e.tags,
    Address: e.address,
    TaggedAddresses: {},
    Meta: e.meta,
    Port: e.port,
    Weights: WEIGHTS,
    EnableTagOverride: false,
    Proxy: {},
    Connect: {},
    CreateIndex: svc.create,
    ModifyIndex: svc.modify,
  };
}

/** One entry of `/v1/health/service/<name>`. */
export function healthServiceJson(indexes: ConsulIndexes, entry: Entry): object {
  const own = serviceCheck(indexes, entry);
  return {
    Node: nodeJson(entry.node, nodeStamp(indexes, entry.node)),
    Service: agentServiceJson(indexes, entry.endpoint),
    Checks: own === undefined ? [serfCheck(indexes, entry.node)] : [serfCheck(indexes, entry.node), own],
  };
}

function checkJson(indexes: ConsulIndexes, node: string, c: Record<string, unknown>): object {
  const stamp = indexes.stamp(
    `check\u0000${node}\u0000${String(c.CheckID)}\u0000${String(c.ServiceName)}`,
    c,
  );
  return {
    Node: node,
    ...c,
    Notes: '',
    Definition: {},
    CreateIndex: stamp.create,
    ModifyIndex: stamp.modify,
  };
}

/** The nodes of the datacenter: `/v1/catalog/nodes`. */
export function catalogNodes(indexes: ConsulIndexes, source: ConsulSource, filter: EntryFilter): object[] {
  return [...nodeMap(source).values()]
    .filter((n) => n.datacenter === filter.dc)
    .filter((n) => filter.nodeMeta.every(([k, v]) => n.meta[k] === v))
    .sort((a, b) => cmp(a.name, b.name))
    .map((n) => nodeJson(n, nodeStamp(indexes, n)));
}

/** Regions that have a node: `/v1/catalog/datacenters` (this agent's first). */
export function datacenters(source: ConsulSource): string[] {
  const dcs = new Set([...nodeMap(source).values()].map((n) => n.datacenter));
  dcs.delete(source.region);
  return [source.region, ...[...dcs].sort(cmp)];
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
