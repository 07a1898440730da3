/**
 * Wakes blocking queries (blocking.ts) when something they show may have changed. Two
 * sources: the agent's change feed (every applied event, local or replicated: registrations,
 * check results, member records, keys), and the failure detector's statuses, which change
 * without an event (a member this agent finds dead may have had its record removed already by
 * another agent, so no event follows). The statuses are compared every `livenessPollMs`, only
 * while some query waits; comparing is in-memory and cheap.
 *
 * A wake-up says only "look again": the query recomputes its answer and returns only when
 * that answer changed (its index grew), so a spurious wake-up costs one computation.
 */
import { SYSTEM_PREFIX } from './kv.js';
import type { ConsulSource } from './source.js';

export type FeedTopic =
  /** Services, checks or members changed: catalog and health answers. */
  | { readonly kind: 'catalog' }
  /** Keys outside `_sys/` changed. */
  | { readonly kind: 'kv'; readonly keys: readonly string[] };

export const DEFAULT_LIVENESS_POLL_MS = 250;

export class ConsulFeed {
  private readonly waiters = new Set<(topic: FeedTopic) => void>();
  private unsubscribe: (() => void) | undefined;
  private poll: NodeJS.Timeout | undefined;
  private statuses = '';

  constructor(
    private readonly source: ConsulSource,
    private readonly livenessPollMs = DEFAULT_LIVENESS_POLL_MS,
  ) {}

  /** Calls `fn` on every change until the returned function is called. */
  subscribe(fn: (topic: FeedTopic) => void): () => void {
    this.waiters.add(fn);
    if (this.waiters.size === 1) this.open();
    return () => {
      if (this.waiters.delete(fn) && this.waiters.size === 0) this.close();
    };
  }

  get size(): number {
    return this.waiters.size;
  }

  /** Stops following the agent (the listener is closing). */
  stop(): void {
    this.waiters.clear();
    this.close();
  }

  private open(): void {
    this.unsubscribe = this.source.onChange(({ objects }) => {
      const keys: string[] = [];
      let catalog = false;
      for (const o of objects) {
        if (o.key.startsWith(SYSTEM_PREFIX)) catalog = true;
        else keys.push(o.key);
      }
      if (catalog) this.emit({ kind: 'catalog' });
      if (keys.length > 0) this.emit({ kind: 'kv', keys });
    });
    this.statuses = this.statusDigest();
    this.poll = setInterval(() => {
      const now = this.statusDigest();
      if (now === this.statuses) return;
      this.statuses = now;
      this.emit({ kind: 'catalog' });
    }, this.livenessPollMs);
    this.poll.unref();
  }

  private close(): void {
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    if (this.poll) clearInterval(this.poll);
    this.poll = undefined;
  }

  private statusDigest(): string {
    return this.source
      .members()
      .map((m) => `${m.id}=${m.status}`)
      .sort()
      .join(',');
  }

  private emit(topic: FeedTopic): void {
    for (const fn of [...this.waiters]) {
      try {
        fn(topic);
      } catch {
        // A waiter never breaks the agent's owner loop, which calls this synchronously.
      }
    }
  }
}
