/**
 * Health monitoring (paper §IV-B "Cluster Health Monitoring"): the members as this agent's
 * failure detector sees them — status alive / suspect / dead / left, incarnation, region, tags
 * and addresses — and the recent status transitions.
 */
import { type Static, Type } from 'typebox';
import type { Json } from '../../core/json.js';
import { ApiError, ApiErrorCode } from '../errors.js';
import type { RouteModule } from '../app.js';

export interface MembersSource {
  members(): {
    members: readonly {
      id: string;
      status: string;
      incarnation: number;
      region: string | undefined;
      meta: Json;
      sinceMs: number;
      rtt?: { srttMs: number; rttvarMs: number; lastMs: number; samples: number; probeTimeoutMs: number };
    }[];
    transitions: readonly { id: string; from: string | null; to: string; incarnation: number; at: number }[];
    /** The failure detector's counters (docs/membership.md). */
    probes?: object;
  };
  /**
   * Removes a member for good: compaction stops waiting for it once the cut is agreed. False if
   * it is unknown; throws an error with `code` TOO_MANY_FORCE_LEAVES when too many are pending.
   */
  forceLeave?(id: string): boolean;
  /** Whether the force-leave of `id` still waits for its reap to be agreed. */
  forceLeavePending?(id: string): boolean;
  /**
   * Records that a reaped member will not come back (src/agent/forgotten-members.ts). Throws an
   * error with `code` NOT_FOUND, MEMBER_NOT_REAPED or TOO_MANY_FORGOTTEN.
   */
  forget?(id: string): { peerId: string; at: number };
}

const FORGET_CODES: ReadonlySet<string> = new Set([
  ApiErrorCode.NotFound,
  ApiErrorCode.MemberNotReaped,
  ApiErrorCode.TooManyForgotten,
]);

const Member = Type.Object({
  id: Type.String(),
  status: Type.Union([
    Type.Literal('alive'),
    Type.Literal('suspect'),
    Type.Literal('dead'),
    Type.Literal('left'),
  ]),
  incarnation: Type.Integer(),
  region: Type.Optional(Type.String()),
  tags: Type.Record(Type.String(), Type.String()),
  addresses: Type.Array(Type.String()),
  rtt: Type.Optional(
    Type.Object(
      {
        srttMs: Type.Number({ description: 'smoothed round trip of our pings to it, ms' }),
        rttvarMs: Type.Number({ description: 'smoothed mean deviation, ms' }),
        lastMs: Type.Number({ description: 'latest sample, ms' }),
        samples: Type.Integer(),
        probeTimeoutMs: Type.Integer({ description: 'the probe timeout these give (docs/membership.md)' }),
      },
      { description: 'round trips measured by the failure detector (absent for self and the unprobed)' },
    ),
  ),
});

const Transition = Type.Object({
  id: Type.String(),
  from: Type.Union([Type.String(), Type.Null()]),
  to: Type.String(),
  incarnation: Type.Integer(),
  at: Type.String({ description: 'ISO 8601 time of the transition' }),
});

const Probes = Type.Object(
  {
    probes: Type.Integer(),
    probesOutOfTurn: Type.Integer({ description: 'probes moved forward because the connection was lost' }),
    pingTimeouts: Type.Integer({ description: 'direct pings not acked within their timeout' }),
    probeFailures: Type.Integer({ description: 'probes that ended without any ack' }),
    probeRetries: Type.Optional(
      Type.Integer({ description: 'failed probes followed at once by another attempt (probeAttempts)' }),
    ),
    suspicionsRaised: Type.Integer(),
    refutations: Type.Integer(),
    staleAcks: Type.Integer(),
    healthScore: Type.Integer(),
    transport: Type.Optional(Type.Record(Type.String(), Type.Integer())),
  },
  { description: "this agent's failure-detector counters" },
);

const MembersReply = Type.Object({
  members: Type.Array(Member),
  transitions: Type.Array(Transition),
  probes: Type.Optional(Probes),
});

