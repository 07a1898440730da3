/**
 * Validation of a remote event as a pure function of its wire version (DESIGN.md "Security";
 * issue 7, "Deterministic validation across versions"; docs/semantics.md "Wire versions").
 *
 * Every replica, whatever its release and configuration, must apply a signed event the same
 * way, or replicas that have delivered the same events hold different state. So what decides
 * how an event's ops are checked is the version its origin wrote (event-codec.ts), and nothing
 * else: not this build's client-input rules (keyspace.ts `checkKey`, enforced at the API and
 * for local writes), not its configured limits. A rule that changes how events validate comes
 * with a new wire version, which agents emit only once every member reads it
 * (wire-version.ts); the rules of a version, once shipped, never change.
 *
 * - Version 1: structural key rules, the version-1 limits; any member may write any record.
 * - Version 2: as 1, plus ownership of system records (ownership.ts): an op by a member that
 *   does not own the record it touches is a no-op, reported so the agent can count it.
 * - Version 3: as 2, plus ownership of the reap reports `_sys/reaps/<epoch>` (reaping.ts):
 *   only `node` writes its own report.
 * - Version 4: the rules of 3, unchanged. What it adds is outside the events: a member at
 *   version 4 prunes retired epochs from the clocks it sends (retired-epochs.ts), which a
 *   member of an older release would read as "holds nothing of that epoch" (wire-version.ts
 *   PRUNED_CLOCKS_WIRE_VERSION).
 * - Version 5: the rules of 4, unchanged. What it adds is outside the events: the origin seals
 *   a version-5 event in a chained envelope (src/net/envelope.ts, v2: each envelope also signs
 *   the hash of its origin's previous one), which a member of an older release cannot read.
 *
 * An event that does not validate as a whole (malformed ops, too many) is delivered as a no-op
 * (replica/delivery.ts); within a valid event, ops refused by ownership are skipped one by one.
 */
import { wireVersionOf } from './codec/event-codec.js';
import type { ParseContext } from './crdt/crdt.js';
import type { EntryDown } from './crdt/or-map.js';
import { ErrorCode, fail } from './errors.js';
import type { Event } from './event.js';
import { parseKeyDown } from './keyspace.js';
import type { Limits } from './limits.js';
import { peerOfOrigin } from './origin.js';
import { ownershipViolation, type OwnershipRules } from './ownership.js';

/** What a wire version's rules are. Fixed once the version has shipped. */
export interface RemoteRules {
  readonly version: number;
  /** Bounds the event's ops are checked against (not the receiver's own configuration). */
  readonly limits: Readonly<Limits>;
  /** Ops touching another member's system records are no-ops (ownership.ts). */
  readonly ownership: boolean;
  /** Which owned layouts ownership covers. */
  readonly owned: OwnershipRules;
}

/** The limits of version 1, as DEFAULT_LIMITS were when it shipped. */
const V1_LIMITS: Readonly<Limits> = Object.freeze({
  maxKeyBytes: 512,
  maxValueBytes: 64 * 1024,
  maxOpsPerEvent: 10_000,
  maxFieldBytes: 256,
  maxMapDepth: 4,
  maxCounterDelta: Number.MAX_SAFE_INTEGER,
});

const RULES: ReadonlyMap<number, RemoteRules> = new Map<number, RemoteRules>([
  [1, Object.freeze({ version: 1, limits: V1_LIMITS, ownership: false, owned: { reaps: false } })],
  [2, Object.freeze({ version: 2, limits: V1_LIMITS, ownership: true, owned: { reaps: false } })],
  [3, Object.freeze({ version: 3, limits: V1_LIMITS, ownership: true, owned: { reaps: true } })],
  [4, Object.freeze({ version: 4, limits: V1_LIMITS, ownership: true, owned: { reaps: true } })],
  [5, Object.freeze({ version: 5, limits: V1_LIMITS, ownership: true, owned: { reaps: true } })],
]);

/** The rules of wire version `version`, or undefined for a version this build does not know. */
export function remoteRulesFor(version: number): RemoteRules | undefined {
  return RULES.get(version);
}

/** An op skipped because its writer does not own the record it touches. */
export interface SkippedOp {
  readonly index: number;
  readonly reason: string;
}

export interface ValidatedEvent {
  readonly version: number;
  /** The ops to apply, in event order. */
  readonly ops: readonly EntryDown[];
  /** Ops that are no-ops under the version's ownership rule. */
  readonly skipped: readonly SkippedOp[];
}

/**
 * Validates a remote (or replayed) event by the rules of its own wire version. Throws
 * SmacError when the event as a whole does not validate (the caller delivers it as a no-op);
 * otherwise returns the ops to apply and the ops ownership skips.
 */
export function validateRemoteEvent(e: Event): ValidatedEvent {
  const version = wireVersionOf(e);
  const rules = remoteRulesFor(version);
  if (!rules) {
    return fail(ErrorCode.UnsupportedVersion, `The event has wire version ${version}, unknown here.`, {
      version,
    });
  }
  const { limits } = rules;
  if (e.ops.length > limits.maxOpsPerEvent) {
    fail(ErrorCode.TooLarge, `The event has ${e.ops.length} ops; the limit is ${limits.maxOpsPerEvent}.`);
  }
  const pc: ParseContext = { limits, depth: 0 };
  const parsed = e.ops.map((o) => parseKeyDown(o, pc));
  if (!rules.ownership) return { version, ops: parsed, skipped: [] };
  const writer = peerOfOrigin(e.origin);
  const ops: EntryDown[] = [];
  const skipped: SkippedOp[] = [];
  parsed.forEach((d, index) => {
    const reason = ownershipViolation(d, writer, rules.owned);
    if (reason === undefined) ops.push(d);
    else skipped.push({ index, reason });
  });
  return { version, ops, skipped };
}
