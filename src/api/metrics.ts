/**
 * Prometheus metrics of one API instance (GET /metrics): the agent's figures, read from
 * `agent.status()` at scrape time, and the API's own request counts and latencies. Each app
 * instance has its own registry, so two listeners of one agent, or two agents in one process
 * (tests), never collide on metric names.
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { AgentStatus } from '../agent/agent.js';

/** Agent counters mirrored as Prometheus counters: status field → metric name and help. */
const MIRRORED: readonly (readonly [keyof AgentStatus['counters'], string, string])[] = [
  ['localEvents', 'smac_events_local_total', 'Events written on this agent and applied.'],
  ['remoteEvents', 'smac_events_remote_total', 'Events from peers applied on this agent.'],
  ['rejectedEvents', 'smac_events_rejected_total', 'Events refused (bad signature, bad ops, malformed).'],
  [
    'notOwnerEvents',
    'smac_not_owner_events_total',
    'Events with ops skipped because their writer does not own the system records they touch.',
  ],
  ['clockDrift', 'smac_clock_drift_total', 'Remote clocks ahead beyond the allowed drift.'],
  ['syncsStarted', 'smac_syncs_started_total', 'Anti-entropy rounds started.'],
  ['syncsFailed', 'smac_syncs_failed_total', 'Anti-entropy rounds that failed.'],
  [
    'syncsStalled',
    'smac_syncs_stalled_total',
    'Anti-entropy pulls abandoned because the peer sent nothing for syncStallMs.',
  ],
  [
    'divergedPulls',
    'smac_syncs_diverged_total',
    'Pulls that ended apart from the peer: each holds events the other lacks that only its own snapshot holds.',
  ],
  [
    'bufferEvicted',
    'smac_causal_buffer_evicted_total',
    'Events evicted from the causal buffer: older than bufferMaxAgeMs, or the oldest when full.',
  ],
  [
    'bufferFarAhead',
    'smac_causal_buffer_far_ahead_total',
    'Events refused for being more than bufferMaxSeqAhead ahead of what was delivered.',
  ],
  ['snapshotsInstalled', 'smac_snapshots_installed_total', 'Snapshots installed from peers.'],
  [
    'rejectedSnapshots',
    'smac_snapshots_rejected_total',
    'Snapshots from peers refused: malformed, or a clock not proven by signed heads.',
  ],
  ['compactions', 'smac_compactions_total', 'Log compactions.'],
  [
    'reaps',
    'smac_members_reaped_total',
    'Members reaped or force-left: compaction stopped waiting for them.',
  ],
  ['heartbeatsReceived', 'smac_heartbeats_received_total', 'Heartbeats received.'],
  ['badHeartbeats', 'smac_heartbeats_rejected_total', 'Malformed heartbeats dropped.'],
  [
    'refusedPeers',
    'smac_peers_refused_protocol_total',
    'Heartbeats refused from peers of an incompatible protocol (their connections are closed).',
  ],
  [
    'peersMerged',
    'smac_peers_merged_total',
    'Diverged peers (each had folded events the other lacked) whose state was merged into this agent.',
  ],
  [
    'gossipStreamsReopened',
    'smac_gossip_streams_reopened_total',
    'Gossip outbound streams re-opened after they died while their connection lived.',
  ],
];

/**
 * Metrics kept by another part of the agent (the DNS listener's counters), registered on each
 * API instance's registry; they read their values at scrape time (prom-client's collect()).
 */
export interface MetricSource {
  register(registry: Registry): void;
}

export class ApiMetrics {
  readonly registry = new Registry();
  private readonly mirrored: { field: keyof AgentStatus['counters']; counter: Counter; last: number }[];
  private readonly buffered: Gauge;
  private readonly logEvents: Gauge;
  private readonly logBytes: Gauge;
  private readonly objects: Gauge;
  private readonly peers: Gauge<'state'>;
  private readonly maxLag: Gauge;
  private readonly rss: Gauge;
  private readonly watches: Gauge;
  private readonly blockers: Gauge<'member' | 'reason'>;
  private readonly refused: Counter<'reason'>;
  private readonly refusedLast = { diverged: 0, protocol: 0 };
  private readonly requests: Counter<'method' | 'route' | 'status'>;
  private readonly latency: Histogram<'method' | 'route'>;
  private readonly ownOpsKept: Gauge;

