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
 */
import { canonicalJson, isRecord, type Json } from '../core/json.js';
import {
  checkAddress,
  checkEndpointId,
  checkMeta,
  checkPort,
  checkServiceName,
  checkTags,
  clipOutput,
  isSafeName,
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
import { type KeyspaceHost, type Liveness, type ServiceLogger, silentLogger } from './host.js';
import { ServiceError, ServiceErrorCode } from './service-errors.js';
import { ErrorCode, fail } from '../core/errors.js';

export const SERVICES_PREFIX = '_sys/services/';
export const CHECKS_PREFIX = '_sys/checks/';
/** A whole endpoint record as JSON; well under the keyspace's value bound. */
export const MAX_RECORD_BYTES = 16 * 1024;
/** What a check's status says before its first result: hidden until it passes (as Consul does). */
export const PENDING_OUTPUT = 'no check result yet';

/** An endpoint as replicated in the service's remove-wins set. */
export interface EndpointRecord {
  readonly id: string;
  /** The node (agent peer id) the endpoint runs on, whose agent runs its check. */
  readonly node: string;
  readonly address: string;
  readonly port: number;
  readonly tags: readonly string[];
  readonly meta: Readonly<Record<string, string>>;
  readonly check?: CheckDefinition;
}

/** What a caller registers; the endpoint's node is always the registering agent's. */
export interface EndpointInput {
  readonly address: string;
  readonly port: number;
  readonly tags?: readonly string[];
  readonly meta?: Readonly<Record<string, string>>;
  readonly check?: unknown;
}

/** A check status as replicated in `_sys/checks/<name>`. */
export interface CheckState {
  readonly status: CheckStatus;
  readonly output: string;
  readonly node: string;
  readonly updatedAt: number;
}

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

const SEP = '\u0000';

/** A record read back from the set: the parsed record and the exact JSON element to remove. */
interface StoredRecord {
  readonly record: EndpointRecord;
  readonly raw: Json;
}

export class Discovery {
  private readonly host: KeyspaceHost;
  private readonly liveness: Liveness;
  private readonly now: () => number;
  private readonly refreshMs: number;
  private readonly log: ServiceLogger;
  private readonly runner: CheckRunner;
  /** Per check: the status this agent last wrote and when (change detection and refresh). */
  private readonly written = new Map<string, { status: CheckStatus; at: number }>();
  /** Status writes waiting for the next flush, one per check: they leave as one event. */
  private readonly pending = new Map<string, { op: unknown; check: string }>();
  private flushing: Promise<void> | undefined;
  private unsubscribe: (() => void) | undefined;

  constructor(options: DiscoveryOptions) {
    this.host = options.host;
    this.liveness = options.liveness;
    this.now = options.now ?? Date.now;
    this.refreshMs = options.refreshMs ?? DEFAULT_REFRESH_MS;
    this.log = options.logger ?? silentLogger;
    this.runner = new CheckRunner({
      now: this.now,
      ...(options.maxConcurrentChecks !== undefined ? { maxConcurrent: options.maxConcurrentChecks } : {}),
      onResult: (id, result) => {
        this.onResult(id, result);
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
    await this.flush().catch(() => undefined);
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
    const existing = this.stored(name).filter((s) => s.record.id === id);
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
        this.statusOp(name, id, {
          status: 'critical',
          output: PENDING_OUTPUT,
          node: record.node,
          updatedAt: this.now(),
        }),
      );
    } else if (!check && this.hasStatusField(name, id)) ops.push(this.removeStatusOp(name, id));
    await this.host.write(ops, { system: true });
    // The pending `critical` counts as written: a first result that is still critical (a TTL
    // check before its first heartbeat) then costs no second event.
    if (check && !keepStatus) this.written.set(checkId(name, id), { status: 'critical', at: this.now() });
    return record;
  }

  /** Removes every record of endpoint `id` (on any node) and its check status. */
  async deregister(name: string, id: string): Promise<void> {
    checkServiceName(name);
    checkEndpointId(id);
    const existing = this.stored(name).filter((s) => s.record.id === id);
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
    if (this.hasStatusField(name, id)) ops.push(this.removeStatusOp(name, id));
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
    await this.flush();
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
    await this.flush();
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
    const views = this.views(name);
    return options.all === true ? views : views.filter((v) => v.healthy);
  }

  /** Services with at least one endpoint, by name, with endpoint counts. */
  services(): ServiceSummary[] {
    const out: ServiceSummary[] = [];
    for (const o of this.host.list(SERVICES_PREFIX)) {
      if (o.type !== 'rw-set') continue;
      const name = o.key.slice(SERVICES_PREFIX.length);
      if (!isSafeName(name)) continue;
      const views = this.views(name);
      if (views.length === 0) continue;
      out.push({ name, endpoints: views.length, healthy: views.filter((v) => v.healthy).length });
    }
    return out;
  }

  private views(name: string): EndpointView[] {
    const statuses = this.statuses(name);
    const self = this.host.peerId;
    const out = this.stored(name).map(({ record: r }): EndpointView => {
      const alive = r.node === self || this.liveness.isAlive(r.node);
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
        id: r.id,
        node: r.node,
        address: r.address,
        port: r.port,
        tags: [...r.tags],
        meta: { ...r.meta },
        region: this.liveness.region(r.node) ?? null,
        nodeStatus: alive ? 'alive' : 'dead',
        check,
        healthy: alive && (check === null || check.status === 'passing'),
      };
    });
    return out.sort((a, b) => compare(a.id, b.id) || compare(a.node, b.node));
  }

  // ---- reading the keyspace ----------------------------------------------------------------

  /** The valid records of a service (records that fail validation, e.g. from a newer agent, are skipped). */
  private stored(name: string): StoredRecord[] {
    const value = this.host.read('rw-set', SERVICES_PREFIX + name)?.value;
    if (!Array.isArray(value)) return [];
    const out: StoredRecord[] = [];
    for (const raw of value) {
      const record = parseRecord(raw);
      if (record) out.push({ record, raw });
    }
    return out;
  }

  private statuses(name: string): Map<string, CheckState> {
    const value = this.host.read('or-map', CHECKS_PREFIX + name)?.value;
    const out = new Map<string, CheckState>();
    if (!isRecord(value)) return out;
    for (const [id, v] of Object.entries(value)) {
      if (!isRecord(v)) continue;
      const { status, output, node, updatedAt } = v;
      if (
        isCheckStatus(status) &&
        typeof output === 'string' &&
        typeof node === 'string' &&
        typeof updatedAt === 'number'
      )
        out.set(id, { status, output, node, updatedAt });
    }
    return out;
  }

  private hasStatusField(name: string, id: string): boolean {
    const value = this.host.read('or-map', CHECKS_PREFIX + name)?.value;
    return isRecord(value) && Object.hasOwn(value, id);
  }

  /** The record of `id` on this node, or the error that says why it is not here. */
  private localCheck(name: string, id: string): EndpointRecord {
    checkServiceName(name);
    checkEndpointId(id);
    if (!this.unsubscribe)
      throw new Error('Discovery.start() has not been called: no checks run on this agent.');
    const all = this.stored(name).filter((s) => s.record.id === id);
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
    const mine = this.stored(name).filter((s) => s.record.node === self);
    const statuses = this.statuses(name);
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
      if (this.runner.set(id, record.check, seed)) this.written.delete(id);
    }
    for (const id of this.runner.ids()) {
      if (id.startsWith(name + SEP) && !wanted.has(id)) {
        this.runner.delete(id);
        this.written.delete(id);
      }
    }
    // A status this node wrote for an endpoint it no longer has (a deregistration raced a
    // status write): remove it, so statuses do not outlive their records.
    const ids = new Set(mine.map((s) => s.record.id));
    for (const [id, s] of statuses) {
      if (s.node === self && !ids.has(id) && !this.pending.has(checkId(name, id)))
        this.enqueue(checkId(name, id), this.removeStatusOp(name, id));
    }
  }

  private onResult(id: string, result: CheckResult): void {
    const [name, endpoint] = splitCheckId(id);
    const self = this.host.peerId;
    const record = this.stored(name).find((s) => s.record.id === endpoint && s.record.node === self);
    if (!record?.record.check) return;
    const now = this.now();
    const last = this.written.get(id);
    if (
      last?.status === result.status &&
      now - last.at < this.refreshMs &&
      this.hasStatusField(name, endpoint)
    )
      return;
    this.written.set(id, { status: result.status, at: now });
    this.enqueue(id, this.statusOp(name, endpoint, { ...result, node: self, updatedAt: now }));
  }

  private statusOp(name: string, id: string, state: CheckState): unknown {
    return {
      type: 'or-map',
      key: CHECKS_PREFIX + name,
      op: { kind: 'update', field: id, type: 'lww-register', op: { kind: 'set', value: state } },
    };
  }

  private removeStatusOp(name: string, id: string): unknown {
    return {
      type: 'or-map',
      key: CHECKS_PREFIX + name,
      op: { kind: 'remove', field: id, type: 'lww-register' },
    };
  }

  private enqueue(check: string, op: unknown): void {
    this.pending.set(check, { op, check });
    if (this.pending.size === 1) setImmediate(() => void this.flush().catch(() => undefined));
  }

  /**
   * Writes the queued status changes as one event, after any flush in progress. Resolves once
   * they are durable; rejects when this write or an earlier one it waited for failed (a
   * queued op may have left with the earlier batch).
   */
  private flush(): Promise<void> {
    const prev = this.flushing ?? Promise.resolve();
    const run = prev
      .catch(() => undefined)
      .then(async () => {
        if (this.pending.size === 0) return;
        const batch = [...this.pending.values()];
        this.pending.clear();
        try {
          await this.host.write(
            batch.map((b) => b.op),
            { system: true },
          );
        } catch (e) {
          // Forget what was "written", so the next result of these checks tries again.
          for (const b of batch) this.written.delete(b.check);
          this.log.warn({ err: e }, 'writing check statuses failed');
          throw e;
        }
      });
    this.flushing = run;
    void run
      .catch(() => undefined)
      .finally(() => {
        if (this.flushing === run) this.flushing = undefined;
      });
    return Promise.all([prev, run]).then(() => undefined);
  }
}

function checkId(name: string, id: string): string {
  return name + SEP + id;
}

function splitCheckId(id: string): [string, string] {
  const i = id.indexOf(SEP);
  return [id.slice(0, i), id.slice(i + 1)];
}

function serviceOfKey(key: string): string | undefined {
  for (const prefix of [SERVICES_PREFIX, CHECKS_PREFIX]) {
    if (key.startsWith(prefix)) {
      const name = key.slice(prefix.length);
      return isSafeName(name) ? name : undefined;
    }
  }
  return undefined;
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Validates a record read from the set; undefined when it is not one this build understands. */
export function parseRecord(raw: unknown): EndpointRecord | undefined {
  if (!isRecord(raw)) return undefined;
  try {
    const { id, node, address, port, tags, meta, check } = raw;
    if (typeof node !== 'string' || node.length === 0 || node.length > 256) return undefined;
    return {
      id: checkEndpointId(id),
      node,
      address: checkAddress(address),
      port: checkPort(port),
      tags: checkTags(tags),
      meta: checkMeta(meta),
      ...(check === undefined ? {} : { check: parseCheckDefinition(check) }),
    };
  } catch {
    return undefined;
  }
}
