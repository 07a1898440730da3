/**
 * The agent: the composition root that wires the pure replica (src/core) to its adapters —
 * the durable store (src/store) and the libp2p network (src/net) — and owns their lifecycle
 * (paper §V-A; DESIGN.md "Architecture").
 *
 * One owner mutates replica state: every input (a local write, an event from gossip or sync, a
 * snapshot to install) goes through the OwnerQueue, and one synchronous drain applies a batch
 * of them and carries out the replica's effects in the fixed order the design requires:
 *   1. persist every applied event (one SQLite transaction: the group commit),
 *   2. broadcast the local ones (gossip: the fast path),
 *   3. acknowledge the writers, then notify watchers.
 * A write is acknowledged only after its commit. If the store fails, the agent stops rather
 * than run ahead of its durable state.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { PeerId, PrivateKey } from '@libp2p/interface';
import { peerIdFromPrivateKey, peerIdFromString } from '@libp2p/peer-id';
import type { Logger } from 'pino';
import { type ReadonlyVectorClock, type VectorClock, vcLeq, vcToRecord } from '../core/clock/vector-clock.js';
import type { TypeName } from '../core/crdt/crdt.js';
import type { ObjectView } from '../core/keyspace.js';
import { Replica, type TouchedObject } from '../core/replica.js';
import { EventGossip, HeartbeatGossip, type VerifiedEvent } from '../net/gossip.js';
import { loadClusterKey } from '../net/cluster-key.js';
import { readTrustedEnvelope } from '../net/envelope.js';
import { IDENTITY_FILE_NAME, loadOrCreateIdentity } from '../net/identity.js';
import { Joiner } from '../net/join.js';
import { createSmacNode, type SmacNode } from '../net/node.js';
import { SyncService } from '../net/sync-protocol.js';
import { SnapshotRefusal, SnapshotRefused } from '../net/snapshot-proof.js';
import { snapshotSourceRefusal } from './snapshot-source.js';
import {
  installPeerSnapshot,
  provenClock,
  servedSnapshot,
  type SnapshotExchangeDeps,
} from './snapshot-exchange.js';
import { Store } from '../store/store.js';
import type { AgentConfig } from './config.js';
import { heartbeatRefreshMs, Heartbeats } from './heartbeats.js';
import { type AgentCounters, type AgentStatus, buildStatus, newCounters } from './status.js';
import { PRUNED_CLOCKS_WIRE_VERSION, type ProtocolRange } from '../core/wire-version.js';
import type { OwnerQueue } from './owner-queue.js';
import { type ChangeNotice, Owner, type OwnerInput, type WriteResult } from './owner.js';
import { securePrivateDir, warnIfOpenCluster } from './data-dir.js';
import { createLogger } from './logger.js';
import { Discovery } from '../services/discovery.js';
import { LoadMonitor } from '../services/load.js';
import { MEMBERS_KEY, Membership, type Transition } from './membership.js';
import { type MembershipConfig, membershipProfile } from '../core/membership/config.js';
import type { MemberView } from '../core/membership/failure-detector.js';
import { recoverReplica } from './recovery.js';
import { chooseEpoch, markCleanShutdown } from './epoch.js';
import { peerOfOrigin } from '../core/origin.js';
import { handOver } from './hand-over.js';
import { Compactor } from './compaction.js';
import { AntiEntropy } from './anti-entropy.js';
import { Rebaser } from './rebase.js';

export interface AgentOptions {
  readonly logger?: Logger;
  /**
   * Run the health checks of endpoints registered on this node (default true). Off for
   * embedders (and tests) that drive their own Discovery on top of this agent.
   */
  readonly checks?: boolean;
  /** Overrides of the failure-detector profile (tests use short periods). */
  readonly membership?: Partial<MembershipConfig>;
  /** Physical clock, ms since the epoch (injectable for tests). */
  readonly now?: () => number;
  /** The wire versions this agent advertises and emits (tests pose as other releases). */
  readonly protocol?: ProtocolRange;
}

/** Whom the connection gater refuses: everyone while isolated, and peers of another protocol. */
interface PeerGate {
  isolated: boolean;
  refused: (peerId: string) => boolean;
}

export type { ChangeNotice, WriteResult } from './owner.js';

