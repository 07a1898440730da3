/**
 * `/v1/agent/self` (this agent as a Consul client agent: its datacenter is its region, its
 * node name its peer id), and `/v1/status/leader` and `/v1/status/peers`, answered honestly
 * for a system without a leader: every agent accepts writes and serves reads from its own
 * replica, so there is no leader to name (`""`, what Consul answers while it has none) and no
 * Raft peers (`[]`). Consul's Go client reads `KnownLeader: false` from every answer as well.
 */
import type { FastifyInstance } from 'fastify';
import type { ConsulContext } from './context.js';
import { nodeMap, serfStatus } from './nodes.js';

/** The Consul version this listener reports: compatible with the 1.x HTTP API, and says what it is. */
export const CONSUL_COMPAT_VERSION = '1.0.0-smac';

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
      Member: {
        Name: source.peerId,
        Addr: self?.address ?? '',
        Port: 0,
        Tags: { dc: source.region, role: 'node', id: self?.id ?? '' },
        Status: serfStatus('alive'),
        ProtocolMin: 1,
        ProtocolMax: 5,
        ProtocolCur: 2,
        DelegateMin: 2,
        DelegateMax: 5,
        DelegateCur: 4,
      },
      Meta: self?.meta ?? {},
    };
  });

  app.get('/v1/status/leader', (_request, reply) => reply.type('application/json; charset=utf-8').send('""'));
  app.get('/v1/status/peers', () => []);
}
