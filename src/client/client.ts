/**
 * The SMAC client SDK (DESIGN.md "Interfaces": `import { SmacClient } from 'smac'`): typed
 * methods for every route of the agent's REST API (src/api), over its Unix socket or TCP,
 * on node:http with keep-alive. Errors come back as SmacApiError with the API's stable code.
 * Watches are async iterators of server-sent events that can resume from a cursor (watch.ts);
 * errors and request helpers are in transport.ts.
 */
import http from 'node:http';
import https from 'node:https';
import type { TypeName } from '../core/crdt/crdt.js';
import type {
  BatchReply,
  ChangeData,
  Clock,
  CreateReply,
  DeleteReply,
  ListReply,
  ObjectView,
  OpReply,
  ReadReply,
  StatusReply,
} from '../api/schemas.js';
import type { HealthReply } from '../api/routes/health.js';
import {
  ClientErrorCode,
  errorFromResponse,
  MAX_ATTEMPTS,
  mayResend,
  query,
  readAll,
  ResendableError,
  SmacApiError,
  transportError,
} from './transport.js';
import type { BatchOp, ListOptions, MembersReply, ObjectOp } from './types.js';
import { WatchStream, type WatchOptions } from './watch.js';

export { ClientErrorCode, SmacApiError } from './transport.js';
export type { BatchOp, ListOptions, MembersReply, ObjectOp, OpsByType } from './types.js';
export { WatchStream, type RequestOpener, type WatchEvent, type WatchOptions } from './watch.js';

export type {
  BatchReply,
  ChangeData,
  CreateReply,
  DeleteReply,
  HealthReply,
  ListReply,
  OpReply,
  ReadReply,
  StatusReply,
};
/** An object as the API lists it (`ObjectView` of the core, with the value typed as unknown JSON). */
export type ListedObject = ObjectView;
/** A vector clock as JSON: events delivered per origin peer id. */
export type ClockRecord = Clock;

export interface CommonClientOptions {
  /** Bearer token (TCP listeners that require one). */
  readonly token?: string;
  /** Per request, ms, for everything but watches. Default 30 s. */
  readonly timeoutMs?: number;
  /**
   * How long an idle connection is kept for the next request, ms. Default 4 s, far below the
   * agent's 72 s (docs/api.md "Connections"); a shorter `Keep-Alive: timeout=` hint wins.
   */
  readonly keepAliveMs?: number;
}

/** Idle connections are kept this long by default (undici's default too). */
export const DEFAULT_CLIENT_KEEP_ALIVE_MS = 4_000;
export type SmacClientOptions =
  (CommonClientOptions & { readonly socketPath: string }) | (CommonClientOptions & { readonly url: string });

interface Target {
  readonly socketPath?: string;
  readonly protocol: 'http:' | 'https:';
  readonly hostname?: string;
  readonly port?: number;
  readonly basePath: string;
}

export class SmacClient {
  private readonly target: Target;
  private readonly token: string | undefined;
  private readonly timeoutMs: number;
  private readonly agent: http.Agent;

  constructor(options: SmacClientOptions) {
    this.token = options.token;
    this.timeoutMs = options.timeoutMs ?? 30_000;
    // `timeout` closes a connection idle this long; without it Node's agent keeps idle
    // connections until the server closes them, and ignores the server's Keep-Alive hint.
    const pool = { keepAlive: true, timeout: options.keepAliveMs ?? DEFAULT_CLIENT_KEEP_ALIVE_MS };
    if ('socketPath' in options) {
      this.target = { socketPath: options.socketPath, protocol: 'http:', basePath: '' };
      this.agent = idleOnly(new http.Agent(pool));
    } else {
      const u = new URL(options.url);
      if (u.protocol !== 'http:' && u.protocol !== 'https:') {
        throw new TypeError(`The agent URL must be http: or https: (got ${u.protocol}).`);
      }
      this.target = {
        protocol: u.protocol,
        hostname: u.hostname.replace(/^\[(.*)\]$/, '$1'),
        port: u.port === '' ? (u.protocol === 'https:' ? 443 : 80) : Number(u.port),
        basePath: u.pathname.replace(/\/+$/, ''),
      };
      this.agent = idleOnly(u.protocol === 'https:' ? new https.Agent(pool) : new http.Agent(pool));
    }
  }

  /** Reads one object; SmacApiError NOT_FOUND when it does not exist. */
  read(type: TypeName, key: string): Promise<ReadReply> {
    return this.json('GET', objectPath(type, key));
  }

  /** Reads one object, or undefined when it does not exist. */
  async tryRead(type: TypeName, key: string): Promise<ReadReply | undefined> {
    try {
      return await this.read(type, key);
    } catch (e) {
      if (e instanceof SmacApiError && e.code === 'NOT_FOUND') return undefined;
      throw e;
    }
  }