export type { AgentCounters, AgentStatus, PeerStatus } from './status.js';

/** How long a leaving agent tries to hand its events over to each peer (hand-over.ts). */
const HAND_OVER_TIMEOUT_MS = 2_000;

export class AgentStoppedError extends Error {
  override readonly name = 'AgentStoppedError';
  readonly code = 'AGENT_STOPPED';
}

export class Agent {
  readonly peerId: string;
  private readonly queue: OwnerQueue<OwnerInput>;
  private readonly compactor: Compactor;
  private readonly rebaser: Rebaser;
  private readonly listeners = new Set<(c: ChangeNotice) => void>();
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly counters: AgentCounters = newCounters();
  private stopping = false;
  private stopped: Promise<void> | undefined;
  private gossip: EventGossip | undefined;
  private membership!: Membership;
  private discovery!: Discovery;
  private loadMonitor!: LoadMonitor;
  private runChecks = true;
  /** Peers reached through a join address: a new joiner's first snapshot comes from one. */
  private readonly joinPeers = new Set<string>();
  private protocol: ProtocolRange | undefined;
  private heartbeats!: Heartbeats;
  private sync!: SyncService;
  private antiEntropy!: AntiEntropy;
  private joiner!: Joiner;

  private constructor(
    readonly config: AgentConfig,
    private readonly log: Logger,
    private readonly now: () => number,
    private readonly privateKey: PrivateKey,
    private readonly store: Store,
    private replica: Replica,
    readonly node: SmacNode,
    private readonly isolation: PeerGate,
  ) {
    this.peerId = peerIdFromPrivateKey(privateKey).toString();
    this.compactor = new Compactor({
      self: this.peerId,
      store,
      replica: () => this.replica,
      log,
      now,
      snapshotEveryEvents: config.snapshotEveryEvents,
      reapAfterMs: config.reapAfterMs,
      maxLogEvents: config.maxLogEvents,
      joining: config.join.length > 0,
      candidates: () => this.memberCandidates(),
      isAlive: (id) => (this.membership as Membership | undefined)?.isAlive(id) ?? false,
      write: (ops) => this.write(ops, { system: true }),
      counters: this.counters,
    });
    this.rebaser = new Rebaser({
      peerId: this.peerId,
      store,
      log,
      config: { maxDriftMs: config.maxDriftMs },
      replica: () => this.replica,
      setReplica: (r) => {
        this.replica = r;
      },
      installed: () => {
        this.compactor.installed();
      },
      syncOnce: async () => {
        const peers = this.connectedPeers();
        const peer = peers[Math.floor(Math.random() * peers.length)];
        if (peer) await this.syncWith(peerIdFromString(peer));
      },
      write: (ops) => this.write(ops),
      stopping: () => this.stopping,
      handOver: async (self, upTo) => {
        await this.handOver(self, new Map([...this.replica.clock(), [self, upTo]]));
      },
      members: () => this.memberCandidates().filter((p) => p !== this.peerId && this.isMember(p)),
    });
    this.queue = new Owner({
      now,
      replica: () => this.replica,
      store,
      log,
      privateKey,
      counters: this.counters,
      publish: (envelopes) => {
        this.gossip?.publish(envelopes).catch((e: unknown) => {
          this.log.debug({ err: e }, 'gossip publish failed; anti-entropy will carry the events');
        });
      },
      notify: (notices) => {
        for (const n of notices) for (const fn of this.listeners) fn(n);
        if (notices.some((n) => n.objects.some((o) => o.key === MEMBERS_KEY && o.type === 'aw-set')))
          this.membership.membersChanged();
      },
      repair: () => {
        this.antiEntropy.repair();
      },
      install: (bytes, from, keepNewer) => this.install(bytes, from, keepNewer),
      maintain: () => {
        this.maintain();
      },
      failStop: () => void this.stop(),
    }).queue;
  }

