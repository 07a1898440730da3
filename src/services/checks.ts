/**
 * Health checks an agent runs for the endpoints registered on its own node (DESIGN.md
 * "Services on the CRDTs"; the check kinds follow Consul's agent checks): HTTP (GET, a 2xx
 * passes, 429 warns, anything else or no answer within the timeout is critical), TCP (a
 * connection within the timeout passes) and TTL (passes while the service reports within its
 * TTL). The runner knows nothing about CRDTs: it reports each result through `onResult`, and
 * the discovery service decides what to replicate.
 *
 * Scheduling: each check runs once when it is added and then `intervalMs` after its previous
 * run ended, so runs of one check never overlap; a manual `run` joins the one in flight. At
 * most `maxConcurrent` probes are in flight at once; the others queue (at most one per check).
 * TTL checks do no I/O: a heartbeat reports at once, and a timer re-evaluates at the deadline.
 * Time comes from the injectable `now`, so TTL expiry is testable without waiting.
 */
import { connect } from 'node:net';
import { ErrorCode, fail } from '../core/errors.js';
import { canonicalJson, isRecord } from '../core/json.js';
import {
  checkAddress,
  checkIntMs,
  checkPort,
  clipOutput,
  DEFAULT_INTERVAL_MS,
  DEFAULT_TIMEOUT_MS,
  MAX_INTERVAL_MS,
  MAX_TIMEOUT_MS,
  MAX_TTL_MS,
  MIN_INTERVAL_MS,
  MIN_TIMEOUT_MS,
  MIN_TTL_MS,
  URL_MAX_LENGTH,
} from './bounds.js';

export const CHECK_STATUSES = ['passing', 'warning', 'critical'] as const;
export type CheckStatus = (typeof CHECK_STATUSES)[number];

export interface HttpCheck {
  readonly type: 'http';
  readonly url: string;
  readonly intervalMs: number;
  readonly timeoutMs: number;
}

export interface TcpCheck {
  readonly type: 'tcp';
  readonly host: string;
  readonly port: number;
  readonly intervalMs: number;
  readonly timeoutMs: number;
}

export interface TtlCheck {
  readonly type: 'ttl';
  readonly ttlMs: number;
}

export type CheckDefinition = HttpCheck | TcpCheck | TtlCheck;

export interface CheckResult {
  readonly status: CheckStatus;
  readonly output: string;
}

export function isCheckStatus(v: unknown): v is CheckStatus {
  return typeof v === 'string' && (CHECK_STATUSES as readonly string[]).includes(v);
}

function bad(message: string): never {
  fail(ErrorCode.InvalidArgument, message);
}

function onlyKeys(v: Record<string, unknown>, keys: readonly string[], what: string): void {
  for (const k of Object.keys(v))
    if (!keys.includes(k))
      bad(`Unexpected field ${JSON.stringify(k)} in ${what}; expected ${keys.join(', ')}.`);
}

/** Validates a check definition, filling in default interval and timeout. */
export function parseCheckDefinition(v: unknown): CheckDefinition {
  if (!isRecord(v)) bad('A check must be an object with a "type" of "http", "tcp" or "ttl".');
  switch (v.type) {
    case 'http': {
      onlyKeys(v, ['type', 'url', 'intervalMs', 'timeoutMs'], 'an HTTP check');
      const url = v.url;
      if (typeof url !== 'string' || url.length === 0 || url.length > URL_MAX_LENGTH)
        bad(`An HTTP check needs a "url" of at most ${URL_MAX_LENGTH} characters.`);
      let parsed: URL;
      try {
        parsed = new URL(url);
      } catch {
        bad(`The check url ${JSON.stringify(url)} is not a valid URL.`);
      }
      if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')
        bad('An HTTP check url must start with http:// or https://.');
      if (parsed.username !== '' || parsed.password !== '')
        bad('An HTTP check url must not carry credentials: check definitions are replicated to every agent.');
      return {
        type: 'http',
        url,
        ...probeTiming(v),
      };
    }
    case 'tcp':
      onlyKeys(v, ['type', 'host', 'port', 'intervalMs', 'timeoutMs'], 'a TCP check');
      return {
        type: 'tcp',
        host: checkAddress(v.host, 'check host'),
        port: checkPort(v.port, 'check port'),
        ...probeTiming(v),
      };
    case 'ttl':
      onlyKeys(v, ['type', 'ttlMs'], 'a TTL check');
      return { type: 'ttl', ttlMs: checkIntMs(v.ttlMs, 'check ttlMs', MIN_TTL_MS, MAX_TTL_MS) };
    default:
      return bad('A check "type" must be "http", "tcp" or "ttl".');
  }
}

/** Same definition: the runner keeps a check that was re-added unchanged (and its schedule). */
export function sameCheck(a: CheckDefinition | undefined, b: CheckDefinition | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return canonicalJson(a, Infinity) === canonicalJson(b, Infinity);
}

