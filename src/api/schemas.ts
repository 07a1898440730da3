/**
 * TypeBox schemas of the REST API: the single source of request validation, response
 * serialization, the OpenAPI document and the TypeScript types the client SDK uses (fastify's
 * type-provider pattern, STYLE.md).
 *
 * Keys and type names are plain strings here on purpose: the core checks them exactly
 * (`checkKey`, `isTypeName`) and answers INVALID_KEY / UNKNOWN_TYPE, one code per problem
 * wherever the key arrives (URL or body). They are bounded all the same: a URL by the HTTP
 * parser's header limit, a body by the listener's body limit.
 */
import { type Static, Type } from 'typebox';
import { TYPE_NAMES } from '../core/crdt/crdt.js';
import type { Limits } from '../core/limits.js';
import { MAX_CURSOR_CHARS } from './cursor.js';

/** Most objects one list call returns. */
export const MAX_LIST_LIMIT = 1000;
export const DEFAULT_LIST_LIMIT = 100;

const typeDoc = `CRDT type: one of ${TYPE_NAMES.join(', ')}.`;

export const ErrorBody = Type.Object(
  {
    code: Type.String({ description: 'Stable error code (see docs/api.md).' }),
    message: Type.String({ description: 'What went wrong and what to do about it.' }),
    details: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
  },
  { description: 'Every error response.' },
);
export type ErrorBody = Static<typeof ErrorBody>;

export const Clock = Type.Record(Type.String(), Type.Integer({ minimum: 0 }), {
  description: 'Vector clock: events delivered per origin peer id.',
});
export type Clock = Static<typeof Clock>;

export const ObjectParams = Type.Object({
  type: Type.String({ description: typeDoc }),
  '*': Type.String({ description: 'The key: UTF-8, `/`-separated namespaces, each segment URL-encoded.' }),
});
export type ObjectParams = Static<typeof ObjectParams>;

export const ObjectView = Type.Object({
  type: Type.String({ description: typeDoc }),
  key: Type.String(),
  value: Type.Unknown({
    description: 'The JSON value (its shape depends on the type; see docs/semantics.md).',
  }),
});
export type ObjectView = Static<typeof ObjectView>;

export const ReadReply = Type.Object({
  type: Type.String(),
  key: Type.String(),
  value: Type.Unknown(),
  clock: Clock,
});
export type ReadReply = Static<typeof ReadReply>;

/** The type's op, e.g. `{ "kind": "increment", "by": 2 }`; validated exactly by the type itself. */
export const OpBody = Type.Object(
  { kind: Type.String({ maxLength: 64 }) },
  { additionalProperties: true, description: 'An op of the object type (see docs/semantics.md).' },
);
export type OpBody = Static<typeof OpBody>;

export const WriteFields = {
  origin: Type.String({ description: 'Peer id of the agent that made the event.' }),
  seq: Type.Integer({ minimum: 1, description: 'Sequence number of the event at its origin.' }),
};

export const OpReply = Type.Object({
  type: Type.String(),
  key: Type.String(),
  ...WriteFields,
  exists: Type.Boolean({ description: 'Whether the object exists after the op.' }),
  value: Type.Unknown({ description: 'The value after the op (null when it does not exist).' }),
});
export type OpReply = Static<typeof OpReply>;

export const CreateReply = Type.Object({
  type: Type.String(),
  key: Type.String(),
  ...WriteFields,
  created: Type.Boolean({ description: 'False when the object already existed here.' }),
  value: Type.Unknown(),
});
export type CreateReply = Static<typeof CreateReply>;

export const DeleteReply = Type.Object({ type: Type.String(), key: Type.String(), ...WriteFields });
export type DeleteReply = Static<typeof DeleteReply>;