  /** Opens the store, recovers state, starts the libp2p node and the background loops. */
  static async start(config: AgentConfig, options: AgentOptions = {}): Promise<Agent> {
    const log = options.logger ?? createLogger(config.logLevel);
    const now = options.now ?? Date.now;
    securePrivateDir(config.dataDir, log);
    warnIfOpenCluster(config, log);
    const identityExisted = existsSync(join(config.dataDir, IDENTITY_FILE_NAME));
    const privateKey = await loadOrCreateIdentity(config.dataDir);
    const peerId = peerIdFromPrivateKey(privateKey).toString();
    const store = Store.open({ dataDir: config.dataDir, sync: config.storeSync });
    let node: SmacNode | undefined;
    const isolation: PeerGate = { isolated: false, refused: () => false };
    try {
      const { origin } = chooseEpoch(store, { peerId, storeSync: config.storeSync, identityExisted, log });
      const replica = recoverReplica(
        store,
        {
          id: origin,
          maxDriftMs: config.maxDriftMs,
          maxBufferAgeMs: config.bufferMaxAgeMs,
          maxSeqAhead: config.bufferMaxSeqAhead,
        },
        now(),
      );
      const clusterKey = config.clusterKeyFile ? await loadClusterKey(config.clusterKeyFile) : undefined;
      node = await createSmacNode({
        privateKey,
        listen: config.listen,
        ...(clusterKey ? { clusterKey } : {}),
        mdns: config.mdns,
        allowPeers: config.allowPeers,
        denyPeer: (id) => isolation.isolated || isolation.refused(id),
      });
      const agent = new Agent(config, log, now, privateKey, store, replica, node, isolation);
      if (options.protocol) agent.protocol = options.protocol;
      agent.runChecks = options.checks ?? true;
      await agent.startServices({ ...config.membership, ...options.membership });
      agent.rebaser.resume();
      log.info(
        { peerId, addresses: agent.addresses(), region: config.region, clock: vcToRecord(replica.clock()) },
        'agent started',
      );
      return agent;
    } catch (e) {
      await node?.stop();
      store.close();
      throw e;
    }
  }

