/**
 * Service discovery on the CRDT keyspace (paper §IV-B "Service Discovery"; DESIGN.md "Services
 * on the CRDTs"). Nothing here is stored beside the keyspace: every agent answers queries from
 * its own replica, and registrations replicate like any other write.
 *
 * - `_sys/services/<name>` is a remove-wins set (rw-set) of endpoint records
 *   `{ id, node, address, port, tags, meta, check? }`. Remove-wins, as the paper suggests: a
 *   deregistration must not be undone by a concurrent add of the same record, because routing
 *   traffic to an endpoint that was taken down costs more than missing one until it registers
 *   again. A set (not a register) lets several endpoints serve side by side, e.g. while a new
 *   version rolls out.
 * - `_sys/checks/<name>` is an OR-map: field = endpoint id, an lww-register holding
 *   `{ status, output, node, updatedAt }`, written only by the node that runs the check, and
 *   only when the status changes (or every `refreshMs`), to keep traffic low.
 *
 * Checks run on the endpoint's own node. The set of running checks follows the replicated
 * records (a reconciler driven by `onChange`), so a restart, a deregistration from another
 * agent, or an endpoint moving to another node all start or stop checks without extra calls.
 * Queries combine the records with the check statuses and with `Liveness`, so the endpoints
 * of a dead node drop out of default answers without anyone deregistering them.
 *
 * This file holds the API, registration and the reconciler; the keyspace layout and its
 * validation are in service-keyspace.ts, status writes in status-writer.ts, query answers in
 * endpoint-views.ts, and the checks themselves in checks.ts.
 */
import { ErrorCode, fail } from '../core/errors.js';
import { canonicalJson, isRecord, type Json } from '../core/json.js';
import {
  checkAddress,
  checkEndpointId,
  checkMeta,
  checkPort,
  checkServiceName,
  checkTags,
  clipOutput,
} from './bounds.js';
import {
  type CheckDefinition,
  type CheckResult,
  CheckRunner,
  type CheckStatus,
  isCheckStatus,
  parseCheckDefinition,
  sameCheck,
} from './checks.js';
import { type EndpointView, endpointViews, type ServiceSummary, serviceSummaries } from './endpoint-views.js';
import { type KeyspaceHost, type Liveness, type ServiceLogger, silentLogger } from './host.js';
import { ServiceError, ServiceErrorCode } from './service-errors.js';
import {
  checkId,
  checkStatuses,
  type EndpointRecord,
  hasStatusField,
  isCheckOf,
  MAX_RECORD_BYTES,
  PENDING_OUTPUT,
  removeStatusOp,
  serviceOfKey,
  SERVICES_PREFIX,
  splitCheckId,
  statusOp,
  storedRecords,
} from './service-keyspace.js';
import { StatusWriter } from './status-writer.js';

export {
  CHECKS_PREFIX,
  type CheckState,
  type EndpointRecord,
  endpointFields,
  MAX_RECORD_BYTES,
  parseRecord,
  PENDING_OUTPUT,
  SERVICES_PREFIX,
} from './service-keyspace.js';
export type { EndpointView, ServiceSummary } from './endpoint-views.js';

/** What a caller registers; the endpoint's node is always the registering agent's. */
export interface EndpointInput {
  readonly address: string;
  readonly port: number;
  readonly tags?: readonly string[];
  readonly meta?: Readonly<Record<string, string>>;
  readonly check?: unknown;
}

export interface DiscoveryOptions {
  readonly host: KeyspaceHost;
  readonly liveness: Liveness;
  /** Wall clock in ms (status timestamps, TTL deadlines); injectable for tests. */
  readonly now?: () => number;
  /**
   * An unchanged check status is written again this often, so `updatedAt` shows readers the
   * check is still running. Shorter: fresher timestamps, more events per endpoint.
   */
  readonly refreshMs?: number;
  /** Checks probing at once on this agent (HTTP and TCP). */
  readonly maxConcurrentChecks?: number;
  readonly logger?: ServiceLogger;
}

export const DEFAULT_REFRESH_MS = 60_000;

export class Discovery {
  private readonly host: KeyspaceHost;
  private readonly liveness: Liveness;
  private readonly now: () => number;
  private readonly runner: CheckRunner;
  /** Writes the status changes of the checks this agent runs. */
  private readonly statusWriter: StatusWriter;
  private unsubscribe: (() => void) | undefined;

  constructor(options: DiscoveryOptions) {
    this.host = options.host;
    this.liveness = options.liveness;
    this.now = options.now ?? Date.now;
    this.statusWriter = new StatusWriter(
      this.host,
      this.now,
      options.refreshMs ?? DEFAULT_REFRESH_MS,
      options.logger ?? silentLogger,
    );
    this.runner = new CheckRunner({
      now: this.now,
      ...(options.maxConcurrentChecks !== undefined ? { maxConcurrent: options.maxConcurrentChecks } : {}),
      onResult: (id, result) => {
        this.statusWriter.onResult(id, result);
      },
    });
  }