export function listQuery(limits: Limits) {
  return Type.Object({
    prefix: Type.Optional(Type.String({ maxLength: limits.maxKeyBytes, description: 'Key prefix.' })),
    after: Type.Optional(
      Type.String({
        maxLength: limits.maxKeyBytes,
        description: 'Return keys greater than this one (the `next` of the previous page).',
      }),
    ),
    limit: Type.Optional(
      Type.Integer({ minimum: 1, maximum: MAX_LIST_LIMIT, description: `Default ${DEFAULT_LIST_LIMIT}.` }),
    ),
  });
}
export type ListQuery = Static<ReturnType<typeof listQuery>>;

export const ListReply = Type.Object({
  objects: Type.Array(ObjectView),
  clock: Clock,
  next: Type.Optional(
    Type.String({ description: 'Present when more objects follow: pass it as `after` for the next page.' }),
  ),
});
export type ListReply = Static<typeof ListReply>;

export const KeyOp = Type.Object({
  type: Type.String({ description: typeDoc }),
  key: Type.String(),
  op: Type.Object(
    { kind: Type.String({ maxLength: 64 }) },
    {
      additionalProperties: true,
      description: 'A type op, or { "kind": "create" } / { "kind": "delete" } for the object itself.',
    },
  ),
});
export type KeyOp = Static<typeof KeyOp>;

export function batchBody(limits: Limits) {
  return Type.Object({
    ops: Type.Array(KeyOp, { minItems: 1, maxItems: limits.maxOpsPerEvent }),
  });
}
export type BatchBody = Static<ReturnType<typeof batchBody>>;

export const BatchReply = Type.Object({ ...WriteFields, ops: Type.Integer({ minimum: 1 }) });
export type BatchReply = Static<typeof BatchReply>;

export function watchQuery(limits: Limits) {
  return Type.Object({
    prefix: Type.Optional(Type.String({ maxLength: limits.maxKeyBytes, description: 'Key prefix.' })),
    cursor: Type.Optional(
      Type.String({
        maxLength: MAX_CURSOR_CHARS,
        description: 'Resume after this cursor (an SSE `id`); the `Last-Event-ID` header works too.',
      }),
    ),
  });
}
export type WatchQuery = Static<ReturnType<typeof watchQuery>>;

/** `data` of a `snapshot` SSE event: every object under the prefix. */
export const SnapshotData = Type.Object({ objects: Type.Array(ObjectView), clock: Clock });
export type SnapshotData = Static<typeof SnapshotData>;

/** `data` of a `change` SSE event. `origin`/`seq` name the event when the change is live. */
export const ChangeData = Type.Object({
  type: Type.String(),
  key: Type.String(),
  value: Type.Optional(Type.Unknown()),
  deleted: Type.Optional(Type.Literal(true)),
  origin: Type.Optional(Type.String()),
  seq: Type.Optional(Type.Integer()),
});
export type ChangeData = Static<typeof ChangeData>;

const PeerStatus = Type.Object(
  {
    peerId: Type.String(),
    region: Type.Optional(Type.String()),
    connected: Type.Boolean(),
    lastHeartbeatAgoMs: Type.Optional(Type.Number()),
    lag: Type.Optional(Type.Integer()),
  },
  { additionalProperties: true },
);

export const StatusReply = Type.Object(
  {
    peerId: Type.String(),
    region: Type.String(),
    addresses: Type.Array(Type.String()),
    peers: Type.Array(PeerStatus),
    clock: Clock,
    retired: Type.Optional(
      Type.Record(Type.String(), Type.Integer({ minimum: 0 }), {
        description: 'Retired (reaped) epochs and their cuts, left out of `clock` once held up to the cut.',
      }),
    ),
    buffered: Type.Integer({ description: 'Events waiting in the causal buffer.' }),
    log: Type.Object(
      {
        events: Type.Integer(),
        bytes: Type.Integer(),
        lastPos: Type.Integer(),
        compacted: Clock,
      },
      { additionalProperties: true },
    ),
    objects: Type.Integer(),
    counters: Type.Record(Type.String(), Type.Number()),
  },
  { additionalProperties: true },
);
export type StatusReply = Static<typeof StatusReply>;
