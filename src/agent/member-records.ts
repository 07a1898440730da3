/**
 * The records of the add-wins set `_sys/members` (DESIGN.md "Membership and health"): their
 * shape, the batches that add and remove them, and which member metadata this agent trusts.
 */
import { isRecord, type Json } from '../core/json.js';
import type { MembershipMessage } from '../core/membership/messages.js';

export const MEMBERS_KEY = '_sys/members';

export interface MemberRecord {
  readonly id: string;
  readonly incarnation: number;
  readonly meta: Json;
}

/** The well-formed member records of a `_sys/members` value; anything else is ignored. */
export function memberRecords(value: unknown): MemberRecord[] {
  if (!Array.isArray(value)) return [];
  return (value as unknown[]).filter(isMemberRecord);
}

/** Each member's highest-incarnation record. */
export function newestRecords(records: readonly MemberRecord[]): Map<string, MemberRecord> {
  const newest = new Map<string, MemberRecord>();
  for (const r of records) {
    const best = newest.get(r.id);
    if (!best || r.incarnation > best.incarnation) newest.set(r.id, r);
  }
  return newest;
}

/** One atomic batch: adds `record` and removes the given member's older records. */
export function publishOps(record: MemberRecord, old: readonly MemberRecord[]): unknown[] {
  const ops: unknown[] = old.filter((r) => r.incarnation < record.incarnation).map(removeOp);
  ops.push({ type: 'aw-set', key: MEMBERS_KEY, op: { kind: 'add', value: record } });
  return ops;
}

/** Removes member `id`'s records up to `incarnation` (it was confirmed dead or left). */
export function removalOps(records: readonly MemberRecord[], id: string, incarnation: number): unknown[] {
  return records.filter((r) => r.id === id && r.incarnation <= incarnation).map(removeOp);
}

function removeOp(r: MemberRecord): unknown {
  return { type: 'aw-set', key: MEMBERS_KEY, op: { kind: 'remove', value: r } };
}

/**
 * A piggybacked message as this agent trusts it. An `alive` about a third member is relayed
 * gossip: it may carry news of liveness (a refutation's incarnation), never of metadata, which
 * only the member's own announcements set (a packet from the member itself, authenticated by
 * its connection, or its signed record). Its meta is replaced by what the member announced;
 * a relayed alive about a member we know nothing of is dropped (the set will bring it).
 */
export function trustedAlive(
  m: MembershipMessage,
  from: string,
  self: string,
  trustedMeta: (id: string) => Json | undefined,
): MembershipMessage | undefined {
  if (m.kind !== 'alive' || m.id === from || m.id === self) return m;
  const meta = trustedMeta(m.id);
  return meta === undefined ? undefined : { ...m, meta };
}

function isMemberRecord(v: unknown): v is MemberRecord {
  return (
    isRecord(v) &&
    typeof v.id === 'string' &&
    typeof v.incarnation === 'number' &&
    Number.isSafeInteger(v.incarnation) &&
    v.incarnation >= 0 &&
    'meta' in v
  );
}