  private async startServices(membershipOverrides: Partial<MembershipConfig>): Promise<void> {
    const pubsub = this.node.services.pubsub;
    if (this.config.gossip) {
      this.gossip = new EventGossip({
        pubsub,
        onEvents: (items) => {
          this.receive(items).catch(() => undefined); // rejects only when the agent stops
        },
        onReject: (reason, from) => {
          this.counters.rejectedEvents++;
          this.log.warn({ reason, from: from.toString() }, 'rejected a gossip batch');
        },
      });
      this.gossip.start();
    }
    this.heartbeats = new Heartbeats({
      self: this.peerId,
      region: this.config.region,
      node: this.node,
      gossip: new HeartbeatGossip({
        pubsub,
        privateKey: this.privateKey,
        onHeartbeat: (bytes, from) => {
          this.heartbeats.receive(bytes, from);
        },
        onLegacyPeer: (peer) => {
          this.log.warn(
            { peer: peer.toString() },
            'peer runs an older build whose gossip does not reach this one; sync still carries events between us until it is upgraded (docs/networking.md, "Rolling upgrades")',
          );
        },
      }),
      log: this.log,
      now: this.now,
      clock: () => this.replica.clock(),
      sentClock: () => this.wireClock(),
      expand: (vc) => this.replica.expandClock(vc),
      buffered: () => this.replica.stats().buffered,
      isolated: () => this.isolation.isolated,
      view: this.compactor.view,
      members: () => this.compactor.firstHandMembers(),
      counters: this.counters,
      onBehind: (peer) => void this.syncWith(peer),
      ...(this.protocol ? { protocol: this.protocol } : {}),
      refreshMs: (members) =>
        heartbeatRefreshMs(this.config.heartbeatIntervalMs, this.config.reapAfterMs, members),
    });
    this.isolation.refused = (id) => this.heartbeats.isRefused(id);
    this.heartbeats.start();
    this.sync = new SyncService(this.node, {
      source: {
        // The compacted clock keeps retired epochs: the snapshot decision reads it as it is.
        header: () => ({ vc: this.wireClock(), compacted: this.store.compactedClock() }),
        // A member heard advertising no wire versions runs a release from before signed heads:
        // it gets a snapshot it can read (v1; the heads are what it could not parse).
        snapshot: (peer) =>
          servedSnapshot(this.snapshotDeps(), {
            proven: !this.heartbeats.versions.isLegacy(peer.toString()),
            pruned:
              this.prunes() && this.heartbeats.versions.mayRead(peer.toString(), PRUNED_CLOCKS_WIRE_VERSION),
          }),
        envelopesSince: (vc) => this.antiEntropy.envelopesSince(vc),
      },
      onPush: (envelopes) => this.antiEntropy.receiveRaw(envelopes),
      // A peer that pulls from us exists and holds at least its request's clock: stability
      // waits for it (a joiner we would otherwise know nothing of yet; stability-view.ts).
      readClock: (vc) => this.replica.expandClock(vc),
      onRequest: (vc, from) => {
        this.compactor.view.pulled(from.toString(), vc, this.replica.clock(), this.now());
      },
      onError: (protocol, peer, error) => {
        this.log.debug({ protocol, peer: peer.toString(), err: error }, 'sync stream failed');
      },
    });
    this.antiEntropy = this.startAntiEntropy();
    await this.sync.start();
    this.startJoiner();
    this.node.addEventListener('peer:connect', (evt) => {
      const peer = evt.detail;
      // A new connection is a chance to repair whatever was missed while apart (even from a
      // peer whose pull failed across the partition: anti-entropy.ts `connected`).
      setTimeout(() => void this.antiEntropy.connected(peer), 50).unref();
    });
    this.membership = new Membership({
      node: this.node,
      self: {
        id: this.peerId,
        incarnation: this.recoveredIncarnation(),
        meta: {
          region: this.config.region,
          tags: { ...this.config.tags },
          addrs: this.addresses().slice(0, 8),
        },
      },
      config: { ...membershipProfile(this.config.membershipProfile), ...membershipOverrides },
      log: this.log,
      write: (ops) => this.write(ops, { system: true }),
      read: () => this.replica.read('aw-set', MEMBERS_KEY),
      isolated: () => this.isolation.isolated,
    });
    await this.membership.start();
    this.discovery = new Discovery({ host: this, liveness: this.membership, logger: this.log });
    if (this.runChecks) this.discovery.start();
    this.loadMonitor = new LoadMonitor({ host: this, liveness: this.membership });
    this.every(this.config.syncIntervalMs, () => {
      this.antiEntropy.round();
    });
    this.every(this.config.heartbeatIntervalMs, () => {
      this.heartbeats.send(false);
      // Compaction and the wire version change replica state: the owner does both.
      this.queue.push({ kind: 'maintain' }).catch(() => undefined);
    });
    this.every(Math.min(250, this.config.syncIntervalMs), () => {
      this.queue.push({ kind: 'tick' }).catch(() => undefined);
    });
  }

  private startAntiEntropy(): AntiEntropy {
    return new AntiEntropy({
      sync: this.sync,
      store: this.store,
      log: this.log,
      counters: this.counters,
      config: {
        maxConcurrentPulls: this.config.maxConcurrentPulls,
        stallMs: this.config.syncStallMs,
        timeoutMs: this.config.syncTimeoutMs,
        // Heartbeats show which peer has what we lack; in sync, a pull every sixth round.
        inSyncRoundMs: 6 * this.config.syncIntervalMs,
      },
      now: this.now,
      clock: () => this.replica.clock(),
      requestClock: () => this.wireClock(),
      expand: (vc) => this.replica.expandClock(vc),
      connectedPeers: () => this.node.getConnections().map((c) => c.remotePeer),
      peerClock: (id) => this.heartbeats.heardFrom().get(id)?.vc,
      peerHeardAt: (id) => this.heartbeats.heardFrom().get(id)?.at,
      receive: (items) => this.receive(items),
      install: (bytes, keepNewer, from) =>
        new Promise<boolean>((resolve) => {
          this.queue.push({ kind: 'install', bytes, keepNewer, from, resolve }).catch(() => {
            resolve(false);
          });
        }),
      halted: () => this.halted,
    });
  }

  private startJoiner(): void {
    this.joiner = new Joiner(this.node, {
      addresses: this.config.join,
      onDialError: (address, error) => {
        this.log.debug({ address, err: error }, 'join dial failed; retrying with backoff');
      },
      onConnected: (address, peer) => {
        this.joinPeers.add(peer.toString());
        this.log.info({ address, peer: peer.toString() }, 'joined');
      },
    });
    this.joiner.start();
  }

