/**
 * The state the failure detector's parts share: the member table, the open suspicions, the
 * gossip waiting to be piggybacked, local health and the counters. The `FailureDetector` owns
 * it; its probe cycle and the membership updates (membership-updates.ts) change it, only from
 * within `step`.
 */
import type { Json } from '../json.js';
import type { Awareness } from './awareness.js';
import { BroadcastQueue } from './broadcast-queue.js';
import type { MembershipConfig } from './config.js';
import type { MemberId, MembershipMessage, MemberStatus } from './messages.js';
import { ProbeOrder } from './probe-order.js';
import type { RandomChoice } from './random-choice.js';
import type { RttView } from './rtt.js';
import { RoundTrips } from './round-trips.js';
import type { Suspicion } from './suspicion.js';

/** A member as this detector sees it. */
export interface MemberView {
  readonly id: MemberId;
  readonly incarnation: number;
  readonly status: MemberStatus;
  readonly meta: Json;
  /** When our view of it last changed status. */
  readonly sinceMs: number;
  /** While suspect: independent confirmations so far and when it will be declared dead. */
  readonly suspicion?: { readonly confirmations: number; readonly deadlineMs: number };
  /** Round trips measured by our pings to it, and the probe timeout they give (none for self). */
  readonly rtt?: RttView & { readonly probeTimeoutMs: number };
}

export interface MembershipStats {
  /** Remote inputs refused as malformed or over a bound. */
  readonly rejected: number;
  readonly probes: number;
  /** Probes moved forward because the connection to their target was lost. */
  readonly probesOutOfTurn: number;
  /** Direct pings not acked within their probe timeout (the indirect probe then ran). */
  readonly pingTimeouts: number;
  /** Probes that ended without any ack. */
  readonly probeFailures: number;
  /** Failed probes followed at once by another attempt at the same member (probeAttempts). */
  readonly probeRetries: number;
  /** Suspicions this member started from its own failed probes. */
  readonly suspicionsRaised: number;
  /** Times this member raised its incarnation to refute a suspicion. */
  readonly refutations: number;
  /** Acks that matched no probe or relay in flight (late, or duplicated). */
  readonly staleAcks: number;
  /** Ping-reqs refused because `maxPendingRelays` were in flight. */
  readonly relaysRefused: number;
  /** Lifeguard's local health score: 0 is healthy. */
  readonly healthScore: number;
  /** Gossip messages waiting to be piggybacked. */
  readonly pendingGossip: number;
}

/** One row of the member table. */
export interface MemberState {
  readonly id: MemberId;
  incarnation: number;
  status: MemberStatus;
  meta: Json;
  /** Canonical JSON of `meta`: an alive claim about us with other metadata is a conflict. */
  metaKey: string;
  sinceMs: number;
}

export type Counters = { -readonly [K in keyof MembershipStats]: number };

export class DetectorState {
  readonly table = new Map<MemberId, MemberState>();
  readonly suspicions = new Map<MemberId, Suspicion>();
  readonly queue = new BroadcastQueue();
  readonly roundTrips = new RoundTrips();
  readonly probeOrder: ProbeOrder;
  readonly counters: Counters = {
    rejected: 0,
    probes: 0,
    probesOutOfTurn: 0,
    pingTimeouts: 0,
    probeFailures: 0,
    probeRetries: 0,
    suspicionsRaised: 0,
    refutations: 0,
    staleAcks: 0,
    relaysRefused: 0,
    healthScore: 0,
    pendingGossip: 0,
  };
  /** The time of the input being handled. */
  nowMs = 0;
  /** Set by a `leave` input: from then on we spread our departure and nothing else of ours. */
  leaving = false;
  private seq = 0;

  constructor(
    readonly id: MemberId,
    readonly config: MembershipConfig,
    /** Our own row, also in `table`. */
    readonly me: MemberState,
    readonly awareness: Awareness,
    readonly random: RandomChoice,
  ) {
    this.table.set(me.id, me);
    this.probeOrder = new ProbeOrder(random);
  }

  /** Members alive or suspect, ourselves included while we are not leaving: N in the formulas. */
  liveCount(): number {
    let n = 0;
    for (const m of this.table.values()) if (m.status === 'alive' || m.status === 'suspect') n++;
    return n;
  }

  /** A fresh seq for a ping of ours. */
  nextSeq(): number {
    return ++this.seq;
  }

  /**
   * The direct probe timeout for `id` before Lifeguard's scaling: probeTimeoutMs until its
   * round trip is measured, then adaptive (config.rttTimeoutMult; docs/membership.md).
   */
  probeTimeoutFor(id: MemberId): number {
    return this.roundTrips.probeTimeoutFor(id, this.config);
  }

  /** The probe timeout for `id` after Lifeguard's scaling: what a ping to it waits for its ack. */
  scaledProbeTimeoutFor(id: MemberId): number {
    return this.awareness.scale(this.probeTimeoutFor(id));
  }

  view(m: MemberState): MemberView {
    const s = this.suspicions.get(m.id);
    const rtt = this.roundTrips.view(m.id);
    const base = {
      id: m.id,
      incarnation: m.incarnation,
      status: m.status,
      meta: m.meta,
      sinceMs: m.sinceMs,
      ...(rtt ? { rtt: { ...rtt, probeTimeoutMs: this.probeTimeoutFor(m.id) } } : {}),
    };
    return s && m.status === 'suspect'
      ? { ...base, suspicion: { confirmations: s.confirmations, deadlineMs: s.deadlineMs } }
      : base;
  }

  selfAlive(): MembershipMessage {
    return { kind: 'alive', id: this.id, incarnation: this.me.incarnation, meta: this.me.meta };
  }
}