  /** Starts the checks of this node's endpoints and follows the replicated records. */
  start(): void {
    if (this.unsubscribe) return;
    this.unsubscribe = this.host.onChange(({ objects }) => {
      const names = new Set<string>();
      for (const o of objects) {
        const name = serviceOfKey(o.key);
        if (name !== undefined) names.add(name);
      }
      for (const name of names) this.reconcile(name);
    });
    this.runner.start();
    const names = new Set<string>();
    for (const o of this.host.list('_sys/')) {
      const name = serviceOfKey(o.key);
      if (name !== undefined) names.add(name);
    }
    for (const name of names) this.reconcile(name);
  }

  /** Stops every check; status writes already queued are flushed first. */
  async stop(): Promise<void> {
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    this.runner.stop();
    await this.statusWriter.flush().catch(() => undefined);
  }

  // ---- writes -----------------------------------------------------------------------------

  /**
   * Registers an endpoint of service `name` on this node. An endpoint with the same id is
   * replaced in the same event (its old record removed, the new one added), whichever node it
   * was on. A new or changed check starts `critical` (no result yet) in that event too, so no
   * agent ever sees the endpoint without its check.
   */
  async register(name: string, id: string, input: EndpointInput): Promise<EndpointRecord> {
    checkServiceName(name);
    checkEndpointId(id);
    if (!isRecord(input))
      fail(ErrorCode.InvalidArgument, 'An endpoint must be an object { address, port, ... }.');
    for (const k of Object.keys(input)) {
      if (!['address', 'port', 'tags', 'meta', 'check'].includes(k))
        fail(
          ErrorCode.InvalidArgument,
          `Unexpected field ${JSON.stringify(k)}; expected address, port, tags, meta, check.`,
        );
    }
    const check = input.check === undefined ? undefined : parseCheckDefinition(input.check);
    const record: EndpointRecord = {
      id,
      node: this.host.peerId,
      address: checkAddress(input.address),
      port: checkPort(input.port),
      tags: checkTags(input.tags),
      meta: checkMeta(input.meta),
      ...(check ? { check } : {}),
    };
    const json = canonicalJson(record, MAX_RECORD_BYTES, 'endpoint record');
    const existing = storedRecords(this.host, name).filter((s) => s.record.id === id);
    if (existing.length === 1 && existing[0] && canonicalJson(existing[0].raw, Infinity) === json)
      return record;
    const key = SERVICES_PREFIX + name;
    const ops: unknown[] = existing.map((s) => ({
      type: 'rw-set',
      key,
      op: { kind: 'remove', value: s.raw },
    }));
    ops.push({ type: 'rw-set', key, op: { kind: 'add', value: record as unknown as Json } });
    const keepStatus = existing.some(
      (s) => s.record.node === record.node && sameCheck(s.record.check, check),
    );
    if (check && !keepStatus) {
      ops.push(
        statusOp(name, id, {
          status: 'critical',
          output: PENDING_OUTPUT,
          node: record.node,
          updatedAt: this.now(),
        }),
      );
    } else if (!check && hasStatusField(this.host, name, id)) ops.push(removeStatusOp(name, id));
    await this.host.write(ops, { system: true });
    // The pending `critical` counts as written: a first result that is still critical (a TTL
    // check before its first heartbeat) then costs no second event.
    if (check && !keepStatus) this.statusWriter.markWritten(checkId(name, id), 'critical', this.now());
    return record;
  }

  /** Removes every record of endpoint `id` (on any node) and its check status. */
  async deregister(name: string, id: string): Promise<void> {
    checkServiceName(name);
    checkEndpointId(id);
    const existing = storedRecords(this.host, name).filter((s) => s.record.id === id);
    if (existing.length === 0) {
      throw new ServiceError(
        ServiceErrorCode.NotFound,
        `Service ${JSON.stringify(name)} has no endpoint ${JSON.stringify(id)} (here).`,
      );
    }
    const key = SERVICES_PREFIX + name;
    const ops: unknown[] = existing.map((s) => ({
      type: 'rw-set',
      key,
      op: { kind: 'remove', value: s.raw },
    }));
    if (hasStatusField(this.host, name, id)) ops.push(removeStatusOp(name, id));
    await this.host.write(ops, { system: true });
  }

