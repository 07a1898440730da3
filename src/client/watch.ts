/**
 * Watches (docs/api.md "Watches"): an async iterable of the server-sent events of
 * `/v1/watch`, which can resume from a cursor and, when asked, reconnects by itself.
 */
import type { ClientRequest, IncomingMessage } from 'node:http';
import type { ChangeData, Clock, ObjectView } from '../api/schemas.js';
import { SseParser } from './sse-parser.js';
import {
  ClientErrorCode,
  errorFromResponse,
  query,
  readAll,
  SmacApiError,
  transportError,
} from './transport.js';

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

/** What a watch needs of the client: a way to open a request (SmacClient.open). */
export interface RequestOpener {
  open(method: string, path: string, accept: string, payload?: string): ClientRequest;
}

/** A watch: an async iterable of events; reconnects and resumes when asked to. */
export class WatchStream implements AsyncIterable<WatchEvent> {
  private last: string | undefined;
  private readonly abort = new AbortController();
  private started = false;

  constructor(
    private readonly client: RequestOpener,
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
      // A watch may stay quiet for long: no idle timeout on its connection (the pool's applies
      // to idle connections; Node's agent might one day close active ones on it too).
      req.setTimeout(0);
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
