/**
 * Preparing a local batch without touching the replica (issue 7, "Nothing half-applied"): the
 * downstream ops of every op are computed first, the event is encoded and checked against its
 * size limit, and only then is the batch applied. Prepare only reads, so an object touched once
 * is prepared against live state; an object touched again later in the batch must observe the
 * earlier ops, so it is prepared and applied on a clone, which the commit puts in place.
 */
import type { OpContext } from './crdt/crdt.js';
import { ewFlag } from './crdt/ew-flag.js';
import { type EntryDown, type EntryOp, entryId } from './crdt/or-map.js';
import { getType } from './crdt/registry.js';
import { applyKeyDown, type KeyspaceState, prepareKeyOp } from './keyspace.js';

export interface PreparedBatch {
  /** The downstream ops, in batch order. */
  readonly ops: readonly EntryDown[];
  /** Applies the batch to the keyspace it was prepared on. Cannot throw on prepared input. */
  commit(): void;
}

export function prepareBatch(ks: KeyspaceState, parsed: readonly EntryOp[], ctx: OpContext): PreparedBatch {
  const ids = parsed.map((op) => entryId(op.type, op.field));
  const scratch = clonesOfRepeated(ks, ids);
  const ops: EntryDown[] = parsed.map((op, i) => {
    const view = scratch.get(ids[i] ?? '');
    if (!view) return prepareKeyOp(ks, op, ctx);
    const d = prepareKeyOp(view, op, ctx);
    applyKeyDown(view, d, ctx); // the next op of the batch observes this one
    return d;
  });
  return {
    ops,
    commit: () => {
      const committed = new Set<string>();
      ops.forEach((d, i) => {
        const id = ids[i] ?? '';
        const view = scratch.get(id);
        if (view === undefined) applyKeyDown(ks, d, ctx);
        else if (!committed.has(id)) {
          // First op on a repeated object: its clone already holds the whole batch's effect.
          committed.add(id);
          const e = view.get(id);
          if (e) ks.set(id, e);
          else ks.delete(id);
        }
      });
    },
  };
}

/** Clones of the objects `ids` names more than once, each in a one-entry keyspace. */
function clonesOfRepeated(ks: KeyspaceState, ids: readonly string[]): Map<string, KeyspaceState> {
  const out = new Map<string, KeyspaceState>();
  if (ids.length < 2) return out;
  const seen = new Set<string>();
  for (const id of ids) {
    if (!seen.has(id)) {
      seen.add(id);
      continue;
    }
    if (out.has(id)) continue;
    const view: KeyspaceState = new Map();
    const e = ks.get(id);
    if (e) view.set(id, { ...e, state: getType(e.type).clone(e.state), presence: ewFlag.clone(e.presence) });
    out.set(id, view);
  }
  return out;
}
