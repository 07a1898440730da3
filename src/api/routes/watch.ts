/**
 * GET /v1/watch: changes under a key prefix as server-sent events (DESIGN.md "Services" →
 * Watches; the SSE format of the WHATWG HTML standard, §9.2). The stream logic lives in
 * watch-session.ts; this file puts it on the wire and bounds it: a concurrent-watch limit,
 * a heartbeat comment, a cap on bytes queued for a slow reader, and cleanup on disconnect
 * and on shutdown.
 *
 * Frames: `event: snapshot|change`, `id: <cursor>`, `data: <JSON>`. A client resumes with
 * `?cursor=<id>` or the standard `Last-Event-ID` header.
 */
import type { RouteModule } from '../app.js';
import { decodeCursor } from '../cursor.js';
import { ApiError, ApiErrorCode } from '../errors.js';
import { ErrorBody, watchQuery } from '../schemas.js';
import { WatchSession } from '../watch-session.js';

export const watchRoutes: RouteModule = {
  name: 'watch',
  register(app, ctx) {
    const open = new Set<() => void>();
    // Open streams would keep close() waiting forever: end them first.
    app.addHook('preClose', (done) => {
      for (const close of [...open]) close();
      done();
    });

    app.get(
      '/v1/watch',
      {
        schema: {
          summary: 'Follow changes under a key prefix (text/event-stream)',
          description:
            'Without a cursor the stream opens with a `snapshot` event, then sends `change` events. ' +
            'With a cursor it sends what changed after it, or a fresh `snapshot` when the agent ' +
            'compacted past it. Every event id is a cursor to resume from.',
          tags: ['watch'],
          querystring: watchQuery(ctx.limits),
          response: { 400: ErrorBody, 429: ErrorBody },
        },
      },
      (request, reply) => {
        const lastEventId = request.headers['last-event-id'];
        const raw = request.query.cursor ?? (typeof lastEventId === 'string' ? lastEventId : undefined);
        const cursor = raw === undefined || raw === '' ? undefined : decodeCursor(raw);
        if (!ctx.watches.tryAcquire()) {
          throw new ApiError(
            ApiErrorCode.TooManyWatches,
            `The agent already serves ${ctx.watches.max} watches; close one or raise the watch limit.`,
          );
        }
        void reply.hijack();
        const res = reply.raw;
        res.writeHead(200, {
          'content-type': 'text/event-stream; charset=utf-8',
          'cache-control': 'no-cache, no-transform',
          connection: 'keep-alive',
          'x-accel-buffering': 'no',
        });
        ctx.metrics.watchOpened();
        ctx.metrics.observeRequest('GET', '/v1/watch', 200, reply.elapsedTime / 1000);

        let closed = false;
        const close = (): void => {
          if (closed) return;
          closed = true;
          clearInterval(heartbeat);
          session.stop();
          open.delete(close);
          ctx.watches.release();
          ctx.metrics.watchClosed();
          if (!res.writableEnded) res.end();
        };
        const frame = (event: string, id: string, data: unknown): void => {
          if (closed) return;
          res.write(`event: ${event}\nid: ${id}\ndata: ${JSON.stringify(data)}\n\n`);
        };
        const session = new WatchSession(
          ctx.agent,
          request.query.prefix ?? '',
          {
            snapshot: (id, data) => {
              frame('snapshot', id, data);
            },
            change: (id, data) => {
              frame('change', id, data);
            },
            flush: () => {
              // A reader this far behind is not keeping up: end the stream (what is queued is
              // still delivered, up to a complete cursor), and let it resume from there.
              if (res.writableLength > ctx.watchBufferBytes) close();
            },
          },
          (e) => {
            request.log.error({ err: e }, 'watch failed; closing the stream');
            close();
          },
        );
        const heartbeat = setInterval(() => {
          try {
            session.check();
            if (closed) return;
            // A reader that stopped reading altogether would otherwise hold its slot forever.
            if (res.writableLength > ctx.watchBufferBytes) close();
            else res.write(': heartbeat\n\n');
          } catch (e) {
            request.log.error({ err: e }, 'watch check failed; closing the stream');
            close();
          }
        }, ctx.watchHeartbeatMs);
        heartbeat.unref();
        open.add(close);
        res.on('close', close);
        res.on('error', close);
        // Tells EventSource clients how soon to reconnect after a drop.
        res.write('retry: 1000\n\n');
        try {
          session.start(cursor);
        } catch (e) {
          request.log.error({ err: e }, 'watch failed to start; closing the stream');
          close();
        }
      },
    );
  },
};
