/**
 * The single owner's input queue (DESIGN.md "one owner mutates replica state"). Callbacks —
 * gossip, sync streams, API requests, timers — only enqueue; one drain, scheduled on the next
 * turn of the event loop, hands everything queued so far to the owner in one synchronous call.
 * That call is the group commit: all events of one drain are persisted in one transaction.
 */
export class OwnerQueue<T> {
  private items: T[] = [];
  private scheduled = false;
  private waiters: (() => void)[] = [];
  private closed = false;

  constructor(private readonly drain: (items: T[]) => void) {}

  /** Queues an input; resolves once the drain that processed it has returned. */
  push(item: T): Promise<void> {
    if (this.closed) return Promise.reject(new Error('The agent is stopping; no new input is accepted.'));
    this.items.push(item);
    const done = new Promise<void>((resolve) => this.waiters.push(resolve));
    this.schedule();
    return done;
  }

  /** Processes everything queued now, synchronously (used on shutdown). */
  drainNow(): void {
    const items = this.items;
    const waiters = this.waiters;
    this.items = [];
    this.waiters = [];
    this.scheduled = false;
    try {
      if (items.length > 0) this.drain(items);
    } finally {
      for (const w of waiters) w();
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
