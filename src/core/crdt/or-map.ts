/**
 * OR-map with embedded CRDTs (RR-7506 §3.3 "Map" discussion; the dot-based "causal reset"
 * map of Almeida, Shoker & Baquero, "Delta State Replicated Data Types", 2018, §6.3).
 *
 * A field is addressed by (type, name): two replicas can never create the same field with
 * different types, so there is nothing to reconcile between types. Each entry holds the
 * nested state and a *presence* enable-wins flag:
 * - `create` enables presence; an `update` of a field the source does not see as present
 *   enables it too (so writing a field creates it).
 * - `remove` carries the observed context of the entry (presence and nested state) and
 *   resets both: effects the remover saw are gone, concurrent ones survive (update wins over
 *   a concurrent remove, keeping only the updates the remover had not seen).
 * - A field is present while its presence flag is on or its nested state holds any dot.
 *
 * The keyspace of a replica is the same structure at depth 0, with object keys as fields
 * (see keyspace.ts), which is how deleting an object behaves against concurrent updates.
 */
import type { ReadonlyVectorClock, VectorClock } from '../clock/vector-clock.js';
import { vcMergeInto } from '../clock/vector-clock.js';
import { ErrorCode, fail } from '../errors.js';
import { isRecord, type Json, utf8Length } from '../json.js';
import { DEFAULT_LIMITS } from '../limits.js';
import type { CrdtType, OpContext, ParseContext, TypeName } from './crdt.js';
import { isTypeName } from './crdt.js';
import { ctxFromJson, ctxToJson, type CtxRecord } from './dots.js';
import { ewFlag, type EwFlagDown, type EwFlagState } from './ew-flag.js';
import { getType } from './registry.js';

export interface MapEntry {
  readonly type: TypeName;
  readonly field: string;
  state: unknown;
  presence: EwFlagState;
}

export type OrMapState = Map<string, MapEntry>;

/** A parsed op on one entry (a map field or, at depth 0, a keyspace object). */
export type EntryOp =
  | { readonly kind: 'update'; readonly type: TypeName; readonly field: string; readonly op: unknown }
  | { readonly kind: 'create'; readonly type: TypeName; readonly field: string }
  | { readonly kind: 'remove'; readonly type: TypeName; readonly field: string };

/** Downstream op on one entry. `o`: nested downstream; `p`: presence downstream; `d`: reset context. */
export interface EntryDown {
  readonly f: string;
  readonly t: TypeName;
  readonly o?: Json;
  readonly p?: EwFlagDown;
  readonly d?: CtxRecord;
}

export type OrMapOp = EntryOp;
export type OrMapDown = EntryDown;

export function entryId(type: TypeName, field: string): string {
  return type + '\u0000' + field;
}

const ENABLE_OP = ewFlag.parseOp({ kind: 'enable' }, { limits: DEFAULT_LIMITS, depth: 0 });

/** True when the entry is visible to readers. */
export function entryPresent(e: MapEntry): boolean {
  return (ewFlag.value(e.presence) as boolean) || !getType(e.type).isEmpty(e.state);
}

/** Source side: the downstream op for a parsed entry op, given the current container state. */
export function prepareEntry(container: OrMapState, op: EntryOp, ctx: OpContext): EntryDown {
  const crdt = getType(op.type);
  const existing = container.get(entryId(op.type, op.field));
  const presence = existing?.presence ?? ewFlag.empty();
  const needsPresence = !(ewFlag.value(presence) as boolean);
  switch (op.kind) {
    case 'update': {
      const o = crdt.prepare(existing?.state ?? crdt.empty(), op.op, ctx) as Json;
      if (!needsPresence) return { f: op.field, t: op.type, o };
      return { f: op.field, t: op.type, o, p: enableDown(presence, ctx) };
    }
    case 'create':
      return { f: op.field, t: op.type, p: enableDown(presence, ctx) };
    case 'remove': {
      const seen: VectorClock = existing ? observedEntry(existing) : new Map<string, number>();
      return { f: op.field, t: op.type, d: ctxToJson(seen) };
    }
  }
}

function enableDown(presence: EwFlagState, ctx: OpContext): EwFlagDown {
  return ewFlag.prepare(presence, ENABLE_OP, ctx);
}

function observedEntry(e: MapEntry): VectorClock {
  const seen = ewFlag.observed(e.presence);
  vcMergeInto(seen, getType(e.type).observed(e.state));
  return seen;
}

