/**
 * `/v1/agent/self` (this agent as a Consul client agent: its datacenter is its region, its
 * node name its peer id), `/v1/agent/members` (the members as serf sees them, left ones too),
 * `/v1/agent/services` and `/v1/agent/checks` (the endpoints registered on this agent's node,
 * and their checks), and `/v1/status/leader` and `/v1/status/peers`, answered honestly
 * for a system without a leader: every agent accepts writes and serves reads from its own
 * replica, so there is no leader to name (`""`, what Consul answers while it has none) and no
 * Raft peers (`[]`). Consul's Go client reads `KnownLeader: false` from every answer as well.
 */
import type { FastifyInstance } from 'fastify';
import { agentServiceJson, type Entry, entriesOf, serviceCheck } from './catalog.js';
import type { ConsulContext } from './context.js';
import { nodeMap, nodeOfMember, serfStatus } from './nodes.js';

/** The Consul version this listener reports: compatible with the 1.x HTTP API, and says what it is. */
export const CONSUL_COMPAT_VERSION = '1.0.0-smac';

/** A serf member as Consul's agent endpoints show one (protocol versions of Consul 1.x). */
function serfMember(name: string, addr: string, dc: string, id: string, status: string): object {
  return {
    Name: name,
    Addr: addr,
    Port: 0,
    Tags: { dc, role: 'node', id },
    Status: serfStatus(status),
    ...{ ProtocolMin: 1, ProtocolMax: 5, ProtocolCur: 2, DelegateMin: 2, DelegateMax: 5, DelegateCur: 4 },
  };
}

export function agentRoutes(app: FastifyInstance, ctx: ConsulContext): void {
  app.get('/v1/agent/self', () => {
    const { source } = ctx;
    const self = nodeMap(source).get(source.peerId);
    return {
      Config: {
        Datacenter: source.region,
        PrimaryDatacenter: source.region,
        NodeName: source.peerId,
        NodeID: self?.id ?? '',
        Server: false,
        Revision: '',
        Version: CONSUL_COMPAT_VERSION,
      },
      Member: serfMember(source.peerId, self?.address ?? '', source.region, self?.id ?? '', 'alive'),
      Meta: self?.meta ?? {},
    };
  });

  app.get('/v1/agent/members', () =>
    ctx.source.members().map((m) => {
      const node = nodeOfMember(m, ctx.source.region);
      const status = m.id === ctx.source.peerId ? 'alive' : m.status;
      return serfMember(m.id, node.address, node.datacenter, node.id, status);
    }),
  );

  /** The endpoints on this agent's node, in any datacenter filter (they are all in its region). */
  const local = (): Entry[] => {
    const { source } = ctx;
    const nodes = nodeMap(source);
    const filter = { dc: source.region, tags: [], nodeMeta: [] };
    return [...source.serviceNames()]
      .sort()
      .flatMap((name) => entriesOf(source, name, filter, nodes))
      .filter((e) => e.node.name === source.peerId);
  };

  app.get('/v1/agent/services', () => {
    const out: Record<string, object> = {};
    for (const e of local())
      out[e.endpoint.id] = { ...agentServiceJson(ctx.indexes, e.endpoint), Datacenter: ctx.source.region };
    return out;
  });

  app.get('/v1/agent/checks', () => {
    const out: Record<string, object> = {};
    for (const e of local()) {
      const check = serviceCheck(ctx.indexes, e) as { CheckID: string } | undefined;
      if (check !== undefined) out[check.CheckID] = check;
    }
    return out;
  });

  app.get('/v1/status/leader', (_request, reply) => reply.type('application/json; charset=utf-8').send('""'));
  app.get('/v1/status/peers', () => []);
}
