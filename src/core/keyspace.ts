/**
 * The keyspace: every object a replica holds, addressed by (type, key). It is an OR-map at
 * depth 0 whose fields are keys (crdt/or-map.ts), so `create` and `delete` of an object have
 * exactly the map's semantics: a delete resets what the deleter saw, and an update
 * concurrent with a delete survives it (update wins; see docs/semantics.md).
 *
 * Keys are UTF-8 text of bounded length with `/`-separated namespaces; `_sys/` is reserved
 * for the agent's own objects (members, services, load).
 */
import { isKeyspaceRows, KEYSPACE_ROWS, type KeyspaceRows } from './codec/snapshot-codec.js';
import type { KeyspaceSink } from './codec/snapshot-decoder.js';
import { ErrorCode, fail, isSmacError } from './errors.js';
import { isRecord, type Json, utf8Length } from './json.js';
import type { Limits } from './limits.js';
import type { OpContext, ParseContext, TypeName } from './crdt/crdt.js';
import { isTypeName } from './crdt/crdt.js';
import {
  applyEntry,
  compactContainer,
  containerRows,
  decodeContainer,
  decodeContainerRow,
  encodeContainer,
  entryId,
  type EntryDown,
  type EntryOp,
  type OrMapState,
  parseEntryDown,
  prepareEntry,
} from './crdt/or-map.js';
import { getType } from './crdt/registry.js';
import type { ReadonlyVectorClock } from './clock/vector-clock.js';
import { peerOfOrigin } from './origin.js';
import { ownershipViolation } from './ownership.js';

export const RESERVED_PREFIX = '_sys/';

export type KeyspaceState = OrMapState;

/** A local operation as callers write it. `op` is a type op, `{ kind: 'create' }` or `{ kind: 'delete' }`. */
export interface KeyOp {
  readonly type: string;
  readonly key: string;
  readonly op: unknown;
}

/**
 * Structural key rules, the same for every wire version so far: non-empty, bounded, no control
 * characters, no empty `/` segments. They hold for every key a replica may ever hold, so remote
 * events (src/core/remote-validation.ts) and snapshots are checked against these only.
 */
export function checkKeyStructure(key: unknown, limits: Limits): string {
  if (typeof key !== 'string' || key.length === 0)
    fail(ErrorCode.InvalidKey, 'A key must be a non-empty string.');
  const bytes = utf8Length(key);
  if (bytes > limits.maxKeyBytes) {
    fail(
      ErrorCode.InvalidKey,
      `The key is ${bytes} bytes; keys are at most ${limits.maxKeyBytes} bytes of UTF-8.`,
    );
  }
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(key))
    fail(ErrorCode.InvalidKey, 'A key must not contain control characters.');
  if (key.startsWith('/') || key.endsWith('/') || key.includes('//')) {
    fail(
      ErrorCode.InvalidKey,
      `The key ${JSON.stringify(key)} has an empty segment; write namespaces as "a/b/c".`,
    );
  }
  return key;
}

/**
 * Client-input key rules: the structural rules plus rules added for the API's sake, which new
 * local writes obey but events already out there (from older releases) need not. Checked at
 * the API and for local writes only, never for remote events or stored snapshots (DESIGN.md
 * "Security": how a remote event is validated depends on its wire version alone).
 */
export function checkKey(key: unknown, limits: Limits): string {
  const k = checkKeyStructure(key, limits);
  // URLs rewrite "." and ".." segments (RFC 3986 §5.2.4): such a key could not be addressed over REST.
  if (k.split('/').some((seg) => seg === '.' || seg === '..')) {
    fail(
      ErrorCode.InvalidKey,
      `The key ${JSON.stringify(k)} has a "." or ".." segment, which URLs rewrite; rename it.`,
    );
  }
  return k;
}

/** Parses a local op. Only the agent itself (`system`) may write under `_sys/`. */
export function parseKeyOp(raw: unknown, pc: ParseContext, system: boolean): EntryOp {
  if (!isRecord(raw)) fail(ErrorCode.InvalidOp, 'An operation must be an object { type, key, op }.');
  const { type, op } = raw;
  if (!isTypeName(type)) {
    fail(
      ErrorCode.UnknownType,
      `Unknown CRDT type ${JSON.stringify(type)}; expected one of the registered types.`,
    );
  }
  const key = checkKey(raw.key, pc.limits);
  if (!system && key.startsWith(RESERVED_PREFIX)) {
    fail(
      ErrorCode.ReservedKey,
      `Keys under ${RESERVED_PREFIX} belong to the agent; choose another namespace.`,
    );
  }
  const kind = isRecord(op) ? op.kind : undefined;
  if (kind === 'create') return { kind: 'create', type, field: key };
  if (kind === 'delete') return { kind: 'remove', type, field: key };
  return {
    kind: 'update',
    type,
    field: key,
    op: getType(type).parseOp(op, { limits: pc.limits, depth: pc.depth + 1 }),
  };
}

/**
 * The downstream op of a local op. A system write to another member's records other than a
 * typed removal is refused (RESERVED_KEY) whatever the wire version, so this agent never emits
 * an op that peers on version 2 would skip (ownership.ts). Reads only: nothing has changed
 * when it throws.
 */
