/**
 * The batch route: many ops, one event (DESIGN.md "Replication protocol": an event is one
 * atomic batch of ops from one origin). The core validates every op before it applies any,
 * so a batch is all or nothing; an error names the index of the op at fault.
 */
import type { RouteModule } from '../app.js';
import { BatchReply, batchBody, ErrorBody } from '../schemas.js';
import { CLIENT } from './objects.js';

export const batchRoutes: RouteModule = {
  name: 'batch',
  register(app, ctx) {
    app.post(
      '/v1/batch',
      {
        schema: {
          summary: 'Apply ops to several objects as one atomic event',
          tags: ['objects'],
          body: batchBody(ctx.limits),
          response: { 200: BatchReply, 400: ErrorBody, 403: ErrorBody, 409: ErrorBody, 413: ErrorBody },
        },
      },
      async (request) => {
        const { ops } = request.body;
        const { origin, seq } = await ctx.agent.write(ops, CLIENT);
        return { origin, seq, ops: ops.length };
      },
    );
  },
};