export function membersRouteModule(source: MembersSource): RouteModule {
  return {
    name: 'members',
    register(app) {
      app.get(
        '/v1/members',
        {
          schema: {
            summary: 'Cluster members with their health status, region and tags, and recent transitions',
            tags: ['health'],
            querystring: Type.Object({
              status: Type.Optional(
                Type.Union([
                  Type.Literal('alive'),
                  Type.Literal('suspect'),
                  Type.Literal('dead'),
                  Type.Literal('left'),
                ]),
              ),
            }),
            response: { 200: MembersReply },
          },
        },
        (request) => {
          const { members, transitions, probes } = source.members();
          const wanted = (request.query as { status?: string }).status;
          return {
            members: members
              .filter((m) => wanted === undefined || m.status === wanted)
              .map((m) => {
                const meta = (
                  typeof m.meta === 'object' && m.meta !== null && !Array.isArray(m.meta) ? m.meta : {}
                ) as {
                  tags?: unknown;
                  addrs?: unknown;
                };
                const tags =
                  typeof meta.tags === 'object' && meta.tags !== null
                    ? (meta.tags as Record<string, string>)
                    : {};
                const addresses = Array.isArray(meta.addrs)
                  ? meta.addrs.filter((a): a is string => typeof a === 'string')
                  : [];
                return {
                  id: m.id,
                  status: m.status as 'alive',
                  incarnation: m.incarnation,
                  ...(m.region === undefined ? {} : { region: m.region }),
                  tags,
                  addresses,
                  ...(m.rtt === undefined
                    ? {}
                    : {
                        rtt: {
                          srttMs: round1(m.rtt.srttMs),
                          rttvarMs: round1(m.rtt.rttvarMs),
                          lastMs: round1(m.rtt.lastMs),
                          samples: m.rtt.samples,
                          probeTimeoutMs: m.rtt.probeTimeoutMs,
                        },
                      }),
                };
              }),
            transitions: transitions.map((t) => ({ ...t, at: new Date(t.at).toISOString() })),
            ...(probes === undefined ? {} : { probes: probes as Static<typeof Probes> }),
          };
        },
      );
      app.post(
        '/v1/members/:id/force-leave',
        {
          schema: {
            summary:
              'Removes a member that will not come back: compaction stops waiting for it (docs/agent.md, "Reaping")',
            tags: ['health'],
            params: Type.Object({ id: Type.String({ minLength: 1, maxLength: 128 }) }),
            response: {
              200: Type.Object({
                id: Type.String(),
                removed: Type.Boolean(),
                pending: Type.Boolean({
                  description:
                    'true while the reap waits for every member to agree on the cut (kept across restarts; `compaction.forceLeaves` in GET /v1/status)',
                }),
              }),
            },
          },
        },
        (request) => {
          const { id } = request.params;
          let removed: boolean | undefined;
          try {
            removed = source.forceLeave?.(id);
          } catch (e) {
            if ((e as { code?: unknown }).code === ApiErrorCode.TooManyForceLeaves)
              throw new ApiError(ApiErrorCode.TooManyForceLeaves, (e as Error).message);
            throw e;
          }
          if (removed !== true)
            throw new ApiError(
              ApiErrorCode.NotFound,
              `No member ${id} holds compaction back here; see GET /v1/status.`,
            );
          return { id, removed: true, pending: source.forceLeavePending?.(id) ?? false };
        },
      );
      app.post(
        '/v1/members/:id/forget',
        {
          schema: {
            summary:
              'Records that a reaped member will not come back: this agent stops keeping its client writes for a re-run against it (docs/agent.md, "Forgetting a reaped member")',
            tags: ['health'],
            params: Type.Object({ id: Type.String({ minLength: 1, maxLength: 128 }) }),
            response: {
              200: Type.Object({
                id: Type.String(),
                forgotten: Type.Boolean(),
                at: Type.String({ description: 'ISO 8601 time it was forgotten (the first time)' }),
              }),
            },
          },
        },
        (request) => {
          const { id } = request.params;
          if (!source.forget) throw new ApiError(ApiErrorCode.NotFound, 'This agent forgets no members.');
          let m: { peerId: string; at: number };
          try {
            m = source.forget(id);
          } catch (e) {
            const code = (e as { code?: unknown }).code;
            if (typeof code === 'string' && FORGET_CODES.has(code))
              throw new ApiError(code as ApiErrorCode, (e as Error).message);
            throw e;
          }
          return { id: m.peerId, forgotten: true, at: new Date(m.at).toISOString() };
        },
      );
    },
  };
}

function round1(x: number): number {
  return Math.round(x * 10) / 10;
}
