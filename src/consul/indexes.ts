/**
 * Consul's raft indexes, for a system without a log to number: `X-Consul-Index`,
 * `CreateIndex` and `ModifyIndex` are handed out here, per answer ("view", e.g. the passing
 * endpoints of one service) and per entry (a node, an endpoint, a key).
 *
 * An index changes only when what it stands for changed: each view and entry keeps a digest of
 * its content, and a different digest takes the next index. Indexes come from one counter that
 * only grows, and that starts from the wall clock in ms: an agent that restarts hands out
 * indexes above every one it handed out before (unless it bumped more than once per ms on
 * average over its whole run), so a client's blocking query never waits on an index from the
 * future. Both maps are bounded; a view or entry seen again after it was dropped takes a fresh
 * index, which at worst wakes a client once for nothing.
 */
import { createHash } from 'node:crypto';

/** Entries (nodes, endpoints, checks, keys) whose indexes are kept: past it, the least recently seen go. */
export const DEFAULT_MAX_TRACKED = 65_536;
/** Answers (a path with its parameters) whose indexes are kept. */
export const DEFAULT_MAX_VIEWS = 4_096;

interface Tracked {
  digest: string;
  create: number;
  modify: number;
}

export interface IndexStamp {
  readonly create: number;
  readonly modify: number;
}

export class ConsulIndexes {
  private last: number;
  private readonly entries: Bounded;
  private readonly views: Bounded;

  constructor(
    private readonly now: () => number = Date.now,
    maxTracked = DEFAULT_MAX_TRACKED,
    maxViews = DEFAULT_MAX_VIEWS,
  ) {
    this.last = Math.max(1, Math.floor(now()));
    this.entries = new Bounded(maxTracked, () => this.next());
    this.views = new Bounded(maxViews, () => this.next());
  }

  /** The highest index handed out so far. */
  get current(): number {
    return this.last;
  }

  /** The create and modify indexes of entry `id` whose content is now `content` (any JSON value). */
  stamp(id: string, content: unknown): IndexStamp {
    return this.entries.stamp(id, digestOf(content));
  }

  /**
   * The index of a whole answer. Its digest leaves out the entries' own indexes: an entry
   * dropped from the bounded map and stamped afresh must not make an unchanged answer look new
   * (every blocking query on it would return at once, again and again).
   */
  view(id: string, content: unknown): number {
    return this.views.stamp(id, digestOf(content, withoutIndexes)).modify;
  }

  private next(): number {
    this.last = Math.max(this.last + 1, Math.floor(this.now()));
    return this.last;
  }
}

/** A map of digests and indexes that keeps the `max` most recently seen ids. */
class Bounded {
  private readonly tracked = new Map<string, Tracked>();

  constructor(
    private readonly max: number,
    private readonly next: () => number,
  ) {}

  stamp(id: string, digest: string): IndexStamp {
    const t = this.tracked.get(id);
    if (t !== undefined) {
      // Refresh its place in the bounded map (least recently seen goes first).
      this.tracked.delete(id);
      this.tracked.set(id, t);
      if (t.digest !== digest) {
        t.digest = digest;
        t.modify = this.next();
      }
      return { create: t.create, modify: t.modify };
    }
    const index = this.next();
    this.tracked.set(id, { digest, create: index, modify: index });
    if (this.tracked.size > this.max) {
      const oldest = this.tracked.keys().next().value;
      if (oldest !== undefined) this.tracked.delete(oldest);
    }
    return { create: index, modify: index };
  }
}

function withoutIndexes(key: string, value: unknown): unknown {
  return key === 'CreateIndex' || key === 'ModifyIndex' ? undefined : value;
}

function digestOf(content: unknown, replacer?: (key: string, value: unknown) => unknown): string {
  // Wrapped: JSON.stringify(undefined) is no string, [undefined] is.
  const text = JSON.stringify([content], replacer);
  return createHash('sha256').update(text).digest('base64');
}
