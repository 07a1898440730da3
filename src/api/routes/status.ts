/**
 * Agent status (peers, clock, buffer depth, log size, lag) and Prometheus metrics (DESIGN.md
 * "Interfaces").
 */
import type { AgentStatus } from '../../agent/agent.js';
import type { RouteModule } from '../app.js';
import { StatusReply } from '../schemas.js';

export const statusRoutes: RouteModule = {
  name: 'status',
  register(app, ctx) {
    app.get(
      '/v1/status',
      {
        schema: { summary: 'Agent status', tags: ['agent'], response: { 200: StatusReply } },
      },
      () => statusReply(ctx.agent.status()),
    );

    app.get(
      '/metrics',
      { schema: { summary: 'Prometheus metrics (text exposition format)', tags: ['agent'] } },
      async (_request, reply) => {
        const text = await ctx.metrics.render(ctx.agent.status());
        return reply.type(ctx.metrics.contentType).send(text);
      },
    );
  },
};

/** The status as JSON has it: fields the agent leaves undefined are absent. */
function statusReply(s: AgentStatus): StatusReply {
  return {
    ...s,
    counters: { ...s.counters },
    peers: s.peers.map((p) => ({
      peerId: p.peerId,
      connected: p.connected,
      ...(p.region === undefined ? {} : { region: p.region }),
      ...(p.lastHeartbeatAgoMs === undefined ? {} : { lastHeartbeatAgoMs: p.lastHeartbeatAgoMs }),
      ...(p.lag === undefined ? {} : { lag: p.lag }),
    })),
  };
}