/** Every replica: applies a validated entry downstream op. */
export function applyEntry(container: OrMapState, d: EntryDown, ctx: OpContext): void {
  const crdt = getType(d.t);
  const id = entryId(d.t, d.f);
  let e = container.get(id);
  if (!e) {
    if (d.o === undefined && d.p === undefined) return; // removing what is not here: nothing to do
    e = { type: d.t, field: d.f, state: crdt.empty(), presence: ewFlag.empty() };
    container.set(id, e);
  }
  if (d.d !== undefined) {
    const seen = new Map(Object.entries(d.d));
    crdt.reset(e.state, seen);
    ewFlag.reset(e.presence, seen);
  }
  if (d.o !== undefined) crdt.effect(e.state, d.o, ctx);
  if (d.p !== undefined) ewFlag.effect(e.presence, d.p, ctx);
  if (!entryPresent(e)) container.delete(id);
}

/** Validates an untrusted entry downstream op. `checkField` enforces key or field rules. */
export function parseEntryDown(v: unknown, pc: ParseContext, checkField: (f: unknown) => string): EntryDown {
  if (!isRecord(v)) fail(ErrorCode.InvalidOp, 'A map or keyspace downstream op must be an object.');
  const t = v.t;
  if (!isTypeName(t)) fail(ErrorCode.UnknownType, `Unknown CRDT type ${JSON.stringify(t)}.`);
  const f = checkField(v.f);
  const crdt = getType(t);
  const nested: ParseContext = { limits: pc.limits, depth: pc.depth + 1 };
  const out: { f: string; t: TypeName; o?: Json; p?: EwFlagDown; d?: CtxRecord } = { f, t };
  if (v.o !== undefined) out.o = crdt.parseDownstream(v.o, nested) as Json;
  if (v.p !== undefined) out.p = ewFlag.parseDownstream(v.p, pc);
  if (v.d !== undefined) out.d = ctxToJson(ctxFromJson(v.d, 'reset context'));
  if (out.o === undefined && out.p === undefined && out.d === undefined) {
    fail(ErrorCode.InvalidOp, 'A map or keyspace downstream op must carry an update, a create or a remove.');
  }
  for (const k of Object.keys(v)) {
    if (!['f', 't', 'o', 'p', 'd'].includes(k))
      fail(ErrorCode.InvalidOp, `Unexpected field ${k} in a downstream op.`);
  }
  return out;
}

/** Parses a user op on an entry: `{ kind, type, field?, op? }`, with `field` checked by the caller's rule. */
export function parseEntryOp(v: unknown, pc: ParseContext, field: string): EntryOp {
  if (!isRecord(v)) fail(ErrorCode.InvalidOp, 'An operation must be an object with a "kind".');
  const type = v.type;
  if (!isTypeName(type)) {
    fail(
      ErrorCode.UnknownType,
      `Unknown CRDT type ${JSON.stringify(type)}; expected one of the registered types.`,
    );
  }
  switch (v.kind) {
    case 'update': {
      const crdt = getType(type);
      if (type === 'or-map' && pc.depth + 1 > pc.limits.maxMapDepth) {
        fail(ErrorCode.InvalidOp, `Maps nest at most ${pc.limits.maxMapDepth} levels deep.`);
      }
      return {
        kind: 'update',
        type,
        field,
        op: crdt.parseOp(v.op, { limits: pc.limits, depth: pc.depth + 1 }),
      };
    }
    case 'create':
      return { kind: 'create', type, field };
    case 'remove':
      return { kind: 'remove', type, field };
    default:
      return fail(ErrorCode.InvalidOp, 'A map operation kind must be "update", "create" or "remove".');
  }
}

function checkFieldName(pc: ParseContext): (f: unknown) => string {
  return (f) => {
    if (typeof f !== 'string' || f.length === 0)
      fail(ErrorCode.InvalidOp, 'A map field name must be a non-empty string.');
    if (utf8Length(f) > pc.limits.maxFieldBytes) {
      fail(ErrorCode.TooLarge, `A map field name is at most ${pc.limits.maxFieldBytes} bytes.`);
    }
    return f;
  };
}

/** Readers see `{ field: value }`; a name used with several types shows as `field@type` for each. */
export function entriesValue(container: OrMapState): Record<string, Json> {
  const byField = new Map<string, MapEntry[]>();
  for (const e of container.values()) {
    const list = byField.get(e.field);
    if (list) list.push(e);
    else byField.set(e.field, [e]);
  }
  const out: Record<string, Json> = {};
  for (const field of [...byField.keys()].sort()) {
    const list = byField.get(field) ?? [];
    if (list.length === 1 && list[0]) out[field] = getType(list[0].type).value(list[0].state);
    else
      for (const e of list.sort((a, b) => (a.type < b.type ? -1 : 1)))
        out[`${field}@${e.type}`] = getType(e.type).value(e.state);
  }
  return out;
}

