/**
 * Heartbeats: ephemeral gossip, never CRDT ops (DESIGN.md "Membership and health"). Each
 * carries the sender's delivered vector clock, which is how every agent learns causal stability
 * (src/core/stability.ts) and so when the log may be compacted, plus its region. Issue 4's
 * failure detector adds incarnations and probes on top.
 */
import { isCount, type VectorClock, vcFromRecord, vcToRecord } from '../core/clock/vector-clock.js';
import { isRecord } from '../core/json.js';
import { parseProtocolRange, type ProtocolRange } from '../core/wire-version.js';

/** A peer the sender is connected to, with its listen addresses: peer exchange. */
export interface KnownPeer {
  readonly id: string;
  readonly addrs: readonly string[];
}

export interface Heartbeat {
  readonly vc: VectorClock;
  readonly region: string;
  /** True in the last heartbeat of an agent that is leaving gracefully. */
  readonly leaving: boolean;
  /** Some of the sender's peers, so that agents which joined through one seed meet each other. */
  readonly peers: readonly KnownPeer[];
  /**
   * The event wire versions the sender supports (src/core/wire-version.ts). Additive: absent
   * in heartbeats of releases before negotiation, which support version 1 only.
   */
  readonly protocol?: ProtocolRange;
  /**
   * The members the sender knows first-hand: its stability view and the peers that pulled from
   * it (src/agent/stability-view.ts `firstHandMembers`). A receiver waits for each of them too,
   * so that a member that joined where it could not see still holds its compaction back (issue
   * 7). Additive: absent in heartbeats of earlier releases (then nobody is named).
   */
  readonly members?: readonly string[];
  /**
   * The clock of the events the sender folded into its snapshot (its compacted clock): with
   * `members`, what tells a member of another cluster (src/core/divergence.ts). Additive:
   * absent in heartbeats of earlier releases (then the sender is never refused as diverged).
   * On the wire it is one count per entry of `vc`, in the same order (a folded event is a
   * delivered one, so its origin is in `vc`; entries of epochs `vc` leaves out, retired ones,
   * are left out too): a few bytes per origin rather than a second clock in every beat. Left
   * out when nothing is folded, which says the same.
   */
  readonly folded?: VectorClock;
  /**
   * True when the sender merges the state of a diverged peer instead of refusing it
   * (`divergedPeers: 'merge'`, docs/agent.md "Divergence"). Additive: absent in heartbeats of
   * earlier releases and of agents set to refuse, which a diverged peer then refuses as before.
   */
  readonly merges?: boolean;
}

export const MAX_EXCHANGED_PEERS = 32;
/** Members named in one heartbeat at most (a cluster of more sends the first ones only). */
export const MAX_NAMED_MEMBERS = 1024;
const MAX_ADDRS = 8;

const VERSION = 1;

export function encodeHeartbeat(h: Heartbeat): Uint8Array {
  const peers = h.peers
    .slice(0, MAX_EXCHANGED_PEERS)
    .map((p) => ({ id: p.id, addrs: p.addrs.slice(0, MAX_ADDRS) }));
  const protocol = h.protocol ? { protocol: h.protocol } : {};
  const members = h.members ? { members: h.members.slice(0, MAX_NAMED_MEMBERS) } : {};
  const vc = vcToRecord(h.vc);
  const foldedSeqs = Object.keys(vc).map((origin) => Math.min(h.folded?.get(origin) ?? 0, vc[origin] ?? 0));
  const folded = foldedSeqs.some((n) => n > 0) ? { folded: foldedSeqs } : {};
  return new TextEncoder().encode(
    JSON.stringify({
      v: VERSION,
      vc,
      region: h.region,
      leaving: h.leaving,
      peers,
      ...protocol,
      ...members,
      ...folded,
      ...(h.merges === true ? { merges: 1 } : {}),
    }),
  );
}

/** Parses a heartbeat from a peer; returns undefined for anything malformed (the caller counts it). */
export function decodeHeartbeat(bytes: Uint8Array): Heartbeat | undefined {
  try {
    const j = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes)) as unknown;
    if (!isRecord(j) || j.v !== VERSION || typeof j.region !== 'string' || j.region.length > 256)
      return undefined;
    const peers = j.peers ?? [];
    if (!Array.isArray(peers) || peers.length > MAX_EXCHANGED_PEERS || !peers.every(isKnownPeer))
      return undefined;
    let hb: Heartbeat = { vc: vcFromRecord(j.vc), region: j.region, leaving: j.leaving === true, peers };
    // A malformed list is treated as absent (as from an earlier release), never as a reason to
    // drop the beat.
    if (isMemberList(j.members)) hb = { ...hb, members: j.members };
    const folded = parseFolded(j.folded, j.vc);
    if (folded) hb = { ...hb, folded };
    if (j.merges === 1) hb = { ...hb, merges: true };
    if (j.protocol === undefined) return hb;
    // A malformed range is treated as absent (version 1 only), never as a reason to drop the beat.
    const protocol = parseProtocolRange(j.protocol);
    return protocol ? { ...hb, protocol } : hb;
  } catch {
    return undefined;
  }
}

/**
 * The folded clock: one count per entry of the raw `vc` record, in its order, none above it;
 * undefined when absent or malformed (then treated as absent, never a reason to drop the beat).
 */
function parseFolded(v: unknown, vc: unknown): VectorClock | undefined {
  if (!Array.isArray(v) || !isRecord(vc)) return undefined;
  const entries = Object.entries(vc);
  if (v.length !== entries.length) return undefined;
  const out: VectorClock = new Map();
  for (let i = 0; i < v.length; i++) {
    const n: unknown = v[i];
    const [origin, max] = entries[i] ?? ['', 0];
    if (!isCount(n) || typeof max !== 'number' || n > max) return undefined;
    if (n > 0) out.set(origin, n);
  }
  return out.size > 0 ? out : undefined;
}

function isMemberList(m: unknown): m is string[] {
  return (
    Array.isArray(m) &&
    m.length <= MAX_NAMED_MEMBERS &&
    m.every((id) => typeof id === 'string' && id.length > 0 && id.length <= 128)
  );
}

function isKnownPeer(p: unknown): p is KnownPeer {
  return (
    isRecord(p) &&
    typeof p.id === 'string' &&
    p.id.length > 0 &&
    p.id.length <= 128 &&
    Array.isArray(p.addrs) &&
    p.addrs.length <= MAX_ADDRS &&
    p.addrs.every((a) => typeof a === 'string' && a.startsWith('/') && a.length <= 256)
  );
}
