/**
 * Ownership of system records (DESIGN.md "Security"; issue 7, "Ownership of system records";
 * docs/semantics.md "Ownership of system records").
 *
 * Only a member writes its own system records: its member record in `_sys/members`, its
 * services' endpoints in `_sys/services/<name>`, its check results in `_sys/checks/<name>` and
 * its own load figures in `_sys/load/<metric>` and `_sys/gauges/<metric>`. The only writes a
 * member may make to another member's records are *typed removals*: removing an element of the
 * member set (a confirmed death, a force-leave), removing an endpoint record or its check status
 * (a dead node's endpoint, a deregistration, an endpoint moving node). Nothing may add, change,
 * clear or delete-as-a-whole another member's records.
 *
 * The judgement is a pure function of one downstream op and the peer id that wrote it (the key
 * that signed its event; origin.ts maps an origin to it). It never looks at replica state, so
 * every replica judges an op alike whatever it has applied. Remote events follow it from wire
 * version 2 on (remote-validation.ts: a violating op is a counted no-op); local writes follow
 * it always (keyspace.ts `prepareKeyOp` refuses them), so an agent never emits an op its peers
 * would skip.
 *
 * `_sys/` keys outside these layouts keep the version-1 rule (any member may write them); a new
 * system layout that needs an owner comes with a new wire version. Wire version 3 adds the reap
 * reports `_sys/reaps/<epoch>` (reaping.ts): an add-wins set of `{ node, ... }` where only
 * `node` adds or removes its own report (no typed removal by others: removing a member's report
 * would hold a reap open for ever), nobody clears it or deletes it whole.
 */
import type { TypeName } from './crdt/crdt.js';
import type { EntryDown } from './crdt/or-map.js';
import { isRecord, type Json } from './json.js';
import { SYS_REAPS_PREFIX } from './reaping.js';

/** Code of a `rejected` effect for ops skipped because their writer does not own the record. */
export const NOT_OWNER = 'NOT_OWNER';

// The key layouts of src/agent/membership.ts, src/services/discovery.ts and load.ts (the core
// cannot import them; test/core/ownership.test.ts checks that they agree).
export const SYS_MEMBERS_KEY = '_sys/members';
export const SYS_SERVICES_PREFIX = '_sys/services/';
export const SYS_CHECKS_PREFIX = '_sys/checks/';
export const SYS_LOAD_PREFIX = '_sys/load/';
export const SYS_GAUGES_PREFIX = '_sys/gauges/';
export { SYS_REAPS_PREFIX };

/** Which owned layouts a judgement covers: those of a wire version (remote-validation.ts). */
export interface OwnershipRules {
  /** `_sys/reaps/` (wire version 3 on; local writes always). */
  readonly reaps: boolean;
}
/** Every layout this build knows: what local writes obey. */
export const ALL_OWNERSHIP: OwnershipRules = Object.freeze({ reaps: true });

type Layout =
  /** aw-set of `{ id, ... }`: owner = element `id`. */
  | { readonly kind: 'members'; readonly type: TypeName }
  /** rw-set of `{ node, ... }`: owner = element `node`. */
  | { readonly kind: 'endpoints'; readonly type: TypeName }
  /** or-map of lww-register `{ node, ... }`: owner = value `node`. */
  | { readonly kind: 'checks'; readonly type: TypeName; readonly fieldType: TypeName }
  /** or-map field = node id: owner = field. */
  | { readonly kind: 'per-node'; readonly type: TypeName; readonly fieldType: TypeName }
  /** aw-set of `{ node, ... }`: owner = element `node`, who alone adds or removes it. */
  | { readonly kind: 'reports'; readonly type: TypeName };

/** The owned layout `key` belongs to, or undefined for any other key. */
function layoutOf(key: string, rules: OwnershipRules = ALL_OWNERSHIP): Layout | undefined {
  if (rules.reaps && key.startsWith(SYS_REAPS_PREFIX)) return { kind: 'reports', type: 'aw-set' };
  if (key === SYS_MEMBERS_KEY) return { kind: 'members', type: 'aw-set' };
  if (key.startsWith(SYS_SERVICES_PREFIX)) return { kind: 'endpoints', type: 'rw-set' };
  if (key.startsWith(SYS_CHECKS_PREFIX)) return { kind: 'checks', type: 'or-map', fieldType: 'lww-register' };
  if (key.startsWith(SYS_LOAD_PREFIX)) return { kind: 'per-node', type: 'or-map', fieldType: 'pn-counter' };
  if (key.startsWith(SYS_GAUGES_PREFIX))
    return { kind: 'per-node', type: 'or-map', fieldType: 'lww-register' };
  return undefined;
}

