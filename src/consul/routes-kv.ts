/**
 * `/v1/kv/<key>` read-only, in Consul's shapes (kv.ts): the entry at the key (404 when there
 * is none, with `X-Consul-Index` so that a client can block on its creation), every entry
 * under it with `?recurse`, their names with `?keys` (and `?separator`), the bytes alone with
 * `?raw`. Blocking queries wake on changes of keys under the requested one.
 */
import type { FastifyInstance, FastifyReply } from 'fastify';
import { answer, type ConsulContext, flag, type Query } from './context.js';
import { ConsulHttpError } from './errors.js';
import type { FeedTopic } from './feed.js';
import { kvEntries, kvJson, kvKeys } from './kv.js';
import { first } from './blocking.js';

export function kvRoutes(app: FastifyInstance, ctx: ConsulContext): void {
  app.get<{ Params: { '*': string } }>('/v1/kv/*', (request, reply) => {
    const query = request.query as Query;
    const key = request.params['*'];
    const keys = query.keys !== undefined;
    const recurse = keys || flag(query.recurse);
    const raw = !recurse && flag(query.raw);
    const separator = first(query.separator);
    const relevant = (t: FeedTopic): boolean =>
      t.kind === 'kv' && t.keys.some((k) => (recurse ? k.startsWith(key) : k === key));
    const view = JSON.stringify(['kv', key, recurse, keys ? (separator ?? '') : null]);
    return answer(
      ctx,
      request,
      reply,
      view,
      relevant,
      () => {
        const entries = kvEntries((p) => ctx.source.list(p), key, recurse);
        if (keys) return kvKeys(entries, key, separator);
        return entries.map((e) => kvJson(ctx.indexes, e));
      },
      (r: FastifyReply, body: unknown) => {
        const list = body as { Value?: string | null }[];
        // Consul: 404 for a key that is not there, or a prefix with nothing under it.
        if (list.length === 0) return r.status(404).type('text/plain').send('');
        if (raw) {
          const value = list[0]?.Value;
          return r
            .type('application/octet-stream')
            .send(value ? Buffer.from(value, 'base64') : Buffer.alloc(0));
        }
        return r.send(body);
      },
    );
  });

  const readOnly = (): never => {
    throw new ConsulHttpError(
      405,
      "SMAC's Consul listener is read-only: write keys through the SMAC API (docs/consul.md)",
    );
  };
  app.put('/v1/kv/*', readOnly);
  app.delete('/v1/kv/*', readOnly);
}
