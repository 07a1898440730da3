/**
 * Consul's blocking queries: `?index=N` asks for an answer whose index is above N, waiting up
 * to `?wait=` (a Go duration, 5 minutes by default, at most 10, plus up to a sixteenth of it at
 * random so that clients that started together do not come back together), after which the
 * current answer is returned as Consul does. `index` absent or 0 answers at once.
 *
 * The answer is recomputed on each wake-up of the feed that concerns it; it is returned only
 * once its index grew, that is once its content changed (indexes.ts), so nothing that leaves
 * the answer as it was (an unrelated key, a member suspected but not yet dead) ends the wait.
 */
import { ConsulHttpError } from './errors.js';
import type { ConsulFeed, FeedTopic } from './feed.js';

export const DEFAULT_WAIT_MS = 5 * 60_000;
export const MAX_WAIT_MS = 10 * 60_000;

export interface BlockingParams {
  /** The index the client holds; undefined or 0: answer at once. */
  readonly index: number | undefined;
  readonly waitMs: number;
}

const UNIT_MS: Readonly<Record<string, number>> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  ms: 1,
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
};

/** A Go duration ("10s", "1m30s", "250ms", "0") in ms; undefined when it is not one. */
export function parseGoDuration(s: string): number | undefined {
  if (s === '0') return 0;
  if (!/^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$/.test(s)) return undefined;
  let total = 0;
  for (const m of s.matchAll(/(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g)) {
    total += Number(m[1]) * (UNIT_MS[m[2] ?? ''] ?? 0);
  }
  return Number.isFinite(total) ? total : undefined;
}

/** Reads `index` and `wait` from a query; throws a 400 on a malformed one, as Consul does. */
export function parseBlocking(query: Readonly<Record<string, unknown>>): BlockingParams {
  const rawIndex = first(query.index);
  let index: number | undefined;
  if (rawIndex !== undefined && rawIndex !== '') {
    // Number(), not parseInt: "12abc" is not an index, and "1e3" is not what a client sent.
    index = /^\d+$/.test(rawIndex) ? Number(rawIndex) : NaN;
    if (!Number.isSafeInteger(index)) throw new ConsulHttpError(400, 'Invalid index');
  }
  const rawWait = first(query.wait);
  let waitMs = DEFAULT_WAIT_MS;
  if (rawWait !== undefined && rawWait !== '') {
    const ms = parseGoDuration(rawWait);
    if (ms === undefined) throw new ConsulHttpError(400, 'Invalid wait time');
    waitMs = Math.min(MAX_WAIT_MS, ms);
  }
  return { index, waitMs };
}

export function first(v: unknown): string | undefined {
  if (Array.isArray(v)) return first(v[0]);
  return typeof v === 'string' ? v : undefined;
}

export interface Answer<T> {
  readonly index: number;
  readonly body: T;
}

export interface BlockOptions<T> {
  readonly feed: ConsulFeed;
  readonly params: BlockingParams;
  /** Whether a feed topic may change this answer. */
  readonly relevant: (topic: FeedTopic) => boolean;
  readonly compute: () => Answer<T>;
  /** Aborted when the client goes away or the listener closes: answer now. */
  readonly signal?: AbortSignal;
  /** Random in [0, 1) for the jitter; injectable for tests. */
  readonly random?: () => number;
}

/** The answer, once its index is above the client's, or when the wait is over. */
export function block<T>(opts: BlockOptions<T>): Promise<Answer<T>> {
  const { params } = opts;
  const now = opts.compute();
  if (params.index === undefined || params.index === 0 || now.index > params.index || opts.signal?.aborted)
    return Promise.resolve(now);
  const waitMs = params.waitMs + Math.floor((opts.random ?? Math.random)() * (params.waitMs / 16));
  return new Promise<Answer<T>>((resolve, reject) => {
    let scheduled = false;
    let done = false;
    const finish = (answer: () => Answer<T>): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      unsubscribe();
      opts.signal?.removeEventListener('abort', onAbort);
      try {
        resolve(answer());
      } catch (e) {
        reject(e instanceof Error ? e : new Error(String(e)));
      }
    };
    const look = (): void => {
      scheduled = false;
      if (done) return;
      try {
        const answer = opts.compute();
        if (answer.index > (params.index ?? 0)) finish(() => answer);
      } catch (e) {
        done = true;
        clearTimeout(timer);
        unsubscribe();
        reject(e instanceof Error ? e : new Error(String(e)));
      }
    };
    // Several events in a row (a registration and its check status) cost one recomputation.
    const unsubscribe = opts.feed.subscribe((topic) => {
      if (done || scheduled || !opts.relevant(topic)) return;
      scheduled = true;
      setImmediate(look);
    });
    const timer = setTimeout(() => {
      finish(opts.compute);
    }, waitMs);
    const onAbort = (): void => {
      finish(opts.compute);
    };
    opts.signal?.addEventListener('abort', onAbort);
  });
}