  private every(ms: number, fn: () => void): void {
    const t = setInterval(() => {
      if (!this.stopping) fn();
    }, ms);
    t.unref();
    this.timers.push(t);
  }

  // ---- the public API --------------------------------------------------------------------

  /** Applies a batch of ops as one atomic event; resolves once it is durable here. */
  write(
    ops: readonly unknown[],
    opts: { system?: boolean; oneTypePerKey?: boolean } = {},
  ): Promise<WriteResult> {
    if (this.stopping)
      return Promise.reject(new AgentStoppedError('The agent is stopping; the write was not applied.'));
    return new Promise<WriteResult>((resolve, reject) => {
      const oneTypePerKey = opts.oneTypePerKey === true;
      this.queue
        .push({ kind: 'local', ops, system: opts.system === true, oneTypePerKey, resolve, reject })
        .catch(reject);
    });
  }

  read(type: TypeName, key: string): ObjectView | undefined {
    return this.replica.read(type, key);
  }

  list(prefix = ''): ObjectView[] {
    return this.replica.list(prefix);
  }

  clock(): VectorClock {
    return this.replica.clock();
  }

  /** `vc` as the API shows it: without retired epochs it provably holds at their cut. */
  pruneClock(vc: ReadonlyVectorClock): VectorClock {
    return this.replica.pruneClock(vc);
  }

  /** A clock a client sent back (a cursor), with the retired epochs it proves to hold restored. */
  expandClock(vc: ReadonlyVectorClock): VectorClock {
    return this.replica.expandClock(vc);
  }

  /**
   * What changed since `cursor` (a clock a watcher saw): the objects touched by every logged
   * event the cursor does not cover. `snapshotNeeded` when the log was compacted past the
   * cursor: the watcher must then take the current state instead.
   */
  changesSince(cursor: ReadonlyVectorClock): { snapshotNeeded: boolean; objects: TouchedObject[] } {
    if (!vcLeq(this.store.compactedClock(), cursor)) return { snapshotNeeded: true, objects: [] };
    const seen = new Set<string>();
    const objects: TouchedObject[] = [];
    for (const row of this.store.eventsSince(cursor)) {
      for (const op of readTrustedEnvelope(row.bytes).event.ops) {
        const { t, f } = op as { t: TypeName; f: string };
        const id = `${t}\u0000${f}`;
        if (!seen.has(id)) {
          seen.add(id);
          objects.push({ type: t, key: f });
        }
      }
    }
    return { snapshotNeeded: false, objects };
  }

  /** Members as this agent's failure detector sees them, with recent status transitions. */
  members(): {
    members: (MemberView & { region: string | undefined })[];
    transitions: readonly Transition[];
    probes: ReturnType<Membership['stats']>;
  } {
    return {
      members: this.membership.members().map((m) => ({ ...m, region: this.membership.region(m.id) })),
      transitions: this.membership.history(),
      probes: this.membership.stats(),
    };
  }

  /** Service discovery and the health checks this agent runs for endpoints on its node. */
  get services(): Discovery {
    return this.discovery;
  }

  /** Load monitoring: per-node counters and gauges, summed over live nodes. */
  get load(): LoadMonitor {
    return this.loadMonitor;
  }

  /** Who is alive, for services that hide what runs on dead nodes. */
  get liveness(): {
    isAlive(id: string): boolean;
    region(id: string): string | undefined;
    nodes(): string[];
  } {
    return this.membership;
  }

  /** Our highest incarnation in the replicated member set (kept across restarts). */
  private recoveredIncarnation(): number {
    const value: unknown = this.replica.read('aw-set', MEMBERS_KEY)?.value;
    let max = 0;
    if (Array.isArray(value)) {
      for (const r of value as unknown[]) {
        const rec = r as { id?: unknown; incarnation?: unknown };
        if (rec.id === this.peerId && typeof rec.incarnation === 'number')
          max = Math.max(max, rec.incarnation);
      }
    }
    return max;
  }

