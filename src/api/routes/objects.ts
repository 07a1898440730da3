/**
 * Routes for single objects, addressed by (type, key) as in DESIGN.md "Data model":
 * read, create, apply one op, delete, and list by prefix. Thin: validate, call the agent,
 * shape the reply. The key is the rest of the path after the type, so its `/` namespaces
 * read naturally (`/v1/objects/pn-counter/app/web/hits`).
 */
import { vcToRecord } from '../../core/clock/vector-clock.js';
import { isTypeName, TYPE_NAMES } from '../../core/crdt/crdt.js';
import { ErrorCode, fail } from '../../core/errors.js';
import { checkKey } from '../../core/keyspace.js';
import type { Limits } from '../../core/limits.js';
import { type ApiObjectRef, shownClock } from '../agent-port.js';
import type { RouteModule } from '../app.js';
import { ApiError, ApiErrorCode } from '../errors.js';
import {
  CreateReply,
  DEFAULT_LIST_LIMIT,
  DeleteReply,
  ErrorBody,
  ListReply,
  listQuery,
  ObjectParams,
  OpBody,
  OpReply,
  ReadReply,
} from '../schemas.js';

const errors = { 400: ErrorBody, 403: ErrorBody, 404: ErrorBody, 409: ErrorBody, 413: ErrorBody };

/** Writes of API clients obey the client-input rules, one type per key included (409 TYPE_CONFLICT). */
export const CLIENT = { oneTypePerKey: true } as const;

export const objectRoutes: RouteModule = {
  name: 'objects',
  register(app, ctx) {
    const { agent } = ctx;

    app.get(
      '/v1/objects/:type/*',
      {
        schema: {
          summary: 'Read one object',
          tags: ['objects'],
          params: ObjectParams,
          response: { 200: ReadReply, ...errors },
        },
      },
      (request) => {
        const { type, key } = objectRef(request.params, ctx.limits);
        const view = agent.read(type, key);
        if (!view) throw notFound(type, key);
        return { type, key, value: view.value, clock: vcToRecord(shownClock(agent, agent.clock())) };
      },
    );

    app.put(
      '/v1/objects/:type/*',
      {
        schema: {
          summary: 'Create an object (idempotent: 201 when created, 200 when it existed)',
          tags: ['objects'],
          params: ObjectParams,
          response: { 200: CreateReply, 201: CreateReply, ...errors },
        },
      },
      async (request, reply) => {
        const { type, key } = objectRef(request.params, ctx.limits);
        const existed = agent.read(type, key) !== undefined;
        // Written even when it exists: a create wins over a concurrent delete elsewhere.
        const { origin, seq } = await agent.write([{ type, key, op: { kind: 'create' } }], CLIENT);
        const value = agent.read(type, key)?.value ?? null;
        return reply.status(existed ? 200 : 201).send({ type, key, origin, seq, created: !existed, value });
      },
    );

    app.post(
      '/v1/objects/:type/*',
      {
        schema: {
          summary: "Apply one op of the object's type (creates the object if needed)",
          tags: ['objects'],
          params: ObjectParams,
          body: OpBody,
          response: { 200: OpReply, ...errors },
        },
      },
      async (request) => {
        const { type, key } = objectRef(request.params, ctx.limits);
        const { origin, seq } = await agent.write([{ type, key, op: request.body }], CLIENT);
        const view = agent.read(type, key);
        return { type, key, origin, seq, exists: view !== undefined, value: view?.value ?? null };
      },
    );

    app.delete(
      '/v1/objects/:type/*',
      {
        schema: {
          summary: 'Delete an object (removes what this agent has seen of it)',
          tags: ['objects'],
          params: ObjectParams,
          response: { 200: DeleteReply, ...errors },
        },
      },
      async (request) => {
        const { type, key } = objectRef(request.params, ctx.limits);
        // Deleting what this agent has not seen removes nothing: say so instead of writing an event.
        if (agent.read(type, key) === undefined) throw notFound(type, key);
        const { origin, seq } = await agent.write([{ type, key, op: { kind: 'delete' } }], CLIENT);
        return { type, key, origin, seq };
      },
    );

    app.get(
      '/v1/objects',
      {
        schema: {
          summary: 'List objects by key prefix, ordered by key then type, a page at a time',
          tags: ['objects'],
          querystring: listQuery(ctx.limits),
          response: { 200: ListReply, 400: ErrorBody },
        },
      },
      (request) => {
        const { prefix = '', after, limit = DEFAULT_LIST_LIMIT } = request.query;
        const clock = vcToRecord(shownClock(agent, agent.clock()));
        const all = agent.list(prefix);
        let start = 0;
        if (after !== undefined) {
          // The list is sorted by key: binary search for the first key after `after`.
          let hi = all.length;
          while (start < hi) {
            const mid = (start + hi) >>> 1;
            if ((all[mid]?.key ?? '') <= after) start = mid + 1;
            else hi = mid;
          }
        }
        let end = Math.min(all.length, start + limit);
        // Never split one key's objects (one per type) across pages: `next` is a key.
        while (end < all.length && end > start && all[end]?.key === all[end - 1]?.key) end++;
        const objects = all.slice(start, end).map((o) => ({ type: o.type, key: o.key, value: o.value }));
        const last = objects[objects.length - 1];
        return end < all.length && last ? { objects, clock, next: last.key } : { objects, clock };
      },
    );
  },
};

/** Validates the address in the URL with the core's own rules (UNKNOWN_TYPE, INVALID_KEY). */
function objectRef(params: ObjectParams, limits: Limits): ApiObjectRef {
  const type: unknown = params.type;
  if (!isTypeName(type)) {
    fail(
      ErrorCode.UnknownType,
      `Unknown CRDT type ${JSON.stringify(params.type).slice(0, 80)}; use one of ${TYPE_NAMES.join(', ')}.`,
    );
  }
  return { type, key: checkKey(params['*'], limits) };
}

function notFound(type: string, key: string): ApiError {
  return new ApiError(
    ApiErrorCode.NotFound,
    `No ${type} object with key ${JSON.stringify(key)} exists on this agent; create it with PUT or write an op with POST.`,
  );
}
