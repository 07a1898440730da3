/**
 * The failure detector's vocabulary: member records, the gossip messages SWIM disseminates
 * (Das et al. 2002, §4.2: alive, suspect, confirm; "left" is memberlist's dead-from-self made
 * explicit), the inputs the detector accepts and the effects it asks the agent to carry out.
 *
 * Remote data arrives here from the wire (probe packets, piggybacked gossip, the `_sys/members`
 * set), so every field a peer controls is checked by `checkInput` before the detector looks
 * at it. A bad one is refused and counted; it never throws into the agent loop.
 */
import { canonicalJson, isRecord, type Json } from '../json.js';

/** A member's id: the agent's libp2p peer id. */
export type MemberId = string;

export type MemberStatus = 'alive' | 'suspect' | 'dead' | 'left';

export const MAX_MEMBER_ID_LENGTH = 256;

/** What a member announces about itself. `meta` is opaque here: region, tags, addresses. */
export interface MemberInfo {
  readonly id: MemberId;
  /** Only the member itself raises it: to refute a suspicion, or to rejoin after death. */
  readonly incarnation: number;
  readonly meta: Json;
}

/** Gossip about one member at one incarnation. Each is also an input of the detector. */
export type MembershipMessage =
  | { readonly kind: 'alive'; readonly id: MemberId; readonly incarnation: number; readonly meta: Json }
  /** `from` is the member that suspects: distinct ones count as independent confirmations. */
  | { readonly kind: 'suspect'; readonly id: MemberId; readonly incarnation: number; readonly from: MemberId }
  | { readonly kind: 'dead'; readonly id: MemberId; readonly incarnation: number; readonly from: MemberId }
  /** Sent by the member itself when it leaves gracefully. */
  | { readonly kind: 'left'; readonly id: MemberId; readonly incarnation: number };

export type MembershipInput =
  /** Time advanced: probe, time out probes, relays and suspicions, forget the long dead. */
  | { readonly kind: 'tick' }
  /** A member learnt directly (we connected to it, mDNS, peer exchange): added and gossiped. */
  | { readonly kind: 'join'; readonly member: MemberInfo }
  /**
   * Members read from the replicated `_sys/members` set. Every agent reads the same set, so
   * these are merged without being gossiped again.
   */
  | { readonly kind: 'members-seen'; readonly members: readonly MemberInfo[] }
  /** A peer probes us: we ack. */
  | { readonly kind: 'ping'; readonly from: MemberId; readonly seq: number }
  /** A peer asks us to probe `target` for it, and to nack if no ack comes within `timeoutMs`. */
  | {
      readonly kind: 'ping-req';
      readonly from: MemberId;
      readonly seq: number;
      readonly target: MemberId;
      readonly timeoutMs: number;
    }
  /** An ack for one of our pings: from the target itself, or relayed by a ping-req helper. */
  | { readonly kind: 'ack'; readonly from: MemberId; readonly seq: number }
  /** A ping-req helper could not reach the target in time: it is alive, so we are not cut off. */
  | { readonly kind: 'nack'; readonly from: MemberId; readonly seq: number }
  | MembershipMessage
  /** We leave gracefully: announce it, keep probing only to spread the news, then stop. */
  | { readonly kind: 'leave' }
  /**
   * The transport lost its connection to `id` and could not open a new one (a crashed
   * process's peers see this within a round trip or so): probe it out of turn, as soon as no
   * other probe runs, at most once per period. A hint, never evidence: a live member acks and
   * nothing changes.
   */
  | { readonly kind: 'connection-lost'; readonly id: MemberId }
  /**
   * Someone holds us suspect or dead at `incarnation` outside the gossip (for example our
   * record was removed from `_sys/members`): raise our incarnation above it.
   */
  | { readonly kind: 'refute-needed'; readonly incarnation: number };

/**
 * What the agent must do. Packet effects carry `piggyback`: gossip to send in the same packet.
 * The receiver feeds the piggybacked messages as inputs *before* the packet's own input, so
 * that its reply already carries whatever the gossip provoked (a refutation, above all).
 */
export type MembershipEffect =
  | {
      readonly kind: 'send-ping';
      readonly to: MemberId;
      readonly seq: number;
      readonly piggyback: readonly MembershipMessage[];
    }
  /** One ping-req to each member of `via`, all with the same seq, target and timeout. */
  | {
      readonly kind: 'send-ping-req';
      readonly via: readonly MemberId[];
      readonly target: MemberId;
      readonly seq: number;
      readonly timeoutMs: number;
      readonly piggyback: readonly MembershipMessage[];
    }
  | {
      readonly kind: 'send-ack';
      readonly to: MemberId;
      readonly seq: number;
      readonly piggyback: readonly MembershipMessage[];
    }
  | {
      readonly kind: 'send-nack';
      readonly to: MemberId;
      readonly seq: number;
      readonly piggyback: readonly MembershipMessage[];
    }
  /** Pending gossip alone, to one member (the gossip loop). */
  | { readonly kind: 'send-gossip'; readonly to: MemberId; readonly piggyback: readonly MembershipMessage[] }
  /**
   * A message this member originates (its suspicions, its dead declarations, its own alive and
   * left). It already spreads by piggyback and the gossip loop, with bounded retransmits;
   * publishing it on a gossipsub topic too is an optional fast path, safe to skip.
   */
  | { readonly kind: 'broadcast'; readonly message: MembershipMessage }
  /**
   * Our view of a member changed status (`from` is null for a member new to us). The agent
   * records the transition (health history) and mirrors it into `_sys/members`.
   */
  | {
      readonly kind: 'status-changed';
      readonly id: MemberId;
      readonly from: MemberStatus | null;
      readonly to: MemberStatus;
      readonly incarnation: number;
      readonly meta: Json;
      readonly atMs: number;
    }
  /** We raised our incarnation to refute a suspicion: re-add our record to `_sys/members`. */
  | { readonly kind: 'refute'; readonly incarnation: number }
  /** After `leave`: our departure has been sent as often as the retransmit limit asks. Stop now. */
  | { readonly kind: 'leave-complete' }
  /** A remote input was malformed or over a bound: it was ignored. Count it and warn. */
  | { readonly kind: 'rejected'; readonly input: string; readonly reason: string };