function errorText(e: unknown): string {
  if (e instanceof Error) {
    const cause = e.cause;
    if (cause instanceof Error) {
      const code = (cause as { code?: unknown }).code;
      return typeof code === 'string' ? `${code}: ${cause.message}` : cause.message;
    }
    return e.message;
  }
  return String(e);
}

/** GET `url`: 2xx passes, 429 (Too Many Requests) warns, anything else is critical. */
export async function httpProbe(check: HttpCheck): Promise<CheckResult> {
  const signal = AbortSignal.timeout(check.timeoutMs);
  try {
    const res = await fetch(check.url, {
      signal,
      headers: { 'user-agent': 'smac-health-check/1', accept: 'text/plain, application/json, */*' },
    });
    // The status line is the verdict; the body is not read (it could be large or never end).
    await res.body?.cancel().catch(() => undefined);
    const line = `HTTP GET ${check.url}: ${res.status} ${res.statusText}`.trimEnd();
    if (res.status >= 200 && res.status < 300) return { status: 'passing', output: clipOutput(line) };
    if (res.status === 429) return { status: 'warning', output: clipOutput(line) };
    return { status: 'critical', output: clipOutput(line) };
  } catch (e) {
    if (signal.aborted)
      return {
        status: 'critical',
        output: clipOutput(`HTTP GET ${check.url}: timed out after ${check.timeoutMs} ms`),
      };
    return { status: 'critical', output: clipOutput(`HTTP GET ${check.url} failed: ${errorText(e)}`) };
  }
}

/** Opens a TCP connection to host:port and closes it: connected within the timeout passes. */
export function tcpProbe(check: TcpCheck): Promise<CheckResult> {
  const target = `${check.host}:${check.port}`;
  return new Promise((resolve) => {
    const socket = connect({ host: check.host, port: check.port });
    const done = (r: CheckResult): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve({ status: r.status, output: clipOutput(r.output) });
    };
    const timer = setTimeout(() => {
      done({ status: 'critical', output: `TCP connect ${target}: timed out after ${check.timeoutMs} ms` });
    }, check.timeoutMs);
    socket.once('connect', () => {
      done({ status: 'passing', output: `TCP connect ${target}: success` });
    });
    socket.once('error', (e: NodeJS.ErrnoException) => {
      done({ status: 'critical', output: `TCP connect ${target} failed: ${e.code ?? e.message}` });
    });
  });
}

export interface CheckRunnerOptions {
  /** Receives every result of a check that is still registered; must not throw. */
  readonly onResult: (id: string, result: CheckResult) => void;
  /** Wall clock in ms (TTL deadlines); injectable for tests. */
  readonly now?: () => number;
  /** Probes in flight at once. More checks than this queue; each check is queued at most once. */
  readonly maxConcurrent?: number;
}

export const DEFAULT_MAX_CONCURRENT_CHECKS = 16;

interface Entry {
  readonly id: string;
  readonly def: CheckDefinition;
  timer: NodeJS.Timeout | undefined;
  running: Promise<CheckResult> | undefined;
  last: CheckResult | undefined;
  /** TTL checks: the last report and when it came. */
  ttl: { at: number; result: CheckResult } | undefined;
}

export class CheckRunner {
  private readonly entries = new Map<string, Entry>();
  private readonly now: () => number;
  private readonly maxConcurrent: number;
  private readonly waiting: (() => void)[] = [];
  private active = 0;
  private started = false;

  constructor(private readonly options: CheckRunnerOptions) {
    this.now = options.now ?? Date.now;
    this.maxConcurrent = options.maxConcurrent ?? DEFAULT_MAX_CONCURRENT_CHECKS;
    if (!Number.isInteger(this.maxConcurrent) || this.maxConcurrent < 1)
      bad('maxConcurrent must be a positive integer.');
  }

  /** Starts scheduling: every check runs now, then on its interval. */
  start(): void {
    if (this.started) return;
    this.started = true;
    for (const e of this.entries.values()) this.schedule(e, 0);
  }

  /** Stops every timer and forgets every check; results of runs in flight are dropped. */
  stop(): void {
    this.started = false;
    for (const e of this.entries.values()) clearTimeout(e.timer);
    this.entries.clear();
  }

  /**
   * Adds a check, or replaces one whose definition changed. Returns false when the same
   * definition is already there (nothing restarts). `seed` is a TTL check's initial report
   * (e.g. the replicated status, after a restart), taken as received now.
   */
  set(id: string, def: CheckDefinition, seed?: CheckResult): boolean {
    const old = this.entries.get(id);
    if (old && sameCheck(old.def, def)) return false;
    if (old) this.delete(id);
    const e: Entry = {
      id,
      def,
      timer: undefined,
      running: undefined,
      last: undefined,
      ttl: def.type === 'ttl' && seed ? { at: this.now(), result: seed } : undefined,
    };
    this.entries.set(id, e);
    if (this.started) this.schedule(e, 0);
    return true;
  }

