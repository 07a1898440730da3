/**
 * What queries answer: the endpoint records of a service combined with their check statuses
 * and with `Liveness`, so the endpoints of a dead node drop out of default answers without
 * anyone deregistering them.
 */
import type { CheckDefinition, CheckStatus } from './checks.js';
import type { KeyspaceHost, Liveness } from './host.js';
import { isSafeName } from './bounds.js';
import {
  checkStatuses,
  endpointFields,
  PENDING_OUTPUT,
  SERVICES_PREFIX,
  storedRecords,
} from './service-keyspace.js';

export interface EndpointView {
  readonly service: string;
  readonly id: string;
  readonly node: string;
  readonly address: string;
  readonly port: number;
  readonly tags: string[];
  readonly meta: Record<string, string>;
  readonly region: string | null;
  readonly nodeStatus: 'alive' | 'dead';
  /** null: the endpoint has no check (it counts as passing). `updatedAt` null: no result yet. */
  readonly check: {
    readonly type: CheckDefinition['type'];
    readonly status: CheckStatus;
    readonly output: string;
    readonly updatedAt: number | null;
  } | null;
  /** Its node is alive and its check passes (or it has none): what default queries return. */
  readonly healthy: boolean;
}

export interface ServiceSummary {
  readonly name: string;
  readonly endpoints: number;
  readonly healthy: number;
}

/** Every endpoint of service `name`, by id then node. */
export function endpointViews(host: KeyspaceHost, liveness: Liveness, name: string): EndpointView[] {
  const statuses = checkStatuses(host, name);
  const self = host.peerId;
  const out = storedRecords(host, name).map(({ record: r }): EndpointView => {
    const alive = r.node === self || liveness.isAlive(r.node);
    let check: EndpointView['check'] = null;
    if (r.check) {
      const s = statuses.get(r.id);
      // A status written by another node belongs to another record with this id.
      check =
        s?.node === r.node
          ? { type: r.check.type, status: s.status, output: s.output, updatedAt: s.updatedAt }
          : { type: r.check.type, status: 'critical', output: PENDING_OUTPUT, updatedAt: null };
    }
    return {
      service: name,
      ...endpointFields(r),
      region: liveness.region(r.node) ?? null,
      nodeStatus: alive ? 'alive' : 'dead',
      check,
      healthy: alive && (check === null || check.status === 'passing'),
    };
  });
  return out.sort((a, b) => compare(a.id, b.id) || compare(a.node, b.node));
}

/** Services with at least one endpoint, by name, with endpoint counts. */
export function serviceSummaries(host: KeyspaceHost, liveness: Liveness): ServiceSummary[] {
  const out: ServiceSummary[] = [];
  for (const o of host.list(SERVICES_PREFIX)) {
    if (o.type !== 'rw-set') continue;
    const name = o.key.slice(SERVICES_PREFIX.length);
    if (!isSafeName(name)) continue;
    const views = endpointViews(host, liveness, name);
    if (views.length === 0) continue;
    out.push({ name, endpoints: views.length, healthy: views.filter((v) => v.healthy).length });
  }
  return out;
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