  /** Calls `fn` after every applied event that changed objects (local or remote). */
  onChange(fn: (c: ChangeNotice) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  addresses(): string[] {
    return this.node.getMultiaddrs().map((a) => a.toString());
  }

  connectedPeers(): string[] {
    return [...new Set(this.node.getConnections().map((c) => c.remotePeer.toString()))];
  }

  status(): AgentStatus {
    return buildStatus({
      now: this.now(),
      peerId: this.peerId,
      region: this.config.region,
      replica: this.replica,
      store: this.store,
      addresses: this.addresses(),
      connected: this.connectedPeers(),
      heartbeats: this.heartbeats,
      counters: this.counters,
      join: this.joiner.status(),
      compaction: this.compactor.status(),
    });
  }

  /** Runs anti-entropy with every connected peer now, a few at a time (tests, operators). */
  syncAll(): Promise<void> {
    return this.antiEntropy.syncAll();
  }

  /**
   * Pulls what `peer` has and we lack (anti-entropy.ts); installs its snapshot first when we
   * are behind its log. Skipped while a pull from it runs, every pull slot is taken, or its
   * last pull stalled or failed a moment ago.
   */
  syncWith(peer: PeerId): Promise<void> {
    return this.antiEntropy.trigger(peer);
  }

  /** Dials a peer by multiaddr (in addition to the configured joins). */
  async connect(addr: string): Promise<void> {
    const { multiaddr } = await import('@multiformats/multiaddr');
    await this.node.dial(multiaddr(addr));
  }

  /**
   * Cuts this agent off the network (fault injection, maintenance): every connection is
   * closed and refused until `isolate(false)`. The agent keeps accepting writes meanwhile;
   * anti-entropy repairs both sides once it reconnects.
   */
  async isolate(on: boolean): Promise<void> {
    this.isolation.isolated = on;
    if (on) await Promise.all(this.node.getConnections().map((c) => c.close().catch(() => undefined)));
    else {
      // Dial the join addresses again now, not after the backoff the isolation built up.
      this.joiner.stop();
      this.startJoiner();
    }
  }

  /** Leaves gracefully: last heartbeat, pending writes committed, then everything closed. */
  stop(): Promise<void> {
    this.stopped ??= this.shutdown();
    return this.stopped;
  }

  /** Read through a getter so that checks after an await are not narrowed away. */
  private get halted(): boolean {
    return this.stopping;
  }

  /** Pushes our events of origin `self` up to `clock`'s entry to every connected peer (hand-over.ts). */
  private async handOver(self: string, clock: VectorClock): Promise<void> {
    await handOver({
      self,
      clock,
      peers: [...new Set(this.node.getConnections().map((c) => c.remotePeer))],
      peerClock: (id) => this.heartbeats.heardFrom().get(id)?.vc,
      store: this.store,
      push: (peer, envelopes, signal) => this.sync.push(peer, envelopes, { signal }),
      timeoutMs: HAND_OVER_TIMEOUT_MS,
      log: this.log,
    });
  }

  private async shutdown(): Promise<void> {
    this.stopping = true;
    for (const t of this.timers) clearInterval(t);
    await this.discovery.stop().catch(() => undefined);
    await this.membership.leave(2 * this.membership.config.probeIntervalMs).catch(() => undefined);
    await this.membership.stop();
    this.queue.close();
    await this.handOver(this.replica.id, this.replica.clock());
    try {
      this.heartbeats.send(true);
    } catch {
      // best effort: peers will notice by the missing heartbeats
    }
    this.joiner.stop();
    this.gossip?.stop();
    this.heartbeats.stop();
    this.antiEntropy.stop();
    await this.sync.stop().catch(() => undefined);
    await this.node.stop();
    try {
      markCleanShutdown(this.store);
    } catch (e) {
      this.log.warn({ err: e }, 'could not record the clean stop; the next start takes a new epoch');
    }
    this.store.close();
    this.log.info({ peerId: this.peerId }, 'agent stopped');
  }

  // ---- the owner ------------------------------------------------------------------------

  private install(bytes: Uint8Array, from: string, keepNewer: boolean): boolean {
    const why = snapshotSourceRefusal(from, {
      self: this.peerId,
      origins: this.replica.clock().keys(),
      joins: this.config.join.length > 0,
      joinPeers: this.joinPeers,
      isMember: (id) => this.isMember(id),
      reaped: (id) => (this.compactor.view.retirements()[id]?.reason ?? 'left') !== 'left',
      claims: () => provenClock(bytes),
      reapOf: (epoch) => this.replica.reapOf(epoch),
    });
    if (why !== undefined) {
      this.counters.rejectedSnapshots++;
      this.log.warn({ peer: from, code: SnapshotRefusal.Untrusted }, `refused a snapshot: ${why}`);
      throw new SnapshotRefused(SnapshotRefusal.Untrusted, `Refused a snapshot: ${why}.`, { peer: from });
    }
    return installPeerSnapshot(this.snapshotDeps(), bytes, { keepNewer, nowMs: this.now() });
  }

  /** Whether clocks we send leave out retired epochs: once every member reads that (v4). */
  private prunes(): boolean {
    return this.replica.eventWireVersion >= PRUNED_CLOCKS_WIRE_VERSION;
  }

  /** The clock our heartbeats and sync requests carry (src/core/retired-epochs.ts). */
  private wireClock(): VectorClock {
    return this.prunes() ? this.replica.shownClock() : this.replica.clock();
  }

  /** A member by what the replica holds (its signed record or events), not left or reaped. */
  private isMember(peer: string): boolean {
    if (this.compactor.view.isRetired(peer)) return false;
    // A rebase emptied the store: the members we knew before it (rebase.ts).
    if (this.rebaser.formerMembers().has(peer)) return true;
    for (const origin of this.replica.clock().keys()) if (peerOfOrigin(origin) === peer) return true;
    const value: unknown = this.replica.read('aw-set', MEMBERS_KEY)?.value;
    return Array.isArray(value) && value.some((r) => (r as { id?: unknown }).id === peer);
  }

  private snapshotDeps(): SnapshotExchangeDeps {
    return {
      replica: this.replica,
      store: this.store,
      log: this.log,
      counters: this.counters,
      installed: () => {
        this.compactor.installed();
      },
      ownEpochCut: (epoch, cut) => {
        this.rebaser.ownEpochCut(epoch, cut);
      },
    };
  }

  // ---- receiving ------------------------------------------------------------------------

  private receive(items: readonly VerifiedEvent[]): Promise<void> {
    let last: Promise<void> = Promise.resolve();
    for (const { event, envelope } of items) {
      last = this.queue.push({ kind: 'remote', event, envelope });
      // Only the last push is returned: the others, if the agent stops, must not reject unhandled.
      last.catch(() => undefined);
    }
    return last;
  }

  // ---- heartbeats, stability and compaction ---------------------------------------------

  /** Every peer id that shows a member: member records, heartbeat senders, clock origins. */
  private memberCandidates(): string[] {
    const ids = new Set<string>(this.heartbeats.heardFrom().keys());
    for (const id of this.rebaser.formerMembers()) ids.add(id);
    for (const origin of this.replica.clock().keys()) ids.add(peerOfOrigin(origin));
    const value: unknown = this.replica.read('aw-set', MEMBERS_KEY)?.value;
    if (Array.isArray(value))
      for (const r of value as unknown[]) {
        const id = (r as { id?: unknown }).id;
        if (typeof id === 'string') ids.add(id);
      }
    return [...ids];
  }

  /**
   * The owner's periodic work: emit the highest wire version every member supports (members
   * not heard from count as the oldest), reap what is due, then snapshot and compact once the
   * log grew enough.
   */
  private maintain(): void {
    const members = this.compactor.members();
    const version = this.heartbeats.emitVersion(members);
    if (version !== this.replica.eventWireVersion) {
      this.log.info(
        { from: this.replica.eventWireVersion, to: version },
        'events now go out in another wire version',
      );
      this.replica.setWireVersion(version);
    }
    try {
      this.compactor.step();
      this.rebaser.check();
    } catch (e) {
      this.log.error({ err: e }, 'compaction failed');
    }
  }

  /**
   * Removes a member that will not come back (an operator's decision, `smac members
   * force-leave`): compaction stops waiting for it. False if no such member is known.
   */
  forceLeave(peerId: string): boolean {
    return this.compactor.forceLeave(peerId);
  }
}

export function parsePeerId(s: string): PeerId {
  return peerIdFromString(s);
}
