/**
 * The SMAC client SDK (DESIGN.md "Interfaces": `import { SmacClient } from 'smac'`): typed
 * methods for every route of the agent's REST API (src/api), over its Unix socket or TCP,
 * on node:http with keep-alive. Errors come back as SmacApiError with the API's stable code.
 * Watches are async iterators of server-sent events that can resume from a cursor.
 */
import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
import type { TypeName } from '../core/crdt/crdt.js';
import type { Json } from '../core/json.js';
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
import { SseParser } from './sse-parser.js';

export type { BatchReply, ChangeData, CreateReply, DeleteReply, ListReply, OpReply, ReadReply, StatusReply };
/** An object as the API lists it (`ObjectView` of the core, with the value typed as unknown JSON). */
export type ListedObject = ObjectView;
/** A vector clock as JSON: events delivered per origin peer id. */
export type ClockRecord = Clock;

/** Codes the client itself reports (no HTTP answer): status 0. */
export const ClientErrorCode = {
  /** The agent could not be reached (no socket, connection refused or reset). */
  ConnectionFailed: 'CONNECTION_FAILED',
  /** No answer within the timeout. */
  Timeout: 'TIMEOUT',
  /** The answer was not what the API sends (not JSON, a broken event stream). */
  BadResponse: 'BAD_RESPONSE',
} as const;

export interface MembersReply {
  readonly members: readonly {
    readonly id: string;
    readonly status: 'alive' | 'suspect' | 'dead' | 'left';
    readonly incarnation: number;
    readonly region?: string;
    readonly tags: Readonly<Record<string, string>>;
    readonly addresses: readonly string[];
    /** Round trips measured by this agent's failure detector (docs/membership.md). */
    readonly rtt?: {
      readonly srttMs: number;
      readonly rttvarMs: number;
      readonly lastMs: number;
      readonly samples: number;
      readonly probeTimeoutMs: number;
    };
  }[];
  readonly transitions: readonly {
    readonly id: string;
    readonly from: string | null;
    readonly to: string;
    readonly incarnation: number;
    readonly at: string;
  }[];
}

export class SmacApiError extends Error {
  override readonly name = 'SmacApiError';