  /** Creates an object (idempotent); `created` is false when it already existed. */
  create(type: TypeName, key: string): Promise<CreateReply> {
    return this.json('PUT', objectPath(type, key));
  }

  /** Applies one op of the object's type; creates the object if needed. */
  op<T extends TypeName>(type: T, key: string, op: ObjectOp<T>): Promise<OpReply> {
    return this.json('POST', objectPath(type, key), op);
  }

  /** Deletes an object; SmacApiError NOT_FOUND when this agent has no such object. */
  delete(type: TypeName, key: string): Promise<DeleteReply> {
    return this.json('DELETE', objectPath(type, key));
  }

  /** One page of objects under a prefix, ordered by key then type. */
  list(options: ListOptions = {}): Promise<ListReply> {
    return this.json('GET', '/v1/objects' + query({ ...options }));
  }

  /** Every object under a prefix, page by page. */
  async *listAll(prefix = '', pageSize = 1000): AsyncGenerator<ObjectView> {
    let after: string | undefined;
    for (;;) {
      const page = await this.list({ prefix, limit: pageSize, ...(after === undefined ? {} : { after }) });
      yield* page.objects;
      if (page.next === undefined) return;
      after = page.next;
    }
  }

  /** Applies ops to several objects as one atomic event: all or nothing. */
  batch(ops: readonly BatchOp[]): Promise<BatchReply> {
    return this.json('POST', '/v1/batch', { ops });
  }

  status(): Promise<StatusReply> {
    return this.json('GET', '/v1/status');
  }

  /**
   * Liveness (`ready: true`: readiness) of the agent. Resolves with the report when healthy;
   * rejects with SmacApiError UNAVAILABLE (status 503, `details` holding the report) when not.
   */
  health(options: { ready?: boolean } = {}): Promise<HealthReply> {
    return this.json('GET', options.ready === true ? '/v1/health/ready' : '/v1/health');
  }

  /** Prometheus exposition text. */
  async metrics(): Promise<string> {
    const res = await this.send('GET', '/metrics', undefined, 'text/plain');
    return res.text;
  }

  /** The OpenAPI document of the agent's API. */
  openapi(): Promise<Record<string, unknown>> {
    return this.json('GET', '/openapi.json');
  }

  /** Follows changes under a prefix. Iterate it; `cursor` is where to resume; `close()` stops it. */
  watch(options: WatchOptions = {}): WatchStream {
    return new WatchStream(this, options);
  }

  /** Members with their health status, region and tags, and recent transitions. */
  members(status?: 'alive' | 'suspect' | 'dead' | 'left'): Promise<MembersReply> {
    return this.json('GET', '/v1/members' + query(status === undefined ? {} : { status }));
  }

  /**
   * Removes a member that will not come back: compaction stops waiting for it once every member
   * agrees on the cut (`pending` until then). 429 TOO_MANY_FORCE_LEAVES when too many are pending.
   */
  forceLeave(id: string): Promise<{ id: string; removed: boolean; pending?: boolean }> {
    return this.json('POST', `/v1/members/${encodeURIComponent(id)}/force-leave`);
  }

  /**
   * Records that a reaped member will not come back (docs/agent.md, "Forgetting a reaped
   * member"). 404 NOT_FOUND, 409 MEMBER_NOT_REAPED, 429 TOO_MANY_FORGOTTEN.
   */
  forget(id: string): Promise<{ id: string; forgotten: boolean; at: string }> {
    return this.json('POST', `/v1/members/${encodeURIComponent(id)}/forget`);
  }

  /** A one-time dashboard login URL (docs/ui.md); the agent must run with --ui and --api-tcp. */
  uiLoginCode(): Promise<{ code: string; url: string; expiresInMs: number }> {
    return this.json('POST', '/v1/ui/login-codes');
  }

  /** Names of the registered services. */
  services(): Promise<unknown> {
    return this.json('GET', '/v1/services');
  }

  /** Endpoints of a service: by default only healthy ones on live nodes; `all` for every one. */
  service(name: string, options: { all?: boolean } = {}): Promise<unknown> {
    return this.json(
      'GET',
      `/v1/services/${encodeURIComponent(name)}` + query(options.all ? { all: 'true' } : {}),
    );
  }

  /** Registers (or replaces) an endpoint of a service on this agent's node, with an optional check. */
  register(name: string, id: string, endpoint: Record<string, unknown>): Promise<unknown> {
    return this.json(
      'PUT',
      `/v1/services/${encodeURIComponent(name)}/endpoints/${encodeURIComponent(id)}`,
      endpoint,
    );
  }

  /** Removes an endpoint; resolves to undefined (the API answers 204 No Content). */
  deregister(name: string, id: string): Promise<unknown> {
    return this.json(
      'DELETE',
      `/v1/services/${encodeURIComponent(name)}/endpoints/${encodeURIComponent(id)}`,
    );
  }

