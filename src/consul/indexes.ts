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

export const DEFAULT_MAX_TRACKED = 16_384;

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
  private readonly tracked = new Map<string, Tracked>();

  constructor(
    private readonly now: () => number = Date.now,
    private readonly maxTracked = DEFAULT_MAX_TRACKED,
  ) {
    this.last = Math.max(1, Math.floor(now()));
  }

  /** The highest index handed out so far. */
  get current(): number {
    return this.last;
  }

  /** The create and modify indexes of `id` whose content is now `content` (any JSON value). */
  stamp(id: string, content: unknown): IndexStamp {
    const digest = digestOf(content);
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
    if (this.tracked.size > this.maxTracked) {
      const oldest = this.tracked.keys().next().value;
      if (oldest !== undefined) this.tracked.delete(oldest);
    }
    return { create: index, modify: index };
  }

  /** The index of a whole answer (its modify index). */
  view(id: string, content: unknown): number {
    return this.stamp('view\u0000' + id, content).modify;
  }

  private next(): number {
    this.last = Math.max(this.last + 1, Math.floor(this.now()));
    return this.last;
  }
}

function digestOf(content: unknown): string {
  return (
    createHash('sha256')
      // Wrapped: JSON.stringify(undefined) is no string, [undefined] is.
      .update(JSON.stringify([content]))
      .digest('base64')
  );
}
