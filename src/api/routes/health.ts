/**
 * Liveness and readiness, for process supervisors: Docker's HEALTHCHECK, Kubernetes probes,
 * and `smac health` (the CLI, over the socket). Two routes, as etcd's /livez and /readyz:
 *
 * - `GET /v1/health`: live. The agent runs, its event loop answers, and its store is open
 *   (the status read touches the store, which throws once closed). 503 otherwise.
 * - `GET /v1/health/ready`: live, and connected to the cluster: when join addresses are
 *   configured, at least one peer is connected. An agent with no join addresses (the first
 *   one, a single host, mDNS discovery) is ready as soon as it is live. 503 otherwise.
 *
 * A 503 is the API's usual error (`{ code: "UNAVAILABLE", message, details }`); `details`
 * holds the same report a 200 carries, so a probe's log says which check failed.
 */
import { type Static, Type } from 'typebox';
import type { AgentStatus } from '../../agent/agent.js';
import type { ApiAgent } from '../agent-port.js';
import type { RouteModule } from '../app.js';
import { ApiErrorCode } from '../errors.js';
import { ErrorBody } from '../schemas.js';

const Check = Type.Object({
  ok: Type.Boolean(),
  message: Type.String({ description: 'What was checked and what was found, for a person.' }),
});

export const HealthReply = Type.Object({
  live: Type.Boolean({ description: 'The agent runs (its event loop answers) and its store is open.' }),
  ready: Type.Boolean({
    description: 'Live, and connected to a peer when join addresses are configured.',
  }),
  peerId: Type.Optional(Type.String()),
  checks: Type.Object({ store: Check, peers: Check }),
});
export type HealthReply = Static<typeof HealthReply>;

/** The health of an agent, from its status (a pure function of what `status()` returns or throws). */
export function assessHealth(agent: Pick<ApiAgent, 'status'>): HealthReply {
  let s: AgentStatus;
  try {
    s = agent.status();
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    return {
      live: false,
      ready: false,
      checks: {
        store: { ok: false, message: `The agent's store does not answer: ${why}` },
        peers: { ok: false, message: 'Unknown: the agent does not answer.' },
      },
    };
  }
  const connected = s.peers.filter((p) => p.connected).length;
  // A join address that turns out to be this agent itself (one seed list for every host) does not count.
  const joins = s.join.filter((j) => j.state !== 'self');
  const peersOk = joins.length === 0 || connected > 0;
  const dials = joins.map((j) => `${j.address}: ${j.state}, ${String(j.failures)} failed dial(s)`);
  const peers =
    joins.length === 0
      ? `No join addresses are configured; ${String(connected)} peer(s) connected.`
      : connected > 0
        ? `${String(connected)} peer(s) connected; ${String(joins.length)} join address(es) configured.`
        : `None of the ${String(joins.length)} join address(es) is connected yet (${dials.join('; ')}); ` +
          'the agent keeps dialing them with backoff.';
  return {
    live: true,
    ready: peersOk,
    peerId: s.peerId,
    checks: {
      store: {
        ok: true,
        message: `${String(s.log.events)} event(s) in the log, ${String(s.objects)} object(s).`,
      },
      peers: { ok: peersOk, message: peers },
    },
  };
}

export const healthRoutes: RouteModule = {
  name: 'health',
  register(app, ctx) {
    const route = (path: string, summary: string, healthy: (h: HealthReply) => boolean): void => {
      app.get(
        path,
        { schema: { summary, tags: ['agent'], response: { 200: HealthReply, 503: ErrorBody } } },
        async (_request, reply) => {
          const health = assessHealth(ctx.agent);
          if (healthy(health)) return reply.send(health);
          const failed = Object.values(health.checks).find((c) => !c.ok);
          return reply.status(503).send({
            code: ApiErrorCode.Unavailable,
            message: `The agent is not ${health.live ? 'ready' : 'live'}: ${failed?.message ?? 'unknown'}`,
            details: health,
          });
        },
      );
    };
    route('/v1/health', 'Liveness: the agent runs and its store is open (503 otherwise)', (h) => h.live);
    route(
      '/v1/health/ready',
      'Readiness: live, and connected to a peer when join addresses are configured (503 otherwise)',
      (h) => h.live && h.ready,
    );
  },
};
