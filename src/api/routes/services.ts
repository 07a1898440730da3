/**
 * REST routes of service discovery (paper §IV-B "Service Discovery"; DESIGN.md "Services on
 * the CRDTs"): list services, query endpoints (healthy by default, `?all=true` for every
 * endpoint with its node and check status), register, deregister, and TTL heartbeats. Thin:
 * the schemas bound every input with the constants of src/services/bounds.ts, the Discovery
 * service validates again and does the work, and errors carry stable codes (SmacError
 * INVALID_ARGUMENT; ServiceError NOT_FOUND, NOT_LOCAL, NO_TTL_CHECK).
 *
 * A standalone Fastify plugin (`app.register(servicesRoutes, { services })`), and a
 * RouteModule for the API plugin's `routes` option (`servicesRouteModule(services)`).
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { type Static, Type } from 'typebox';
import {
  ADDRESS_MAX_LENGTH,
  ADDRESS_PATTERN,
  ENDPOINT_ID_MAX_LENGTH,
  MAX_INTERVAL_MS,
  MAX_META_KEYS,
  MAX_TAGS,
  MAX_TIMEOUT_MS,
  MAX_TTL_MS,
  META_VALUE_MAX_LENGTH,
  MIN_INTERVAL_MS,
  MIN_TIMEOUT_MS,
  MIN_TTL_MS,
  NAME_MAX_LENGTH,
  NAME_PATTERN,
  OUTPUT_MAX_LENGTH,
  TAG_MAX_LENGTH,
  TAG_PATTERN,
  URL_MAX_LENGTH,
} from '../../services/bounds.js';
import { type Discovery, type EndpointRecord, endpointFields } from '../../services/discovery.js';
import type { RouteModule } from '../app.js';
import { ErrorBody } from '../schemas.js';

const Name = Type.String({
  minLength: 1,
  maxLength: NAME_MAX_LENGTH,
  pattern: NAME_PATTERN,
  description: 'Service name: letters, digits, ".", "_", "-".',
});
const EndpointId = Type.String({
  minLength: 1,
  maxLength: ENDPOINT_ID_MAX_LENGTH,
  pattern: NAME_PATTERN,
  description: 'Endpoint id, unique within the service: letters, digits, ".", "_", "-".',
});
const Address = Type.String({ minLength: 1, maxLength: ADDRESS_MAX_LENGTH, pattern: ADDRESS_PATTERN });
const Port = Type.Integer({ minimum: 1, maximum: 65_535 });
const Tags = Type.Array(Type.String({ minLength: 1, maxLength: TAG_MAX_LENGTH, pattern: TAG_PATTERN }), {
  maxItems: MAX_TAGS,
});
const Meta = Type.Record(
  Type.String({ minLength: 1, maxLength: NAME_MAX_LENGTH, pattern: NAME_PATTERN }),
  Type.String({ maxLength: META_VALUE_MAX_LENGTH }),
  { maxProperties: MAX_META_KEYS, description: 'String values; at most 4 KiB as JSON.' },
);
const CheckStatus = Type.Union([Type.Literal('passing'), Type.Literal('warning'), Type.Literal('critical')]);
const IntervalMs = Type.Integer({
  minimum: MIN_INTERVAL_MS,
  maximum: MAX_INTERVAL_MS,
  description: 'Run every this many ms (after the previous run ended). Default 10000.',
});
const TimeoutMs = Type.Integer({
  minimum: MIN_TIMEOUT_MS,
  maximum: MAX_TIMEOUT_MS,
  description: 'No answer within this many ms is critical. Default 5000.',
});

// The branches do not forbid extra fields: an `anyOf` with additionalProperties false is
// mis-validated by Ajv's removeAdditional. The service rejects unknown check fields itself.
export const CheckBody = Type.Union(
  [
    Type.Object({
      type: Type.Literal('http'),
      url: Type.String({
        minLength: 1,
        maxLength: URL_MAX_LENGTH,
        description: 'http:// or https://; a 2xx passes.',
      }),
      intervalMs: Type.Optional(IntervalMs),
      timeoutMs: Type.Optional(TimeoutMs),
    }),
    Type.Object({
      type: Type.Literal('tcp'),
      host: Address,
      port: Port,
      intervalMs: Type.Optional(IntervalMs),
      timeoutMs: Type.Optional(TimeoutMs),
    }),
    Type.Object({
      type: Type.Literal('ttl'),
      ttlMs: Type.Integer({
        minimum: MIN_TTL_MS,
        maximum: MAX_TTL_MS,
        description: 'Passing while heartbeats arrive within this many ms.',
      }),
    }),
  ],
  { description: 'A health check run by the agent of the endpoint’s node.' },
);

export const ServiceParams = Type.Object({ name: Name });
export const EndpointParams = Type.Object({ name: Name, id: EndpointId });

export const RegisterBody = Type.Object(
  {
    address: Address,
    port: Port,
    tags: Type.Optional(Tags),
    meta: Type.Optional(Meta),
    check: Type.Optional(CheckBody),
  },
  { additionalProperties: false },
);
export type RegisterBody = Static<typeof RegisterBody>;

export const HeartbeatBody = Type.Object(
  {
    status: Type.Optional(CheckStatus),
    output: Type.Optional(Type.String({ maxLength: OUTPUT_MAX_LENGTH })),
  },
  { additionalProperties: false },
);

export const EndpointRecordReply = Type.Object({
  id: Type.String(),
  node: Type.String({ description: 'Peer id of the agent the endpoint is registered on.' }),
  address: Type.String(),
  port: Type.Integer(),
  tags: Type.Array(Type.String()),
  meta: Type.Record(Type.String(), Type.String()),
  check: Type.Optional(CheckBody),
});

export const EndpointViewReply = Type.Object({
  service: Type.String(),
  id: Type.String(),
  node: Type.String(),
  address: Type.String(),
  port: Type.Integer(),
  tags: Type.Array(Type.String()),
  meta: Type.Record(Type.String(), Type.String()),
  region: Type.Union([Type.String(), Type.Null()]),
  nodeStatus: Type.Union([Type.Literal('alive'), Type.Literal('dead')]),
  check: Type.Union([
    Type.Object({
      type: Type.Union([Type.Literal('http'), Type.Literal('tcp'), Type.Literal('ttl')]),
      status: CheckStatus,
      output: Type.String(),
      updatedAt: Type.Union([Type.Integer(), Type.Null()], {
        description: 'ms since the epoch; null before the first result.',
      }),
    }),
    Type.Null(),
  ]),
  healthy: Type.Boolean(),
});

export const ServicesReply = Type.Object({
  services: Type.Array(
    Type.Object({ name: Type.String(), endpoints: Type.Integer(), healthy: Type.Integer() }),
  ),
});
export const EndpointsReply = Type.Object({
  service: Type.String(),
  endpoints: Type.Array(EndpointViewReply),
});
export const RegisterReply = Type.Object({ service: Type.String(), endpoint: EndpointRecordReply });
export const HeartbeatReply = Type.Object({ status: CheckStatus, output: Type.String() });

const errors = { 400: ErrorBody, 404: ErrorBody, 409: ErrorBody, 413: ErrorBody };

export interface ServicesRoutesOptions {
  readonly services: Discovery;
}

/** The discovery routes as a Fastify plugin. */
export const servicesRoutes: FastifyPluginAsyncTypebox<ServicesRoutesOptions> = (app, { services }) => {
  app.get(
    '/v1/services',
    {
      schema: {
        summary: 'List services that have endpoints, with endpoint counts',
        tags: ['services'],
        response: { 200: ServicesReply },
      },
    },
    () => ({ services: services.services() }),
  );

  app.get(
    '/v1/services/:name',
    {
      schema: {
        summary: 'Endpoints of a service: healthy ones (node alive, check passing), or all with ?all=true',
        tags: ['services'],
        params: ServiceParams,
        querystring: Type.Object({ all: Type.Optional(Type.Boolean()) }),
        response: { 200: EndpointsReply, ...errors },
      },
    },
    (request) => {
      const { name } = request.params;
      const endpoints = services.healthy(name, { all: request.query.all === true });
      return { service: name, endpoints };
    },
  );

  app.put(
    '/v1/services/:name/endpoints/:id',
    {
      schema: {
        summary: 'Register an endpoint on this agent’s node (replaces an endpoint with the same id)',
        tags: ['services'],
        params: EndpointParams,
        body: RegisterBody,
        response: { 200: RegisterReply, ...errors },
      },
    },
    async (request) => {
      const { name, id } = request.params;
      const endpoint = await services.register(name, id, request.body);
      return { service: name, endpoint: recordReply(endpoint) };
    },
  );

  app.delete(
    '/v1/services/:name/endpoints/:id',
    {
      schema: {
        summary: 'Deregister an endpoint (on any node) and drop its check status',
        tags: ['services'],
        params: EndpointParams,
        response: { 204: Type.Null(), ...errors },
      },
    },
    async (request, reply) => {
      const { name, id } = request.params;
      await services.deregister(name, id);
      return reply.status(204).send(null);
    },
  );

  app.post(
    '/v1/services/:name/endpoints/:id/heartbeat',
    {
      schema: {
        summary:
          'Report a TTL check (passing unless the body says otherwise); only on the endpoint’s own agent',
        tags: ['services'],
        params: EndpointParams,
        body: Type.Union([HeartbeatBody, Type.Null()], { description: 'Optional.' }),
        response: { 200: HeartbeatReply, ...errors },
      },
    },
    async (request) => {
      const { name, id } = request.params;
      const body = request.body ?? {};
      return services.heartbeat(name, id, {
        ...(body.status === undefined ? {} : { status: body.status }),
        ...(body.output === undefined ? {} : { output: body.output }),
      });
    },
  );
  return Promise.resolve();
};

/** The same routes as a module of the API plugin: `smacApi` option `routes: [servicesRouteModule(d)]`. */
export function servicesRouteModule(services: Discovery): RouteModule {
  return {
    name: 'services',
    register: (app) => servicesRoutes(app, { services }),
  };
}

function recordReply(r: EndpointRecord): Static<typeof EndpointRecordReply> {
  return { ...endpointFields(r), ...(r.check ? { check: { ...r.check } } : {}) };
}
