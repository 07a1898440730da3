/**
 * One key, one type, for new local writes (issue 9). The address of an object is (type, key),
 * so nothing in the data model stops two types under one key, and two partitions may still
 * create both (each applies the other's create when they heal: docs/semantics.md "One key, one
 * type"). But a client that creates `app/x` as a register while this agent already holds a
 * counter `app/x` has almost certainly made a mistake, so a local write that would add a
 * second type under a key is refused (TYPE_CONFLICT, naming the type that holds it).
 *
 * This is a client-input rule: it is checked for local batches only, never for remote events
 * or snapshots, whose validation depends on their wire version alone (remote-validation.ts).
 */
import { TYPE_NAMES, type TypeName } from './crdt/crdt.js';
import type { EntryOp } from './crdt/or-map.js';
import { ErrorCode, fail } from './errors.js';
import { type KeyspaceState, readObject } from './keyspace.js';

/**
 * Throws TYPE_CONFLICT when an op of the batch would create or update an object under a key
 * that another type holds here, or that an earlier op of the same batch gives another type.
 * Writes to a type the key already holds never conflict, nor does a delete; a batch that
 * deletes a key's object may then create another type.
 */
export function checkTypeConflicts(ks: KeyspaceState, ops: readonly EntryOp[]): void {
  // The types each touched key holds as the batch goes along (only keys the batch touches).
  const held = new Map<string, Set<TypeName>>();
  const typesAt = (key: string): Set<TypeName> => {
    let s = held.get(key);
    if (!s) {
      s = new Set(TYPE_NAMES.filter((t) => readObject(ks, t, key) !== undefined));
      held.set(key, s);
    }
    return s;
  };
  ops.forEach((op, index) => {
    const types = typesAt(op.field);
    if (op.kind === 'remove') {
      types.delete(op.type);
      return;
    }
    // Writing to a type the key already holds creates nothing new (after a partition both may).
    if (types.has(op.type)) return;
    const others = [...types];
    if (others.length > 0) {
      const where = ops.length > 1 ? `Operation ${index}: ` : '';
      fail(
        ErrorCode.TypeConflict,
        `${where}The key ${JSON.stringify(op.field)} already holds a ${others.join(' and a ')} on this agent; ` +
          `use that type, delete it first, or choose another key for the ${op.type}.`,
        { ...(ops.length > 1 ? { index } : {}), key: op.field, type: op.type, existing: others },
      );
    }
    types.add(op.type);
  });
}