export function prepareKeyOp(ks: KeyspaceState, op: EntryOp, ctx: OpContext): EntryDown {
  const d = prepareEntry(ks, op, ctx);
  const why = ownershipViolation(d, peerOfOrigin(ctx.dot.origin));
  if (why !== undefined) fail(ErrorCode.ReservedKey, `A member writes only its own system records: ${why}.`);
  return d;
}

/**
 * Validates one downstream op of a remote event against the structural key rules. Which rules
 * apply to a remote event is decided by its wire version (src/core/remote-validation.ts).
 */
export function parseKeyDown(v: unknown, pc: ParseContext): EntryDown {
  return parseEntryDown(v, pc, (k) => checkKeyStructure(k, pc.limits));
}

export function applyKeyDown(ks: KeyspaceState, d: EntryDown, ctx: OpContext): void {
  applyEntry(ks, d, ctx);
}

export interface ObjectView {
  readonly type: TypeName;
  readonly key: string;
  readonly value: Json;
}

/** Reads one object, or undefined when it does not exist (never created, or deleted). */
export function readObject(ks: KeyspaceState, type: TypeName, key: string): ObjectView | undefined {
  const e = ks.get(entryId(type, key));
  if (!e) return undefined;
  return { type, key, value: getType(type).value(e.state) };
}

/** Objects whose key starts with `prefix`, ordered by key then type. */
export function listObjects(ks: KeyspaceState, prefix = ''): ObjectView[] {
  const out: ObjectView[] = [];
  for (const e of ks.values()) {
    if (e.field.startsWith(prefix))
      out.push({ type: e.type, key: e.field, value: getType(e.type).value(e.state) });
  }
  return out.sort((a, b) =>
    a.key !== b.key ? (a.key < b.key ? -1 : 1) : a.type < b.type ? -1 : a.type > b.type ? 1 : 0,
  );
}

export function compactKeyspace(ks: KeyspaceState, stable: ReadonlyVectorClock): void {
  compactContainer(ks, stable);
}

export function encodeKeyspace(ks: KeyspaceState): Json {
  return encodeContainer(ks);
}

/**
 * A snapshot holds whatever events of any version put there, so only the structural key rules
 * apply: a stored key that a newer client rule forbids must not fail start-up. `j` is the
 * keyspace's JSON value, or its rows (a snapshot decoded as it streamed in): a DecodedKeyspace
 * validated under the same limits is taken as it is (its state is shared, not copied), other
 * rows are decoded one at a time.
 */
export function decodeKeyspace(j: unknown, limits: Limits): KeyspaceState {
  if (j instanceof DecodedKeyspace && sameLimits(j.limits, limits)) return j.state;
  if (isKeyspaceRows(j)) {
    const b = new KeyspaceBuilder(limits);
    for (const row of j[KEYSPACE_ROWS]()) b.add(row);
    return b.finish().state;
  }
  return decodeContainer(j, { limits, depth: 0 }, (k) => checkKeyStructure(k, limits));
}

function sameLimits(a: Limits, b: Limits): boolean {
  return (Object.keys(b) as (keyof Limits)[]).every((k) => a[k] === b[k]);
}

/**
 * A keyspace decoded from a snapshot's rows as they streamed in (KeyspaceBuilder), validated as
 * `decodeKeyspace` validates a JSON keyspace. It encodes as the same rows (snapshot-codec.ts
 * `KeyspaceRows`), made one at a time, so its JSON value is never whole either. Installing it
 * hands its state to the replica, which then changes it: a replica that only reads it (a probe)
 * may install it first.
 */
export class DecodedKeyspace implements KeyspaceRows {
  constructor(
    readonly state: KeyspaceState,
    readonly limits: Limits,
  ) {}

  [KEYSPACE_ROWS](): Iterable<Json> {
    return containerRows(this.state);
  }
}

/**
 * The rows of `ks` as it is when they are read (`encodeKeyspace`'s array, one row at a time): a
 * snapshot of a live replica encoded without its whole JSON value. Read it at once, before the
 * state changes. Installing it decodes the rows into a state of its own (it is no DecodedKeyspace).
 */
export function keyspaceRows(ks: KeyspaceState): KeyspaceRows {
  return { [KEYSPACE_ROWS]: () => containerRows(ks) };
}

/**
 * Builds a keyspace's state row by row (a snapshot-decoder.ts `KeyspaceSink`): each row is
 * checked and decoded as `decodeKeyspace` does, then dropped. A bad row throws SmacError
 * (DECODE_ERROR for any failure that is not one), and nothing but this builder holds anything.
 */
export class KeyspaceBuilder implements KeyspaceSink<DecodedKeyspace> {
  private readonly state: KeyspaceState = new Map();
  private readonly pc: ParseContext;

  constructor(private readonly limits: Limits) {
    this.pc = { limits, depth: 0 };
  }

  add(row: Json): void {
    try {
      decodeContainerRow(this.state, row, this.pc, (k) => checkKeyStructure(k, this.limits));
    } catch (e) {
      if (isSmacError(e)) throw e;
      fail(
        ErrorCode.DecodeError,
        `A snapshot entry does not decode: ${e instanceof Error ? e.message : String(e)}`,
      );
    }
  }

  finish(): DecodedKeyspace {
    return new DecodedKeyspace(this.state, this.limits);
  }
}