/** True when `key` is a system record with an owner (writes to it are judged here). */
export function isOwnedKey(key: string, rules: OwnershipRules = ALL_OWNERSHIP): boolean {
  return layoutOf(key, rules) !== undefined;
}

/**
 * Why peer `writer` may not make the (parsed) keyspace downstream op `d`, or undefined when it
 * may. Ops on keys outside the owned layouts are always allowed here.
 */
export function ownershipViolation(
  d: EntryDown,
  writer: string,
  rules: OwnershipRules = ALL_OWNERSHIP,
): string | undefined {
  const layout = layoutOf(d.f, rules);
  if (!layout) return undefined;
  const where = `${d.t} ${JSON.stringify(d.f)}`;
  // Objects are addressed by (type, key): another type under the same key is not the record
  // (no reader reads it), so it is not judged here.
  if (d.t !== layout.type) return undefined;
  if (d.d !== undefined) return `${where}: nobody deletes a whole system object`;
  if (d.o === undefined) return undefined; // creating the (shared) object: harmless
  const o = d.o as unknown;
  switch (layout.kind) {
    case 'members':
      return setViolation(o, 'id', writer, where);
    case 'endpoints':
      return setViolation(o, 'node', writer, where);
    case 'reports':
      return reportViolation(o, writer, where);
    case 'checks':
    case 'per-node':
      return fieldViolation(o, layout, writer, where);
  }
}

/** A set downstream: adds only of the writer's own elements, any removal, never a clear. */
function setViolation(
  o: unknown,
  ownerField: 'id' | 'node',
  writer: string,
  where: string,
): string | undefined {
  if (!isRecord(o)) return `${where}: malformed set op`;
  if (o.x !== undefined) return `${where}: clearing a system set removes other members' records`;
  if (o.r !== undefined) return undefined; // a typed removal: anyone may issue it
  const owner = ownerOf(o.a as Json, ownerField);
  if (owner === writer) return undefined;
  return `${where}: ${writer} added a record of ${owner ?? 'nobody'} (only ${ownerField} may add its own)`;
}

/** A reap report set: adds and removals of the writer's own reports only, never a clear. */
function reportViolation(o: unknown, writer: string, where: string): string | undefined {
  if (!isRecord(o)) return `${where}: malformed set op`;
  if (o.x !== undefined) return `${where}: clearing a reap removes other members' reports`;
  const owner = ownerOf((o.a ?? o.r) as Json, 'node');
  if (owner === writer) return undefined;
  return `${where}: ${writer} wrote a report of ${owner ?? 'nobody'} (only node writes its own)`;
}

function fieldViolation(
  o: unknown,
  layout: Extract<Layout, { fieldType: TypeName }>,
  writer: string,
  where: string,
): string | undefined {
  if (!isRecord(o) || typeof o.f !== 'string') return `${where}: malformed map op`;
  const field = o.f;
  if (o.t !== layout.fieldType) return `${where}: field ${field} must be a ${layout.fieldType}`;
  if (layout.kind === 'per-node') {
    if (field === writer) return undefined;
    return `${where}: ${writer} wrote field ${field}, which only node ${field} writes`;
  }
  // checks: removing a status goes with removing its endpoint; a set carries its node.
  if (o.o === undefined) {
    if (o.p === undefined) return undefined;
    return `${where}: ${writer} created check status ${field} without a result`;
  }
  const node = isRecord(o.o) ? ownerOf(o.o.v as Json, 'node') : undefined;
  if (node === writer) return undefined;
  return `${where}: ${writer} wrote check status ${field} of ${node ?? 'nobody'} (only that node writes it)`;
}

function ownerOf(v: Json | undefined, field: 'id' | 'node'): string | undefined {
  if (!isRecord(v)) return undefined;
  const owner = v[field];
  return typeof owner === 'string' ? owner : undefined;
}
