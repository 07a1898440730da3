/**
 * The pending record of a rebase (src/agent/rebase.ts): what it re-runs and which state it may
 * take, written synced before the store changes, so that a crash resumes it at the next start.
 */
import type { Store } from '../store/store.js';
import { type Carried, parseCarried } from './rebase-carry.js';

const PENDING_KEY = 'rebase-pending';

export interface Pending {
  /** The reaped epoch and its cut: the state is ready once it holds `from` up to `cut`. */
  readonly from: string;
  readonly cut: number;
  /** Client batches to re-run, as JSON, in order. */
  readonly ops: readonly string[];
  /**
   * The client batches the rebase moved here from the store's own-ops table, by epoch: those
   * beyond the seq (rebase-ops.ts). Dropped from the table once this record is durable, again
   * at a resume (idempotent), so that a later rebase does not re-run them a second time.
   */
  readonly moved?: Readonly<Record<string, number>>;
  /** Our latest epoch the batches in `ops` were taken from: they follow its batches still kept. */
  readonly last?: string;
  /**
   * The members we knew when the store was emptied (absent when it was not): until the state
   * is back, they are who we take a snapshot from (snapshot-source.ts), not only a join peer.
   */
  readonly members?: readonly string[];
  /**
   * The members that agreed the cut (the side of the reap we rebase for): the state taken must
   * hold that reap, not another side's of the same epoch (mutual-reap.ts, three sides or more).
   */
  readonly side?: readonly string[];
  /**
   * Events of our own epochs carried across the emptied store (rebase-carry.ts): delivered
   * again once the state is in, before the batches are re-run; then emptied.
   */
  readonly carry?: readonly Carried[];
}

/** The pending record in the store's metadata, with the parts read often cached. */
export class PendingRecord {
  /** `members` of the record (a cache: the record can be large). */
  private former: ReadonlySet<string> | undefined;
  /** The epoch, cut and side of a record that emptied the store (a cache, as `former`). */
  private awaiting: { epoch: string; cut: number; side: readonly string[] } | undefined | null = null;

  constructor(private readonly store: Pick<Store, 'getMeta' | 'setMetaSynced'>) {}

  /** Writes `p` synced. */
  set(p: Pending): void {
    this.store.setMetaSynced(PENDING_KEY, JSON.stringify(p));
    this.cache(p);
  }

  /** The rebase is over. */
  clear(): void {
    this.store.setMetaSynced(PENDING_KEY, '');
    this.cache(undefined);
  }

  get(): Pending | undefined {
    const raw = this.store.getMeta(PENDING_KEY);
    if (!raw) return undefined;
    try {
      return parsePending(JSON.parse(raw) as Partial<Pending>);
    } catch {
      return undefined;
    }
  }

  /** The members we knew before the store was emptied (rebase.ts `formerMembers`). */
  formerMembers(): ReadonlySet<string> {
    this.former ??= new Set(this.get()?.members ?? []);
    return this.former;
  }

  /** The reaped epoch, cut and side of a record that emptied the store (rebase.ts `rebasingFrom`). */
  awaitingState(): { epoch: string; cut: number; side: readonly string[] } | undefined {
    if (this.awaiting === null) this.cache(this.get());
    return this.awaiting ?? undefined;
  }

  private cache(p: Pending | undefined): void {
    this.former = new Set(p?.members ?? []);
    this.awaiting = p?.members ? { epoch: p.from, cut: p.cut, side: p.side ?? [] } : undefined;
  }
}

/**
 * The members a rebase that empties the store remembers (Pending `members`, `side`): those we
 * know but `self`, and `side`, the members that agreed the cut, to take the state from too.
 */
export function remembered(
  self: string,
  known: readonly string[],
  side: readonly string[] = [],
): { members: readonly string[]; side: readonly string[] } {
  const members = new Set([...known, ...side].filter((m) => m !== self));
  return { members: [...members].sort(), side: [...new Set(side)].sort() };
}

function parsePending(p: Partial<Pending>): Pending | undefined {
  if (typeof p.from !== 'string' || typeof p.cut !== 'number' || !Array.isArray(p.ops)) return undefined;
  const names = (xs: unknown[]) => xs.filter((m): m is string => typeof m === 'string');
  const moved: Record<string, number> = {};
  const raw = p.moved as unknown; // as stored: any JSON
  if (typeof raw === 'object' && raw !== null)
    for (const [e, seq] of Object.entries(raw)) if (typeof seq === 'number') moved[e] = seq;
  return {
    from: p.from,
    cut: p.cut,
    ops: names(p.ops),
    moved,
    ...(typeof p.last === 'string' ? { last: p.last } : {}),
    ...(Array.isArray(p.members) ? { members: names(p.members) } : {}),
    ...(Array.isArray(p.side) ? { side: names(p.side) } : {}),
    ...(Array.isArray(p.carry) ? { carry: parseCarried(p.carry) } : {}),
  };
}