  constructor(
    /** The API's stable code (e.g. INVALID_OP, NOT_FOUND) or a ClientErrorCode. */
    readonly code: string,
    /** HTTP status, or 0 when there was no HTTP answer. */
    readonly status: number,
    message: string,
    readonly details?: Readonly<Record<string, unknown>>,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

export interface CommonClientOptions {
  /** Bearer token (TCP listeners that require one). */
  readonly token?: string;
  /** Per request, ms, for everything but watches. Default 30 s. */
  readonly timeoutMs?: number;
}
export type SmacClientOptions =
  (CommonClientOptions & { readonly socketPath: string }) | (CommonClientOptions & { readonly url: string });

/** The ops of each type (docs/semantics.md); `create` and `delete` apply to every object. */
export interface OpsByType {
  'pn-counter': { kind: 'increment' | 'decrement'; by?: number };
  'lww-register': { kind: 'set'; value: Json };
  'mv-register': { kind: 'set'; value: Json };
  'aw-set': { kind: 'add' | 'remove'; value: Json } | { kind: 'clear' };
  'rw-set': { kind: 'add' | 'remove'; value: Json } | { kind: 'clear' };
  'ew-flag': { kind: 'enable' | 'disable' };
  'or-map':
    | { kind: 'update'; field: string; type: TypeName; op: unknown }
    | { kind: 'create' | 'remove'; field: string; type: TypeName };
}
export type ObjectOp<T extends TypeName> = OpsByType[T] | { kind: 'create' } | { kind: 'delete' };
export type BatchOp = { [T in TypeName]: { type: T; key: string; op: ObjectOp<T> } }[TypeName];

export interface ListOptions {
  readonly prefix?: string;
  /** Keys after this one (the `next` of the previous page). */
  readonly after?: string;
  /** 1..1000, default 100. */
  readonly limit?: number;
}

export type WatchEvent =
  | {
      readonly kind: 'snapshot';
      readonly cursor: string;
      readonly objects: ObjectView[];
      readonly clock: Clock;
    }
  | ({ readonly kind: 'change'; readonly cursor: string } & ChangeData);

export interface WatchOptions {
  readonly prefix?: string;
  /** Resume after this cursor (a `cursor` of an earlier event). */
  readonly cursor?: string;
  readonly signal?: AbortSignal;
  /**
   * Reconnect when the stream drops, resuming from the last cursor (with backoff up to
   * `maxDelayMs`, default 5 s). Errors the API answers (4xx) are not retried.
   */
  readonly reconnect?: boolean | { readonly maxDelayMs?: number };
}

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
    if ('socketPath' in options) {
      this.target = { socketPath: options.socketPath, protocol: 'http:', basePath: '' };
      this.agent = new http.Agent({ keepAlive: true });
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
      this.agent =
        u.protocol === 'https:' ? new https.Agent({ keepAlive: true }) : new http.Agent({ keepAlive: true });
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

  /** Removes a member that will not come back: compaction stops waiting for it. */
  forceLeave(id: string): Promise<{ id: string; removed: boolean }> {
    return this.json('POST', `/v1/members/${encodeURIComponent(id)}/force-leave`);
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

  private send(
    method: string,
    path: string,
    body: unknown,
    accept: string,
  ): Promise<{ status: number; text: string }> {
    return new Promise((resolve, reject) => {
      const payload = body === undefined ? undefined : JSON.stringify(body);
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
        reject(transportError(e));
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

/** A watch: an async iterable of events; reconnects and resumes when asked to. */
export class WatchStream implements AsyncIterable<WatchEvent> {
  private last: string | undefined;
  private readonly abort = new AbortController();
  private started = false;

  constructor(
    private readonly client: SmacClient,
    private readonly options: WatchOptions,
  ) {
    this.last = options.cursor;
    options.signal?.addEventListener('abort', () => {
      this.close();
    });
  }

  /** The cursor of the last event received (or the one the watch started from). */
  get cursor(): string | undefined {
    return this.last;
  }

  close(): void {
    this.abort.abort();
  }

  /** A method, not a property, so that checks after an await are not narrowed away. */
  private isStopped(): boolean {
    return this.abort.signal.aborted;
  }

  [Symbol.asyncIterator](): AsyncIterator<WatchEvent> {
    if (this.started) throw new Error('A watch can be iterated once; start another watch to read again.');
    this.started = true;
    return this.run();
  }

  private async *run(): AsyncGenerator<WatchEvent> {
    const reconnect = this.options.reconnect;
    const maxDelayMs = typeof reconnect === 'object' ? (reconnect.maxDelayMs ?? 5_000) : 5_000;
    let delayMs = 100;
    while (!this.isStopped()) {
      let res: IncomingMessage;
      try {
        res = await this.connect();
      } catch (e) {
        if (this.isStopped()) return;
        if (!reconnect || (e instanceof SmacApiError && e.status >= 400 && e.status < 500)) throw e;
        await sleep(delayMs, this.abort.signal);
        delayMs = Math.min(maxDelayMs, delayMs * 2);
        continue;
      }
      const parser = new SseParser();
      const decoder = new TextDecoder();
      try {
        const chunks = res as AsyncIterable<Buffer>;
        for await (const chunk of chunks) {
          for (const ev of parser.push(decoder.decode(chunk, { stream: true }))) {
            const out = toWatchEvent(ev.event, ev.id, ev.data);
            if (!out) continue;
            this.last = out.cursor;
            delayMs = 100;
            yield out;
          }
        }
        for (const ev of parser.push(decoder.decode()).concat(parser.end())) {
          const out = toWatchEvent(ev.event, ev.id, ev.data);
          if (out) {
            this.last = out.cursor;
            yield out;
          }
        }
      } catch (e) {
        if (this.isStopped()) return;
        if (!reconnect) throw e instanceof SmacApiError ? e : transportError(e);
      } finally {
        res.destroy();
      }
      if (!reconnect || this.isStopped()) return;
      await sleep(delayMs, this.abort.signal);
      delayMs = Math.min(maxDelayMs, delayMs * 2);
    }
  }

  private connect(): Promise<IncomingMessage> {
    return new Promise((resolve, reject) => {
      const q = query({ prefix: this.options.prefix, cursor: this.last });
      const req = this.client.open('GET', '/v1/watch' + q, 'text/event-stream');
      // close() destroys the request, which ends the response (and a pending connect).
      const onAbort = (): void => {
        req.destroy();
      };
      this.abort.signal.addEventListener('abort', onAbort, { once: true });
      req.on('close', () => {
        this.abort.signal.removeEventListener('abort', onAbort);
      });
      req.on('error', (e) => {
        // After the response arrived, errors surface through the response stream instead.
        reject(transportError(e));
      });
      req.once('response', (res) => {
        res.on('error', () => undefined); // read by the iterator; never an unhandled 'error'
        const status = res.statusCode ?? 0;
        if (status === 200) {
          resolve(res);
          return;
        }
        readAll(res).then(
          (text) => {
            reject(errorFromResponse(status, text));
          },
          (e: unknown) => {
            reject(transportError(e));
          },
        );
      });
      req.end();
    });
  }
}

function toWatchEvent(event: string, id: string | undefined, data: string): WatchEvent | undefined {
  if (event !== 'snapshot' && event !== 'change') return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(data);
  } catch (e) {
    throw new SmacApiError(
      ClientErrorCode.BadResponse,
      200,
      'The watch stream sent an event that is not JSON.',
      undefined,
      {
        cause: e,
      },
    );
  }
  const cursor = id ?? '';
  if (event === 'snapshot') {
    const s = parsed as { objects: ObjectView[]; clock: Clock };
    return { kind: 'snapshot', cursor, objects: s.objects, clock: s.clock };
  }
  return { kind: 'change', cursor, ...(parsed as ChangeData) };
}

/** `/v1/objects/<type>/<key>`, each key segment URL-encoded and its `/` kept. */
export function objectPath(type: string, key: string): string {
  return `/v1/objects/${encodeURIComponent(type)}/${key.split('/').map(encodeURIComponent).join('/')}`;
}

function query(params: Record<string, string | number | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined) q.set(k, String(v));
  const s = q.toString();
  return s === '' ? '' : '?' + s;
}

async function readAll(res: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of res as AsyncIterable<Buffer>) chunks.push(c);
  return Buffer.concat(chunks).toString('utf8');
}

function errorFromResponse(status: number, text: string): SmacApiError {
  try {
    const body = JSON.parse(text) as { code?: unknown; message?: unknown; details?: unknown };
    if (typeof body.code === 'string' && typeof body.message === 'string') {
      const details =
        typeof body.details === 'object' && body.details !== null
          ? (body.details as Record<string, unknown>)
          : undefined;
      return new SmacApiError(body.code, status, body.message, details);
    }
  } catch {
    // not JSON: fall through
  }
  return new SmacApiError(
    `HTTP_${status}`,
    status,
    `The agent answered HTTP ${status}: ${text.slice(0, 200)}`,
  );
}

function transportError(e: unknown): SmacApiError {
  if (e instanceof SmacApiError) return e;
  const err = e as { code?: unknown; message?: unknown };
  const message = typeof err.message === 'string' ? err.message : String(e);
  return new SmacApiError(
    ClientErrorCode.ConnectionFailed,
    0,
    `Cannot reach the agent: ${message}`,
    undefined,
    {
      cause: e,
    },
  );
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    function done(): void {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