export function observedContainer(container: OrMapState): VectorClock {
  const seen: VectorClock = new Map();
  for (const e of container.values()) vcMergeInto(seen, observedEntry(e));
  return seen;
}

export function resetContainer(container: OrMapState, ctx: ReadonlyVectorClock): void {
  for (const [id, e] of container) {
    getType(e.type).reset(e.state, ctx);
    ewFlag.reset(e.presence, ctx);
    if (!entryPresent(e)) container.delete(id);
  }
}

export function compactContainer(container: OrMapState, stable: ReadonlyVectorClock): void {
  for (const e of container.values()) {
    getType(e.type).compact(e.state, stable);
    ewFlag.compact(e.presence, stable);
  }
}

export function encodeContainer(container: OrMapState): Json {
  return [...containerRows(container)];
}

/** The rows of `encodeContainer`'s array, in its order, each made when it is reached. */
export function* containerRows(container: OrMapState): Generator<Json> {
  const entries = [...container.values()].sort((a, b) =>
    entryId(a.type, a.field) < entryId(b.type, b.field) ? -1 : 1,
  );
  for (const e of entries)
    yield [e.type, e.field, ewFlag.encode(e.presence), getType(e.type).encode(e.state)];
}

export function decodeContainer(
  j: unknown,
  pc: ParseContext,
  checkField: (f: unknown) => string,
): OrMapState {
  if (!Array.isArray(j)) fail(ErrorCode.DecodeError, 'An encoded map must be an array of entries.');
  const out: OrMapState = new Map();
  for (const row of j as unknown[]) decodeContainerRow(out, row, pc, checkField);
  return out;
}

/** Decodes one row of an encoded map (an element of its array) into `out`, as decodeContainer. */
export function decodeContainerRow(
  out: OrMapState,
  row: unknown,
  pc: ParseContext,
  checkField: (f: unknown) => string,
): void {
  if (!Array.isArray(row) || row.length !== 4)
    fail(ErrorCode.DecodeError, 'A map entry must be [type, field, presence, state].');
  const [type, rawField, presence, state] = row as [unknown, unknown, unknown, unknown];
  if (!isTypeName(type))
    fail(ErrorCode.DecodeError, `Unknown CRDT type ${JSON.stringify(type)} in a snapshot.`);
  let field: string;
  try {
    field = checkField(rawField);
  } catch {
    return fail(ErrorCode.DecodeError, 'A map entry in a snapshot has an invalid field name or key.');
  }
  const id = entryId(type, field);
  if (out.has(id)) fail(ErrorCode.DecodeError, `A snapshot lists the entry ${JSON.stringify(field)} twice.`);
  const e: MapEntry = {
    type,
    field,
    presence: ewFlag.decode(presence, pc),
    state: getType(type).decode(state, { limits: pc.limits, depth: pc.depth + 1 }),
  };
  if (entryPresent(e)) out.set(id, e);
}

export function cloneContainer(container: OrMapState): OrMapState {
  const out: OrMapState = new Map();
  for (const [id, e] of container) {
    out.set(id, {
      type: e.type,
      field: e.field,
      presence: ewFlag.clone(e.presence),
      state: getType(e.type).clone(e.state),
    });
  }
  return out;
}

/** The nested user op of a map: `{ kind: 'update'|'create'|'remove', field, type, op? }`. */
export const orMap: CrdtType<OrMapState, OrMapOp, OrMapDown> = {
  name: 'or-map',
  empty: () => new Map(),
  parseOp(op, pc) {
    if (pc.depth > pc.limits.maxMapDepth)
      fail(ErrorCode.InvalidOp, `Maps nest at most ${pc.limits.maxMapDepth} levels deep.`);
    const field = checkFieldName(pc)(isRecord(op) ? op.field : undefined);
    return parseEntryOp(op, pc, field);
  },
  prepare: (state, op, ctx) => prepareEntry(state, op, ctx),
  parseDownstream(d, pc) {
    if (pc.depth > pc.limits.maxMapDepth)
      fail(ErrorCode.InvalidOp, `Maps nest at most ${pc.limits.maxMapDepth} levels deep.`);
    return parseEntryDown(d, pc, checkFieldName(pc));
  },
  effect(state, d, ctx) {
    applyEntry(state, d, ctx);
  },
  value: (state) => entriesValue(state),
  observed: (state) => observedContainer(state),
  reset: (state, ctx) => {
    resetContainer(state, ctx);
  },
  isEmpty: (state) => state.size === 0,
  compact: (state, stable) => {
    compactContainer(state, stable);
  },
  encode: (state) => encodeContainer(state),
  decode: (j, pc) => decodeContainer(j, pc, checkFieldName(pc)),
  clone: (state) => cloneContainer(state),
};