  delete(id: string): boolean {
    const e = this.entries.get(id);
    if (!e) return false;
    clearTimeout(e.timer);
    this.entries.delete(id);
    return true;
  }

  has(id: string): boolean {
    return this.entries.has(id);
  }

  definition(id: string): CheckDefinition | undefined {
    return this.entries.get(id)?.def;
  }

  ids(): string[] {
    return [...this.entries.keys()];
  }

  /** The latest result of a check, if it ran. */
  last(id: string): CheckResult | undefined {
    return this.entries.get(id)?.last;
  }

  /** Runs a check now (joining a run in flight) and resolves with its result. */
  run(id: string): Promise<CheckResult> {
    const e = this.entries.get(id);
    if (!e) return Promise.reject(new Error(`no check ${id}`));
    if (e.def.type === 'ttl') return Promise.resolve(this.evaluateTtl(e));
    e.running ??= this.probe(e).finally(() => {
      e.running = undefined;
    });
    return e.running;
  }

  /** A TTL check's report (a heartbeat): counts from now, and is reported at once. */
  report(id: string, result: CheckResult): CheckResult {
    const e = this.entries.get(id);
    if (e?.def.type !== 'ttl') throw new Error(`no TTL check ${id}`);
    e.ttl = { at: this.now(), result: { status: result.status, output: clipOutput(result.output) } };
    return this.evaluateTtl(e);
  }

  private evaluateTtl(e: Entry): CheckResult {
    if (e.def.type !== 'ttl') throw new Error('not a TTL check');
    const ttlMs = e.def.ttlMs;
    const now = this.now();
    let result: CheckResult;
    if (e.ttl === undefined) result = { status: 'critical', output: 'TTL check: no heartbeat yet' };
    else if (now - e.ttl.at > ttlMs)
      result = {
        status: 'critical',
        output: `TTL check: expired, the last heartbeat was ${now - e.ttl.at} ms ago (TTL ${ttlMs} ms)`,
      };
    else result = e.ttl.result;
    this.deliver(e, result);
    // Re-evaluate just after the deadline; with nothing pending, the next heartbeat re-arms.
    clearTimeout(e.timer);
    e.timer = undefined;
    if (this.started && e.ttl !== undefined && now - e.ttl.at <= ttlMs)
      this.arm(e, Math.max(e.ttl.at + ttlMs - now + 1, MIN_TIMEOUT_MS), () => this.evaluateTtl(e));
    return result;
  }

  private async probe(e: Entry): Promise<CheckResult> {
    await this.acquire();
    let result: CheckResult;
    try {
      if (e.def.type === 'http') result = await httpProbe(e.def);
      else if (e.def.type === 'tcp') result = await tcpProbe(e.def);
      else throw new Error('TTL checks are not probed');
    } finally {
      this.release();
    }
    this.deliver(e, result);
    if (this.started && this.entries.get(e.id) === e) this.schedule(e, e.def.intervalMs);
    return result;
  }

  private deliver(e: Entry, result: CheckResult): void {
    if (this.entries.get(e.id) !== e) return; // removed or replaced meanwhile
    e.last = result;
    this.options.onResult(e.id, result);
  }

  private schedule(e: Entry, delayMs: number): void {
    if (e.def.type === 'ttl') {
      this.arm(e, delayMs, () => this.evaluateTtl(e));
      return;
    }
    this.arm(e, delayMs, () => void this.run(e.id).catch(() => undefined));
  }

  private arm(e: Entry, delayMs: number, fn: () => void): void {
    clearTimeout(e.timer);
    e.timer = setTimeout(() => {
      e.timer = undefined;
      if (this.entries.get(e.id) === e) fn();
    }, delayMs);
    e.timer.unref();
  }

  private acquire(): Promise<void> {
    if (this.active < this.maxConcurrent) {
      this.active++;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  private release(): void {
    const next = this.waiting.shift();
    if (next)
      next(); // the slot passes on
    else this.active--;
  }
}

/** The interval and timeout shared by HTTP and TCP checks, defaulted and bounded. */
function probeTiming(v: Record<string, unknown>): { intervalMs: number; timeoutMs: number } {
  return {
    intervalMs: checkIntMs(
      v.intervalMs,
      'check intervalMs',
      MIN_INTERVAL_MS,
      MAX_INTERVAL_MS,
      DEFAULT_INTERVAL_MS,
    ),
    timeoutMs: checkIntMs(v.timeoutMs, 'check timeoutMs', MIN_TIMEOUT_MS, MAX_TIMEOUT_MS, DEFAULT_TIMEOUT_MS),
  };
}
