/**
 * What `/v1/status` shows of an agent (docs/api.md): its identity and origin, peers with their
 * heartbeat age and lag, clock, causal buffer, log, counters (mirrored on /metrics), join
 * addresses, what blocks compaction, and the wire versions it supports and emits. Read-only:
 * built from the agent's parts at the moment it is asked.
 */
import type { JoinAddressStatus } from '../net/join.js';
import { type ReadonlyVectorClock, type VectorClock, vcToRecord } from '../core/clock/vector-clock.js';
import type { Replica } from '../core/replica.js';
import type { ProtocolRange } from '../core/wire-version.js';
import type { Store } from '../store/store.js';
import type { CompactionStatus } from './compaction.js';
import type { Heartbeats } from './heartbeats.js';
import type { RefusedPeer } from './peer-refusals.js';

export interface PeerStatus {
  readonly peerId: string;
  readonly region: string | undefined;
  readonly connected: boolean;
  /** Ms since its last heartbeat, or undefined if none was heard. */
  readonly lastHeartbeatAgoMs: number | undefined;
  /** Events this agent has that the peer's last heartbeat did not cover. */
  readonly lag: number | undefined;
}

export interface AgentStatus {
  readonly peerId: string;
  /** The origin this agent writes under now: its peer id and store epoch. */
  readonly origin: string;
  readonly region: string;
  readonly addresses: string[];
  readonly peers: PeerStatus[];
  /** The delivered clock, without the retired epochs held up to their cut (`retired`). */
  readonly clock: Record<string, number>;
  /** Retired (reaped) epochs and their cuts: covered up to the cut, refused beyond it. */
  readonly retired: Record<string, number>;
  readonly buffered: number;
  readonly log: { events: number; bytes: number; lastPos: number; compacted: Record<string, number> };
  readonly objects: number;
  readonly counters: AgentCounters;
  /** The configured join addresses and how dialing them goes. */
  readonly join: JoinAddressStatus[];
  /** What stability waits for, and which members hold compaction back (pinning the log). */
  readonly compaction: CompactionStatus;
  /** The event wire versions this build supports, and the one its events go out in now. */
  readonly protocol: ProtocolRange & { readonly emitting: number };
  /**
   * Peers refused, with the reason: `diverged` (a member of another cluster: docs/agent.md,
   * "Divergence") or `protocol` (an incompatible protocol). None of them is a member here.
   */
  readonly refused: RefusedPeer[];
}

export interface AgentCounters {
  localEvents: number;
  remoteEvents: number;
  rejectedEvents: number;
  /**
   * Events with ops skipped because their writer does not own the system record they touch
   * (code NOT_OWNER, docs/semantics.md "Ownership of system records"); the event's other ops
   * applied. Also in rejectedEvents.
   */
  notOwnerEvents: number;
  clockDrift: number;
  syncsStarted: number;
  syncsFailed: number;
  /** Pulls abandoned because the peer sent no frame for syncStallMs (also in syncsFailed). */
  syncsStalled: number;
  /**
   * Pulls that ended apart from the peer: its snapshot lacks events this agent holds only in its
   * own snapshot, and holds events this agent lacks (src/agent/divergence.ts).
   */
  divergedPulls: number;
  /** Buffered events evicted: older than bufferMaxAgeMs, or the oldest when the buffer was full. */
  bufferEvicted: number;
  /** Events refused for being more than bufferMaxSeqAhead ahead of what was delivered. */
  bufferFarAhead: number;
  snapshotsInstalled: number;
  /** Snapshots from peers refused: malformed, or a clock their signed heads do not prove. */
  rejectedSnapshots: number;
  compactions: number;
  /** Members reaped or force-left (they no longer hold compaction back). */
  reaps: number;
  heartbeatsReceived: number;
  badHeartbeats: number;
  /** Heartbeats refused from peers of an incompatible protocol (their connections are closed). */
  refusedPeers: number;
  /** Gossip outbound streams re-opened: they died while their connection lived (src/net/gossip-streams.ts). */
  gossipStreamsReopened: number;
  /**
   * Heartbeats refused from peers diverged from this agent for good: members of another cluster
   * (src/core/divergence.ts; their connections are closed).
   */
  refusedDiverged: number;
  /** Diverged peers whose state was merged into ours (snapshot-exchange.ts; docs/agent.md "Divergence"). */
  peersMerged: number;
}

export function newCounters(): AgentCounters {
  return {
    localEvents: 0,
    remoteEvents: 0,
    rejectedEvents: 0,
    notOwnerEvents: 0,
    clockDrift: 0,
    syncsStarted: 0,
    syncsFailed: 0,
    syncsStalled: 0,
    divergedPulls: 0,
    bufferEvicted: 0,
    bufferFarAhead: 0,
    snapshotsInstalled: 0,
    rejectedSnapshots: 0,
    compactions: 0,
    reaps: 0,
    heartbeatsReceived: 0,
    badHeartbeats: 0,
    refusedPeers: 0,
    gossipStreamsReopened: 0,
    refusedDiverged: 0,
    peersMerged: 0,
  };
}

export interface StatusParts {
  readonly now: number;
  readonly peerId: string;
  readonly region: string;
  readonly replica: Replica;
  readonly store: Pick<Store, 'logStats' | 'compactedClock'>;
  readonly addresses: string[];
  readonly connected: readonly string[];
  readonly heartbeats: Pick<Heartbeats, 'heardFrom' | 'lag' | 'versions' | 'refused'>;
  readonly counters: AgentCounters;
  readonly join: JoinAddressStatus[];
  readonly compaction: CompactionStatus;
}

export function buildStatus(p: StatusParts): AgentStatus {
  const connected = new Set(p.connected);
  const heard = p.heartbeats.heardFrom();
  const ids = new Set([...connected, ...heard.keys()]);
  const stats = p.replica.stats();
  const retired = p.replica.retiredCuts();
  return {
    peerId: p.peerId,
    origin: p.replica.id,
    region: p.region,
    addresses: p.addresses,
    peers: [...ids].sort().map((id) => {
      const h = heard.get(id);
      return {
        peerId: id,
        region: h?.region,
        connected: connected.has(id),
        lastHeartbeatAgoMs: h ? p.now - h.at : undefined,
        lag: p.heartbeats.lag(id),
      };
    }),
    clock: vcToRecord(p.replica.shownClock()),
    retired: vcToRecord(retired),
    buffered: stats.buffered,
    log: { ...p.store.logStats(), compacted: vcToRecord(withoutRetired(p.store.compactedClock(), retired)) },
    objects: stats.objects,
    counters: { ...p.counters },
    join: p.join,
    compaction: p.compaction,
    protocol: { ...p.heartbeats.versions.local, emitting: p.replica.eventWireVersion },
    refused: p.heartbeats.refused(),
  };
}

/** `vc` without the retired epochs it counts at most up to their cut. */
function withoutRetired(vc: VectorClock, retired: ReadonlyVectorClock): VectorClock {
  for (const [epoch, cut] of retired) if ((vc.get(epoch) ?? cut) <= cut) vc.delete(epoch);
  return vc;
}
