/**
 * What the Consul routes share: the agent, the indexes, the change feed, and the replies in
 * Consul's manner (`X-Consul-Index` and the headers Consul's Go client requires).
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { type Answer, block, type BlockingParams, first, parseBlocking } from './blocking.js';
import { datacenters, type EntryFilter } from './catalog.js';
import { ConsulHttpError } from './errors.js';
import type { ConsulFeed, FeedTopic } from './feed.js';
import type { ConsulIndexes } from './indexes.js';
import type { ConsulSource } from './source.js';

export interface ConsulContext {
  readonly source: ConsulSource;
  readonly indexes: ConsulIndexes;
  readonly feed: ConsulFeed;
  /** Most blocking queries waiting at once; past it a blocking query gets 429. */
  readonly maxBlocking: number;
  /** Aborted when the listener closes: every waiting query answers at once. */
  readonly closing: AbortSignal;
  /** Blocking queries waiting now (mutable, shared by the routes of one listener). */
  readonly waiting: { count: number };
  readonly random?: () => number;
}

export type Query = Readonly<Record<string, unknown>>;

/** Every value of a repeatable query parameter. */
export function all(v: unknown): string[] {
  if (Array.isArray(v)) return v.filter((x): x is string => typeof x === 'string');
  return typeof v === 'string' ? [v] : [];
}

/** A boolean flag as Consul reads one: present means true, unless it says false. */
export function flag(v: unknown): boolean {
  const s = first(v);
  return s !== undefined && s !== 'false' && s !== '0';
}

/** `?dc`, `?tag`, `?node-meta`; throws 500 "No path to datacenter" for a region nobody is in. */
export function entryFilter(ctx: ConsulContext, query: Query): EntryFilter {
  const dc = first(query.dc);
  if (dc !== undefined && dc !== '' && !datacenters(ctx.source).includes(dc))
    throw new ConsulHttpError(500, 'No path to datacenter');
  const nodeMeta = all(query['node-meta']).map((s): [string, string] => {
    const at = s.indexOf(':');
    return at < 0 ? [s, ''] : [s.slice(0, at), s.slice(at + 1)];
  });
  return { dc: dc === undefined || dc === '' ? ctx.source.region : dc, tags: all(query.tag), nodeMeta };
}

/**
 * Answers a read: at once, or as a blocking query when `?index` asks for one. `view` names
 * the answer (the same name for the same question), `compute` builds its body.
 */
export async function answer(
  ctx: ConsulContext,
  request: FastifyRequest,
  reply: FastifyReply,
  view: string,
  relevant: (topic: FeedTopic) => boolean,
  compute: () => unknown,
  send: (reply: FastifyReply, body: unknown) => unknown = (r, b) => r.send(b),
): Promise<unknown> {
  const params: BlockingParams = parseBlocking(request.query as Query);
  // Ignoring a filter would answer more than was asked, silently: refuse it instead.
  if ((first((request.query as Query).filter) ?? '') !== '')
    throw new ConsulHttpError(
      400,
      'Filter expressions (?filter=) are not supported by SMAC (docs/consul.md)',
    );
  const computeAnswer = (): Answer<unknown> => {
    const body = compute();
    return { index: ctx.indexes.view(view, body), body };
  };
  const blocking = params.index !== undefined && params.index > 0;
  if (blocking && ctx.waiting.count >= ctx.maxBlocking)
    throw new ConsulHttpError(429, `Too many blocking queries (${ctx.maxBlocking}); retry later`);
  const gone = new AbortController();
  const onGone = (): void => {
    gone.abort();
  };
  ctx.closing.addEventListener('abort', onGone);
  reply.raw.once('close', onGone);
  if (blocking) ctx.waiting.count++;
  try {
    const result = await block({
      feed: ctx.feed,
      params,
      relevant,
      compute: computeAnswer,
      signal: gone.signal,
      ...(ctx.random ? { random: ctx.random } : {}),
    });
    void reply
      .header('x-consul-index', String(result.index))
      .header('x-consul-knownleader', 'false')
      .header('x-consul-lastcontact', '0');
    return send(reply, result.body);
  } finally {
    if (blocking) ctx.waiting.count--;
    ctx.closing.removeEventListener('abort', onGone);
    reply.raw.off('close', onGone);
  }
}

/** Wakes catalog and health queries. */
export const catalogTopic = (t: FeedTopic): boolean => t.kind === 'catalog';
