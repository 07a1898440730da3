/**
 * Which client batches a rebase re-runs (src/agent/rebase.ts), from the store's own-ops table
 * (src/store/own-ops.ts), and in which order.
 *
 * A rebase from our epoch E at a cut re-runs E's batches beyond the cut, then every batch of the
 * epochs we took after E (their events depend on E's beyond the cut, so no replica applies them
 * either), in the order they were acknowledged: by epoch, oldest first, then by seq. The epochs
 * of ours in the order we took them are kept in the store's metadata (`own-epochs`); a store
 * from before that record knows only the epoch it rebases from and the current one.
 *
 * The batches a rebase takes are *moved*: they go into its pending record and leave the table,
 * so a later rebase does not re-run them again. Those of E up to the cut stay: the same epoch
 * may be retired again at a lower cut (a mutual reap whose winner this agent took for another
 * one: docs/agent.md "Reaping"), and that rebase re-runs them, followed by the pending record's
 * batches (acknowledged after them) and the later epochs'. The table is still pruned of what
 * every member holds (compaction.ts), while no reaped member may still win against us.
 */
import { type VectorClock, vcGet } from '../core/clock/vector-clock.js';
import type { Store } from '../store/store.js';
import type { Pending } from './rebase-pending.js';

const OWN_EPOCHS_KEY = 'own-epochs';

/** Our epochs (origins) in the order we took them, as far as recorded. */
export function ownEpochs(store: Pick<Store, 'getMeta'>): string[] {
  try {
    const raw = JSON.parse(store.getMeta(OWN_EPOCHS_KEY) ?? '[]') as unknown;
    return Array.isArray(raw) ? raw.filter((e): e is string => typeof e === 'string') : [];
  } catch {
    return [];
  }
}

/** Records `epochs` (oldest first) as taken, each after those already recorded. */
export function recordOwnEpochs(
  store: Pick<Store, 'getMeta' | 'setMetaSynced'>,
  epochs: readonly string[],
): void {
  const known = ownEpochs(store);
  const more = epochs.filter((e, i) => !known.includes(e) && epochs.indexOf(e) === i);
  if (more.length > 0) store.setMetaSynced(OWN_EPOCHS_KEY, JSON.stringify([...known, ...more]));
}

export interface Rerun {
  /** The batches, in the order they were acknowledged. */
  readonly ops: string[];
  /** Per epoch, the seq beyond which its batches were taken (Pending `moved`). */
  readonly moved: Record<string, number>;
  /** The latest epoch batches were taken from (Pending `last`). */
  readonly last: string;
}

/**
 * The batches a rebase from our epoch `from` at `cut` re-runs, when `current` is the epoch we
 * write under: `from`'s beyond the cut, then every epoch's we took after `from`, up to `current`,
 * and `pending`'s (a rebase that never got its state) where they belong: after the batches of its
 * `last` epoch, or first when that is older than `from`.
 */
export function batchesToRerun(
  store: Pick<Store, 'getMeta' | 'setMetaSynced' | 'ownOpsSince'>,
  from: string,
  cut: number,
  current: string,
  pending: Pick<Pending, 'ops' | 'last'> | undefined,
): Rerun {
  recordOwnEpochs(store, [from, current]);
  const chain = ownEpochs(store);
  const after = chain.slice(chain.indexOf(from), chain.indexOf(current) + 1);
  const epochs = after.length > 0 ? after : [from, current].filter((e, i, xs) => xs.indexOf(e) === i);
  const earlier = pending?.last === undefined || !epochs.includes(pending.last);
  const ops = earlier ? [...(pending?.ops ?? [])] : [];
  const moved: Record<string, number> = {};
  for (const e of epochs) {
    const since = e === from ? cut : 0;
    ops.push(...store.ownOpsSince(e, since).map((o) => o.ops));
    moved[e] = since;
    if (!earlier && e === pending.last) ops.push(...pending.ops);
  }
  return { ops, moved, last: current };
}

/** Drops the batches `moved` took from the table (again after a crash: idempotent). */
export function dropMoved(
  store: Pick<Store, 'dropOwnOpsBeyond'>,
  moved: Readonly<Record<string, number>> = {},
): void {
  for (const [e, seq] of Object.entries(moved)) store.dropOwnOpsBeyond(e, seq);
}

/**
 * Our first event (of any of our epochs `own`) that followed our delivery of an epoch's events
 * beyond its cut in `cuts` (in log order, a causal order), or undefined when we wrote none
 * since. Neither is compacted: nobody else ever delivers them, so they never become stable.
 * When our compacted base holds such an epoch beyond the cut (we took it in a snapshot: a
 * member that joined the losing side of a mutual reap), its order against our own events there
 * is lost: every client write of ours we still keep is taken as beyond (`self`'s 1), and
 * nothing is handed over.
 */
export function firstOwnBeyond(
  store: Pick<Store, 'compactedClock' | 'eventsSince'>,
  own: ReadonlySet<string>,
  self: string,
  clock: VectorClock,
  cuts: ReadonlyMap<string, number>,
): { origin: string; seq: number } | undefined {
  const compacted = store.compactedClock();
  for (const [epoch, cut] of cuts) if (vcGet(compacted, epoch) > cut) return { origin: self, seq: 1 };
  const since = new Map(clock);
  for (const [epoch, cut] of cuts) since.set(epoch, cut);
  for (const epoch of own) since.delete(epoch);
  let beyond = false;
  for (const e of store.eventsSince(since)) {
    if (cuts.has(e.origin)) beyond = true;
    else if (beyond && own.has(e.origin)) return { origin: e.origin, seq: e.seq };
  }
  return undefined;
}
