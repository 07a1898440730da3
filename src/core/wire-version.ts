/**
 * Which event wire version to emit (issue 7, "Deterministic validation across versions"; the
 * models are Riak's capabilities and CockroachDB's cluster version). Members advertise the range
 * of versions they read and write (heartbeats, src/agent/heartbeat.ts); an agent emits the
 * highest version that every known member supports, so no member ever receives an event it
 * cannot read. A member that advertises nothing runs a release from before negotiation and
 * supports version 1 only; a member not heard from yet counts as such, so a cluster moves to a
 * new version only once every member has said it can. A peer whose protocol major differs is
 * refused outright (the agent logs and counts it). Pure: no I/O, no clock.
 */
import { MAX_EVENT_WIRE_VERSION, MIN_EVENT_WIRE_VERSION } from './codec/event-codec.js';

export interface ProtocolRange {
  /** Protocol major: peers with different majors do not talk. */
  readonly major: number;
  /** Oldest and newest event wire version the member reads and writes. */
  readonly minEvent: number;
  readonly maxEvent: number;
}

export const PROTOCOL_MAJOR = 1;

/**
 * From this version on, clocks on the wire (heartbeats, sync requests, snapshots) leave out
 * retired epochs (retired-epochs.ts). An older release would read a missing entry as "holds
 * nothing of that epoch", resend it and never count it stable, and would refuse the snapshot
 * format that lists the retired cuts: so an agent prunes only once every member reads it.
 */
export const PRUNED_CLOCKS_WIRE_VERSION = 4;

/** This build's range. */
export const LOCAL_PROTOCOL: ProtocolRange = Object.freeze({
  major: PROTOCOL_MAJOR,
  minEvent: MIN_EVENT_WIRE_VERSION,
  maxEvent: MAX_EVENT_WIRE_VERSION,
});

/** What a member that advertises no range supports: a release from before negotiation. */
export const LEGACY_PROTOCOL: ProtocolRange = Object.freeze({ major: 1, minEvent: 1, maxEvent: 1 });

/** Why `peer` cannot join `local`'s cluster, or undefined when it can. */
export function incompatibility(local: ProtocolRange, peer: ProtocolRange): string | undefined {
  if (peer.major !== local.major) return `protocol major ${peer.major} is not this build's ${local.major}`;
  if (peer.maxEvent < local.minEvent || peer.minEvent > local.maxEvent)
    return `event versions ${peer.minEvent}-${peer.maxEvent} do not overlap this build's ${local.minEvent}-${local.maxEvent}`;
  return undefined;
}

/**
 * The wire version to emit: the highest in `local`'s range that every compatible member in
 * `members` supports (undefined: not heard from, counted as LEGACY_PROTOCOL). Incompatible
 * members are refused, not waited for. Never below `local.minEvent`.
 */
export function emitVersion(local: ProtocolRange, members: Iterable<ProtocolRange | undefined>): number {
  let v = local.maxEvent;
  for (const m of members) {
    const range = m ?? LEGACY_PROTOCOL;
    if (incompatibility(local, range) !== undefined) continue;
    v = Math.min(v, range.maxEvent);
  }
  return Math.max(v, local.minEvent);
}

/** Parses an advertised range from untrusted JSON; undefined when malformed. */
export function parseProtocolRange(v: unknown): ProtocolRange | undefined {
  if (typeof v !== 'object' || v === null) return undefined;
  const { major, minEvent, maxEvent } = v as Record<string, unknown>;
  const ok = (n: unknown): n is number => typeof n === 'number' && Number.isInteger(n) && n >= 0 && n <= 255;
  if (!ok(major) || !ok(minEvent) || !ok(maxEvent) || minEvent > maxEvent) return undefined;
  return { major, minEvent, maxEvent };
}