  /**
   * A TTL check's heartbeat (passing unless `result` says otherwise). Resolves once the
   * status, if it changed, is durable here. Only the endpoint's own agent takes heartbeats.
   */
  async heartbeat(
    name: string,
    id: string,
    result: { status?: CheckStatus; output?: string } = {},
  ): Promise<CheckResult> {
    const status = result.status ?? 'passing';
    if (!isCheckStatus(status))
      fail(ErrorCode.InvalidArgument, 'A heartbeat status must be "passing", "warning" or "critical".');
    if (result.output !== undefined && typeof result.output !== 'string')
      fail(ErrorCode.InvalidArgument, 'A heartbeat output must be a string.');
    const record = this.localCheck(name, id);
    if (record.check?.type !== 'ttl') {
      throw new ServiceError(
        ServiceErrorCode.NoTtlCheck,
        `Endpoint ${JSON.stringify(id)} of ${JSON.stringify(name)} has no TTL check; only TTL checks take heartbeats.`,
      );
    }
    const out = this.runner.report(checkId(name, id), {
      status,
      output: clipOutput(result.output ?? `TTL check: heartbeat (${status})`),
    });
    await this.statusWriter.flush();
    return out;
  }

  /** Runs an endpoint's check now (on its own node) and resolves once its status is durable here. */
  async checkNow(name: string, id: string): Promise<CheckResult> {
    const record = this.localCheck(name, id);
    if (!record.check) {
      throw new ServiceError(
        ServiceErrorCode.NotFound,
        `Endpoint ${JSON.stringify(id)} of ${JSON.stringify(name)} has no check.`,
      );
    }
    const out = await this.runner.run(checkId(name, id));
    await this.statusWriter.flush();
    return out;
  }

  // ---- queries ----------------------------------------------------------------------------

  /** The checks this agent runs now (for its own endpoints), by service then endpoint id. */
  runningChecks(): { service: string; id: string; type: CheckDefinition['type'] }[] {
    return this.runner
      .ids()
      .sort()
      .flatMap((key) => {
        const def = this.runner.definition(key);
        const [service, id] = splitCheckId(key);
        return def ? [{ service, id, type: def.type }] : [];
      });
  }

  /**
   * The endpoints of service `name`. By default only the healthy ones: node alive and check
   * passing (or none). `all` returns every endpoint with its node and check status. An unknown
   * service has no endpoints.
   */
  healthy(name: string, options: { all?: boolean } = {}): EndpointView[] {
    checkServiceName(name);
    const views = endpointViews(this.host, this.liveness, name);
    return options.all === true ? views : views.filter((v) => v.healthy);
  }

  /** Services with at least one endpoint, by name, with endpoint counts. */
  services(): ServiceSummary[] {
    return serviceSummaries(this.host, this.liveness);
  }

  /** The record of `id` on this node, or the error that says why it is not here. */
  private localCheck(name: string, id: string): EndpointRecord {
    checkServiceName(name);
    checkEndpointId(id);
    if (!this.unsubscribe)
      throw new Error('Discovery.start() has not been called: no checks run on this agent.');
    const all = storedRecords(this.host, name).filter((s) => s.record.id === id);
    const mine = all.find((s) => s.record.node === this.host.peerId);
    if (!mine) {
      const other = all[0];
      if (other) {
        throw new ServiceError(
          ServiceErrorCode.NotLocal,
          `Endpoint ${JSON.stringify(id)} of ${JSON.stringify(name)} is registered on node ${other.record.node}; its checks run on that node's agent.`,
          { node: other.record.node },
        );
      }
      throw new ServiceError(
        ServiceErrorCode.NotFound,
        `Service ${JSON.stringify(name)} has no endpoint ${JSON.stringify(id)} (here).`,
      );
    }
    // The reconciler runs on every change; this covers a caller racing its own registration.
    if (mine.record.check && !this.runner.has(checkId(name, id))) this.reconcile(name);
    return mine.record;
  }

  // ---- checks ------------------------------------------------------------------------------

  /** Makes the running checks of service `name` match this node's replicated records. */
  private reconcile(name: string): void {
    if (!this.unsubscribe) return; // not started: no checks run
    const self = this.host.peerId;
    const mine = storedRecords(this.host, name).filter((s) => s.record.node === self);
    const statuses = checkStatuses(this.host, name);
    const wanted = new Set<string>();
    for (const { record } of mine) {
      if (!record.check) continue;
      const id = checkId(name, record.id);
      wanted.add(id);
      const s = statuses.get(record.id);
      // After a restart a TTL check keeps its replicated verdict for one TTL: the service
      // may well be heartbeating still, and flapping every endpoint on restart helps no one.
      const seed =
        s?.node === self && s.status !== 'critical' ? { status: s.status, output: s.output } : undefined;
      if (this.runner.set(id, record.check, seed)) this.statusWriter.forget(id);
    }
    for (const id of this.runner.ids()) {
      if (isCheckOf(id, name) && !wanted.has(id)) {
        this.runner.delete(id);
        this.statusWriter.forget(id);
      }
    }
    // A status this node wrote for an endpoint it no longer has (a deregistration raced a
    // status write): remove it, so statuses do not outlive their records.
    const ids = new Set(mine.map((s) => s.record.id));
    for (const [id, s] of statuses) {
      if (s.node === self && !ids.has(id) && !this.statusWriter.isPending(checkId(name, id)))
        this.statusWriter.enqueue(checkId(name, id), removeStatusOp(name, id));
    }
  }
}
