/**
 * Heartbeats: ephemeral gossip, never CRDT ops (DESIGN.md "Membership and health"). Each
 * carries the sender's delivered vector clock, which is how every agent learns causal stability
 * (src/core/stability.ts) and so when the log may be compacted, plus its region. Issue 4's
 * failure detector adds incarnations and probes on top.
 */
import { type VectorClock, vcFromRecord, vcToRecord } from '../core/clock/vector-clock.js';
import { isRecord } from '../core/json.js';

export interface Heartbeat {
  readonly vc: VectorClock;
  readonly region: string;
  /** True in the last heartbeat of an agent that is leaving gracefully. */
  readonly leaving: boolean;
}

const VERSION = 1;

export function encodeHeartbeat(h: Heartbeat): Uint8Array {
  return new TextEncoder().encode(
    JSON.stringify({ v: VERSION, vc: vcToRecord(h.vc), region: h.region, leaving: h.leaving }),
  );
}

/** Parses a heartbeat from a peer; returns undefined for anything malformed (the caller counts it). */
export function decodeHeartbeat(bytes: Uint8Array): Heartbeat | undefined {
  try {
    const j = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes)) as unknown;
    if (!isRecord(j) || j.v !== VERSION || typeof j.region !== 'string' || j.region.length > 256)
      return undefined;
    return { vc: vcFromRecord(j.vc), region: j.region, leaving: j.leaving === true };
  } catch {
    return undefined;
  }
}