export function isMemberId(v: unknown): v is MemberId {
  return typeof v === 'string' && v.length > 0 && v.length <= MAX_MEMBER_ID_LENGTH;
}

/** Incarnations and sequence numbers: non-negative safe integers. */
export function isCounter(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

/**
 * The highest incarnation: above it `i + 1 === i` and peers refuse the number. A member refutes
 * an accusation at `i` with `i + 1`, so an accusation (suspect, dead, left, refute-needed) must
 * be below it, or the accused could not outbid it and would stay down for good; an alive may be
 * at it. Reached only by hostile or corrupt input: members start at their wall clock in ms.
 */
export const MAX_INCARNATION = Number.MAX_SAFE_INTEGER;

/** Why `v` is no incarnation an accusation may carry, or undefined. */
function accusationIncarnation(v: unknown): string | undefined {
  if (!isCounter(v)) return 'incarnation must be a non-negative integer';
  return v < MAX_INCARNATION
    ? undefined
    : `incarnation must be below ${MAX_INCARNATION} (so the member can refute it)`;
}

function checkMeta(meta: unknown, maxMetaBytes: number): string | undefined {
  if (meta === undefined) return 'member metadata is missing';
  try {
    canonicalJson(meta, maxMetaBytes, 'member metadata');
    return undefined;
  } catch (e) {
    return e instanceof Error ? e.message : 'member metadata is not valid JSON';
  }
}

/** Checks one member record; returns why it is unusable, or undefined. */
export function checkMember(m: unknown, maxMetaBytes: number): string | undefined {
  if (!isRecord(m)) return 'a member record must be an object';
  if (!isMemberId(m.id)) return `a member id must be a string of 1 to ${MAX_MEMBER_ID_LENGTH} characters`;
  if (!isCounter(m.incarnation)) return 'an incarnation must be a non-negative integer';
  return checkMeta(m.meta, maxMetaBytes);
}

/**
 * Checks an input's shape. Returns why it is unusable, or undefined if it is fine. Local
 * inputs (tick, leave) have no fields to check.
 */
export function checkInput(input: unknown, maxMetaBytes: number, maxMembers: number): string | undefined {
  if (!isRecord(input)) return 'an input must be an object';
  const { kind } = input;
  const id = (k: string): string | undefined =>
    isMemberId(input[k]) ? undefined : `${k} must be a member id of 1 to ${MAX_MEMBER_ID_LENGTH} characters`;
  const counter = (k: string): string | undefined =>
    isCounter(input[k]) ? undefined : `${k} must be a non-negative integer`;
  switch (kind) {
    case 'tick':
    case 'leave':
      return undefined;
    case 'join':
      return checkMember(input.member, maxMetaBytes);
    case 'members-seen': {
      // Records are checked one by one by the detector: one bad element of the replicated set
      // must not hide the others.
      const ms = input.members;
      if (!Array.isArray(ms)) return 'members must be a list of member records';
      if (ms.length > maxMembers) return `members lists ${ms.length} records; the table holds ${maxMembers}`;
      return undefined;
    }
    case 'ping':
    case 'ack':
    case 'nack':
      return id('from') ?? counter('seq');
    case 'ping-req': {
      const bad = id('from') ?? counter('seq') ?? id('target');
      if (bad !== undefined) return bad;
      const t = input.timeoutMs;
      return typeof t === 'number' && Number.isFinite(t) && t > 0 ? undefined : 'timeoutMs must be positive';
    }
    case 'alive':
      return id('id') ?? counter('incarnation') ?? checkMeta(input.meta, maxMetaBytes);
    case 'suspect':
    case 'dead':
      return id('id') ?? accusationIncarnation(input.incarnation) ?? id('from');
    case 'left':
      return id('id') ?? accusationIncarnation(input.incarnation);
    case 'connection-lost':
      return id('id');
    case 'refute-needed':
      return accusationIncarnation(input.incarnation);
    default:
      return `unknown input kind ${JSON.stringify(kind)}`;
  }
}

/**
 * Parses one piggybacked gossip message from decoded wire JSON. Returns undefined for anything
 * malformed (the caller counts it), so an adapter can filter a packet before stepping.
 */
export function parseMembershipMessage(raw: unknown, maxMetaBytes: number): MembershipMessage | undefined {
  if (!isRecord(raw)) return undefined;
  const k = raw.kind;
  if (k !== 'alive' && k !== 'suspect' && k !== 'dead' && k !== 'left') return undefined;
  if (checkInput(raw, maxMetaBytes, 0) !== undefined) return undefined;
  const id = raw.id as MemberId;
  const incarnation = raw.incarnation as number;
  switch (k) {
    case 'alive':
      return { kind: k, id, incarnation, meta: raw.meta as Json };
    case 'suspect':
    case 'dead':
      return { kind: k, id, incarnation, from: raw.from as MemberId };
    case 'left':
      return { kind: k, id, incarnation };
  }
}
