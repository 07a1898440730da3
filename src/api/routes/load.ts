/**
 * REST routes of load monitoring (paper §IV-B "Load Monitoring"; DESIGN.md "Services on the
 * CRDTs"): list metrics, read a metric (sum over live nodes, per node, per region, for its
 * counter and its gauge), and change this node's counter or gauge. Thin: schemas bound the
 * input with the constants of src/services/bounds.ts; the LoadMonitor validates again.
 *
 * A standalone Fastify plugin (`app.register(loadRoutes, { load })`), and a RouteModule for
 * the API plugin's `routes` option (`loadRouteModule(load)`).
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { MAX_LOAD_DELTA, NAME_MAX_LENGTH, NAME_PATTERN } from '../../services/bounds.js';
import type { LoadMonitor } from '../../services/load.js';
import type { RouteModule } from '../app.js';
import { ErrorBody } from '../schemas.js';

export const MetricParams = Type.Object({
  metric: Type.String({
    minLength: 1,
    maxLength: NAME_MAX_LENGTH,
    pattern: NAME_PATTERN,
    description: 'Metric name: letters, digits, ".", "_", "-".',
  }),
});

const CounterValue = Type.Union([
  Type.Integer(),
  Type.String({ description: 'Decimal, beyond ±(2^53 − 1).' }),
]);

function figures<V extends typeof CounterValue | ReturnType<typeof Type.Number>>(value: V) {
  return Type.Union([
    Type.Object({
      sum: value,
      count: Type.Integer({ description: 'Live nodes that reported.' }),
      nodes: Type.Array(
        Type.Object({
          node: Type.String(),
          value,
          alive: Type.Boolean(),
          region: Type.Union([Type.String(), Type.Null()]),
        }),
        { description: 'Every node that reported, live or not.' },
      ),
      regions: Type.Record(Type.String(), value, { description: 'Sum over the live nodes of each region.' }),
    }),
    Type.Null(),
  ]);
}

export const LoadReply = Type.Object({
  metric: Type.String(),
  counter: figures(CounterValue),
  gauge: figures(Type.Number()),
});

export const MetricsReply = Type.Object({
  metrics: Type.Array(Type.Object({ name: Type.String(), counter: Type.Boolean(), gauge: Type.Boolean() })),
});

export const DeltaBody = Type.Object(
  { by: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_LOAD_DELTA, description: 'Default 1.' })) },
  { additionalProperties: false },
);

export const GaugeBody = Type.Object({ value: Type.Number() }, { additionalProperties: false });

const CounterReply = Type.Object({ metric: Type.String(), node: Type.String(), value: CounterValue });
const GaugeReply = Type.Object({ metric: Type.String(), node: Type.String(), value: Type.Number() });

const errors = { 400: ErrorBody, 404: ErrorBody };

export interface LoadRoutesOptions {
  readonly load: LoadMonitor;
}

/** The load routes as a Fastify plugin. */
export const loadRoutes: FastifyPluginAsyncTypebox<LoadRoutesOptions> = (app, { load }) => {
  const node = (): string => load.node;

  app.get(
    '/v1/load',
    {
      schema: {
        summary: 'List metrics with a counter or a gauge',
        tags: ['load'],
        response: { 200: MetricsReply },
      },
    },
    () => ({ metrics: load.metrics() }),
  );

  app.get(
    '/v1/load/:metric',
    {
      schema: {
        summary: 'A metric: sum over live nodes, per node and per region, for its counter and gauge',
        tags: ['load'],
        params: MetricParams,
        response: { 200: LoadReply, ...errors },
      },
    },
    (request) => load.query(request.params.metric),
  );

  for (const kind of ['increment', 'decrement'] as const) {
    app.post(
      `/v1/load/:metric/${kind}`,
      {
        schema: {
          summary: `${kind === 'increment' ? 'Raise' : 'Lower'} this node's counter (by 1 unless "by" says otherwise)`,
          tags: ['load'],
          params: MetricParams,
          body: Type.Union([DeltaBody, Type.Null()], { description: 'Optional.' }),
          response: { 200: CounterReply, ...errors },
        },
      },
      async (request) => {
        const { metric } = request.params;
        const by = request.body?.by;
        const value =
          kind === 'increment' ? await load.increment(metric, by) : await load.decrement(metric, by);
        return { metric, node: node(), value };
      },
    );
  }

  app.delete(
    '/v1/load/:metric/counter',
    {
      schema: {
        summary: "Reset this node's counter to zero (e.g. after a restart)",
        tags: ['load'],
        params: MetricParams,
        response: { 204: Type.Null(), ...errors },
      },
    },
    async (request, reply) => {
      await load.resetCounter(request.params.metric);
      return reply.status(204).send(null);
    },
  );

  app.put(
    '/v1/load/:metric/gauge',
    {
      schema: {
        summary: "Set this node's gauge",
        tags: ['load'],
        params: MetricParams,
        body: GaugeBody,
        response: { 200: GaugeReply, ...errors },
      },
    },
    async (request) => {
      const { metric } = request.params;
      await load.setGauge(metric, request.body.value);
      return { metric, node: node(), value: request.body.value };
    },
  );

  app.delete(
    '/v1/load/:metric/gauge',
    {
      schema: {
        summary: "Remove this node's gauge (it stops reporting)",
        tags: ['load'],
        params: MetricParams,
        response: { 204: Type.Null(), ...errors },
      },
    },
    async (request, reply) => {
      await load.clearGauge(request.params.metric);
      return reply.status(204).send(null);
    },
  );
  return Promise.resolve();
};

/** The same routes as a module of the API plugin: `smacApi` option `routes: [loadRouteModule(l)]`. */
export function loadRouteModule(load: LoadMonitor): RouteModule {
  return { name: 'load', register: (app) => loadRoutes(app, { load }) };
}