  constructor(sources: readonly MetricSource[] = []) {
    const registers = [this.registry];
    this.mirrored = MIRRORED.map(([field, name, help]) => ({
      field,
      counter: new Counter({ name, help, registers }),
      last: 0,
    }));
    this.buffered = new Gauge({
      name: 'smac_causal_buffer_events',
      help: 'Events waiting in the causal buffer for their dependencies.',
      registers,
    });
    this.logEvents = new Gauge({ name: 'smac_log_events', help: 'Events in the durable log.', registers });
    this.logBytes = new Gauge({
      name: 'smac_log_bytes',
      help: 'Bytes of events in the durable log.',
      registers,
    });
    this.objects = new Gauge({ name: 'smac_objects', help: 'Objects in the keyspace.', registers });
    this.peers = new Gauge({
      name: 'smac_peers',
      help: 'Peers by state: connected now, or known (connected or heard from).',
      labelNames: ['state'],
      registers,
    });
    this.maxLag = new Gauge({
      name: 'smac_peer_lag_events_max',
      help: "Most events this agent has that a peer's last heartbeat did not cover.",
      registers,
    });
    this.rss = new Gauge({
      name: 'smac_process_resident_memory_bytes',
      help: 'Resident set size.',
      registers,
    });
    this.blockers = new Gauge({
      name: 'smac_compaction_pinned_events',
      help: "Events in this agent's clock that a member holding compaction back has not reported (it pins them in the log).",
      labelNames: ['member', 'reason'],
      registers,
    });
    this.refused = new Counter({
      name: 'smac_peers_refused_total',
      help: 'Heartbeats refused, by reason: diverged (a member of another cluster: docs/agent.md, "Divergence") or protocol (incompatible); the peers\' connections are closed.',
      labelNames: ['reason'],
      registers,
    });
    this.watches = new Gauge({ name: 'smac_watches_active', help: 'Open watch streams.', registers });
    this.requests = new Counter({
      name: 'smac_http_requests_total',
      help: 'HTTP requests by method, route template and status.',
      labelNames: ['method', 'route', 'status'],
      registers,
    });
    this.latency = new Histogram({
      name: 'smac_http_request_duration_seconds',
      help: 'HTTP request latency by method and route template (watches: until the stream opened).',
      labelNames: ['method', 'route'],
      buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers,
    });
    this.ownOpsKept = new Gauge({
      name: 'smac_own_ops_kept',
      help: "Client batches of this agent's writes kept for a re-run (not yet stable, or while reaped members could win a mutual reap against it: docs/agent.md).",
      registers,
    });
    for (const source of sources) source.register(this.registry);
  }

  observeRequest(method: string, route: string, status: number, seconds: number): void {
    this.requests.inc({ method, route, status: String(status) });
    this.latency.observe({ method, route }, seconds);
  }

  watchOpened(): void {
    this.watches.inc();
  }

  watchClosed(): void {
    this.watches.dec();
  }

  /** The exposition text, with agent figures taken from `status` now. */
  render(status: AgentStatus): Promise<string> {
    for (const m of this.mirrored) {
      const v = status.counters[m.field];
      // Counters only go up: mirror the growth since the last scrape.
      if (v > m.last) m.counter.inc(v - m.last);
      m.last = Math.max(m.last, v);
    }
    this.mirrorRefused('diverged', status.counters.refusedDiverged);
    this.mirrorRefused('protocol', status.counters.refusedPeers);
    this.buffered.set(status.buffered);
    this.logEvents.set(status.log.events);
    this.logBytes.set(status.log.bytes);
    this.objects.set(status.objects);
    this.peers.set({ state: 'connected' }, status.peers.filter((p) => p.connected).length);
    this.peers.set({ state: 'known' }, status.peers.length);
    this.maxLag.set(status.peers.reduce((m, p) => Math.max(m, p.lag ?? 0), 0));
    this.blockers.reset();
    for (const b of status.compaction.blockedBy)
      this.blockers.set({ member: b.peerId, reason: b.reason }, b.pinnedEvents);
    this.rss.set(process.memoryUsage.rss());
    this.ownOpsKept.set(status.compaction.ownOpsKept);
    return this.registry.metrics();
  }

  private mirrorRefused(reason: 'diverged' | 'protocol', v: number): void {
    if (v > this.refusedLast[reason]) this.refused.inc({ reason }, v - this.refusedLast[reason]);
    else this.refused.inc({ reason }, 0); // shown at 0 too
    this.refusedLast[reason] = Math.max(this.refusedLast[reason], v);
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