  /** Passes a TTL check (optionally with another status and output). */
  heartbeat(name: string, id: string, body: Record<string, unknown> = {}): Promise<unknown> {
    return this.json(
      'POST',
      `/v1/services/${encodeURIComponent(name)}/endpoints/${encodeURIComponent(id)}/heartbeat`,
      body,
    );
  }

  /** Load metrics known to the cluster. */
  loadMetrics(): Promise<unknown> {
    return this.json('GET', '/v1/load');
  }

  /** A load metric: sum over live nodes, per node and per region. */
  load(metric: string): Promise<unknown> {
    return this.json('GET', `/v1/load/${encodeURIComponent(metric)}`);
  }

  /** Changes this node's counter of a metric (negative `by` decrements). */
  loadAdd(metric: string, by: number): Promise<unknown> {
    const path = `/v1/load/${encodeURIComponent(metric)}/${by < 0 ? 'decrement' : 'increment'}`;
    return this.json('POST', path, { by: Math.abs(by) });
  }

  /** Sets this node's gauge of a metric. */
  setGauge(metric: string, value: number): Promise<unknown> {
    return this.json('PUT', `/v1/load/${encodeURIComponent(metric)}/gauge`, { value });
  }

  /** Closes idle keep-alive connections. The client stays usable. */
  close(): void {
    this.agent.destroy();
  }

  // ---- transport ---------------------------------------------------------------------------

  private async json<T>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await this.send(method, path, body, 'application/json');
    // 204 No Content (deregistering an endpoint): a success without a body.
    if (res.status === 204) return undefined as T;
    try {
      return JSON.parse(res.text) as T;
    } catch (e) {
      throw new SmacApiError(
        ClientErrorCode.BadResponse,
        res.status,
        'The agent answered with invalid JSON.',
        undefined,
        {
          cause: e,
        },
      );
    }
  }

  /**
   * One request; sent again (at most twice) only when `mayResend` allows: an idempotent one
   * that failed on a reused connection before any answer (transport.ts).
   */
  private async send(
    method: string,
    path: string,
    body: unknown,
    accept: string,
  ): Promise<{ status: number; text: string }> {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.sendOnce(method, path, accept, payload, attempt < MAX_ATTEMPTS);
      } catch (e) {
        if (!(e instanceof ResendableError)) throw e;
      }
    }
  }

  private sendOnce(
    method: string,
    path: string,
    accept: string,
    payload: string | undefined,
    resendable: boolean,
  ): Promise<{ status: number; text: string }> {
    return new Promise((resolve, reject) => {
      const req = this.open(method, path, accept, payload);
      req.setTimeout(this.timeoutMs, () => {
        req.destroy(
          new SmacApiError(
            ClientErrorCode.Timeout,
            0,
            `The agent did not answer ${method} ${path} within ${this.timeoutMs} ms.`,
          ),
        );
      });
      req.once('error', (e) => {
        reject(resendable && mayResend(method, req, e) ? new ResendableError() : transportError(e));
      });
      req.once('response', (res) => {
        readAll(res).then(
          (text) => {
            const status = res.statusCode ?? 0;
            if (status >= 200 && status < 300) resolve({ status, text });
            else reject(errorFromResponse(status, text));
          },
          (e: unknown) => {
            reject(transportError(e));
          },
        );
      });
      req.end(payload);
    });
  }

  /** @internal Opens a request (used by WatchStream). */
  open(method: string, path: string, accept: string, payload?: string): http.ClientRequest {
    const headers: Record<string, string> = { accept };
    if (payload !== undefined) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = String(Buffer.byteLength(payload));
    }
    if (this.token !== undefined) headers.authorization = `Bearer ${this.token}`;
    const t = this.target;
    const options: http.RequestOptions = {
      method,
      path: t.basePath + path,
      headers,
      agent: this.agent,
      ...(t.socketPath === undefined ? { hostname: t.hostname, port: t.port } : { socketPath: t.socketPath }),
    };
    return t.protocol === 'https:' ? https.request(options) : http.request(options);
  }
}

/**
 * Makes the agent's `timeout` apply to idle connections only. Node also gives it to each new
 * connection, where it stands until the connection is made (the request's own timeout applies
 * from then): a connect slower than the idle time would fail as the request's TIMEOUT.
 */
function idleOnly<A extends http.Agent>(agent: A): A {
  const create = agent.createConnection.bind(agent);
  agent.createConnection = (options, callback) => create({ ...options, timeout: undefined }, callback);
  return agent;
}

/** `/v1/objects/<type>/<key>`, each key segment URL-encoded and its `/` kept. */
export function objectPath(type: string, key: string): string {
  return `/v1/objects/${encodeURIComponent(type)}/${key.split('/').map(encodeURIComponent).join('/')}`;
}
