/**
 * The single owner's input queue (DESIGN.md "one owner mutates replica state"). Callbacks —
 * gossip, sync streams, API requests, timers — only enqueue; one drain, scheduled on the next
 * turn of the event loop, hands everything queued so far to the owner in one synchronous call.
 * That call is the group commit: all events of one drain are persisted in one transaction.
 *
 * The drain settles each input itself (a bad input is refused, the rest go on). Should the
 * drain still throw, the queue never lets it escape into the event loop (that would kill the
 * process from a setImmediate): `onError` is told, the drain's waiters are released as usual
 * (a push() promise never rejects for a drain failure: many are dropped unawaited, and an
 * unhandled rejection would kill the process just the same), and later inputs drain as usual.
 */
export interface OwnerQueueOptions {
  /** Called with whatever a drain threw. */
  readonly onError?: (error: unknown) => void;
}

export class OwnerQueue<T> {
  private items: T[] = [];
  private scheduled = false;
  private waiters: (() => void)[] = [];
  private closed = false;

  constructor(
    private readonly drain: (items: T[]) => void,
    private readonly options: OwnerQueueOptions = {},
  ) {}

  /**
   * Queues an input; resolves once the drain that processed it has returned (or failed). Once
   * closed (the agent is stopping), rejects: the input was not applied. That rejection is marked
   * handled here, since inputs arrive from callbacks (gossip, sync, timers) that may drop the
   * promise, and an unhandled rejection would kill the process or fail a test run (docs/chaos.md);
   * a caller that awaits it still gets the error.
   */
  push(item: T): Promise<void> {
    if (this.closed) {
      const refused = Promise.reject(new Error('The agent is stopping; no new input is accepted.'));
      refused.catch(() => undefined);
      return refused;
    }
    this.items.push(item);
    const done = new Promise<void>((resolve) => this.waiters.push(resolve));
    this.schedule();
    return done;
  }

  /** Processes everything queued now, synchronously (used on shutdown). Never throws. */
  drainNow(): void {
    const items = this.items;
    const waiters = this.waiters;
    this.items = [];
    this.waiters = [];
    this.scheduled = false;
    let failure: { error: unknown } | undefined;
    try {
      if (items.length > 0) this.drain(items);
    } catch (e) {
      failure = { error: e };
    }
    for (const w of waiters) w();
    if (failure) {
      try {
        this.options.onError?.(failure.error);
      } catch {
        // the reporter failed too: nothing more can be done here
      }
    }
  }

  close(): void {
    this.closed = true;
    this.drainNow();
  }

  get length(): number {
    return this.items.length;
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.drainNow();
    });
  }
}
