/**
 * The running agent's parts and the work they share: the base of `Agent` (agent.ts, the public
 * face and the start), onto which agent-wiring.ts builds the subsystems and starts them. It
 * holds the resources (store, node, replica), the subsystems once started and the lifecycle
 * flags, and does what several parts call for: writing through the owner queue, receiving
 * events, the clock sent on the wire, installing a peer's snapshot, reading who is a member,
 * the owner's periodic upkeep, handing our events over, and the ordered shutdown.
 *
 * Its members are public for the agent's own modules (agent-wiring.ts); code outside
 * src/agent uses the Agent's documented methods.
 */
import type { PeerId, PrivateKey } from '@libp2p/interface';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import type { Logger } from 'pino';
import type { VectorClock } from '../core/clock/vector-clock.js';
import { peerOfOrigin } from '../core/origin.js';
import type { Replica } from '../core/replica.js';
import { PRUNED_CLOCKS_WIRE_VERSION, type ProtocolRange } from '../core/wire-version.js';
import type { EventGossip, VerifiedEvent } from '../net/gossip.js';
import type { GossipGap } from './gossip-gap.js';
import type { GossipStreams } from '../net/gossip-streams.js';
import type { Joiner } from '../net/join.js';
import type { SmacNode } from '../net/node.js';
import { type PeerSnapshotInput, SnapshotRefusal, SnapshotRefused } from '../net/snapshot-proof.js';
import type { SyncService } from '../net/sync-protocol.js';
import type { Discovery } from '../services/discovery.js';
import type { LoadMonitor } from '../services/load.js';
import type { Store } from '../store/store.js';
import type { AntiEntropy } from './anti-entropy.js';
import type { Compactor } from './compaction.js';
import type { AgentConfig } from './config.js';
import { markCleanShutdown } from './epoch.js';
import { handOver } from './hand-over.js';
import type { Heartbeats } from './heartbeats.js';
import { MEMBERS_KEY, type Membership } from './membership.js';
import type { OwnerQueue } from './owner-queue.js';
import type { Rebaser } from './rebase.js';
import type { ChangeNotice, OwnerInput, WriteResult } from './owner.js';
import { installPeerSnapshot, provenClock, type SnapshotExchangeDeps } from './snapshot-exchange.js';
import type { PullTrigger } from './pull-log.js';
import { snapshotSourceRefusal, type SnapshotSourceView } from './snapshot-source.js';
import { type AgentCounters, newCounters } from './status.js';

/** Whom the connection gater refuses: everyone while isolated, and peers of another protocol. */
export interface PeerGate {
  isolated: boolean;
  /** `inbound`: a connection the peer opened (see PeerRefusals.denies). */
  refused: (peerId: string, inbound: boolean) => boolean;
}

/** How long a leaving agent tries to hand its events over to each peer (hand-over.ts). */
const HAND_OVER_TIMEOUT_MS = 2_000;
/** Store metadata: the highest incarnation we announced (recoveredIncarnation). */
const INCARNATION_KEY = 'incarnation';

export class AgentStoppedError extends Error {
  override readonly name = 'AgentStoppedError';
  readonly code = 'AGENT_STOPPED';
}

export class AgentRuntime {
  readonly peerId: string;
  /** The owner's input queue, the compactor and the rebaser: built by the Agent's constructor. */
  queue!: OwnerQueue<OwnerInput>;
  compactor!: Compactor;
  rebaser!: Rebaser;
  readonly listeners = new Set<(c: ChangeNotice) => void>();
  readonly timers: NodeJS.Timeout[] = [];
  readonly counters: AgentCounters = newCounters();
  stopping = false;
  private stopped: Promise<void> | undefined;
  gossip: EventGossip | undefined;
  /** Pushes new events to connected members gossip does not reach yet (gossip-gap.ts). */
  gossipGap: GossipGap | undefined;
  /** Re-opens gossip outbound streams that died while their connection lives. */
  gossipStreams!: GossipStreams;
  membership!: Membership;
  discovery!: Discovery;
  loadMonitor!: LoadMonitor;
  runChecks = true;
  /** Peers reached through a join address: a new joiner's first snapshot comes from one. */
  readonly joinPeers = new Set<string>();
  protocol: ProtocolRange | undefined;
  heartbeats!: Heartbeats;
  sync!: SyncService;
  antiEntropy!: AntiEntropy;
  joiner!: Joiner;

  protected constructor(
    readonly config: AgentConfig,
    readonly log: Logger,
    readonly now: () => number,
    readonly privateKey: PrivateKey,
    readonly store: Store,
    public replica: Replica,
    readonly node: SmacNode,
    readonly isolation: PeerGate,
  ) {
    this.peerId = peerIdFromPrivateKey(privateKey).toString();
  }

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

  receive(items: readonly VerifiedEvent[]): Promise<void> {
    let last: Promise<void> = Promise.resolve();
    for (const { event, envelope } of items) {
      last = this.queue.push({ kind: 'remote', event, envelope });
      // Only the last push is returned: the others, if the agent stops, must not reject unhandled.
      last.catch(() => undefined);
    }
    return last;
  }

  addresses(): string[] {
    return this.node.getMultiaddrs().map((a) => a.toString());
  }

  connectedPeers(): string[] {
    return [...new Set(this.node.getConnections().map((c) => c.remotePeer.toString()))];
  }

  /**
   * Pulls what `peer` has and we lack (anti-entropy.ts); installs its snapshot first when we
   * are behind its log. Skipped while a pull from it runs, every pull slot is taken, or its
   * last pull stalled or failed a moment ago.
   */
  syncWith(peer: PeerId, why: PullTrigger = 'manual'): Promise<void> {
    return this.antiEntropy.trigger(peer, why);
  }

  /** Runs `fn` every `ms` until the agent stops; the timer does not keep the process alive. */
  every(ms: number, fn: () => void): void {
    const t = setInterval(() => {
      if (!this.stopping) fn();
    }, ms);
    t.unref();
    this.timers.push(t);
  }

  /** Read through a getter so that checks after an await are not narrowed away. */
  get halted(): boolean {
    return this.stopping;
  }

  /** Whether clocks we send leave out retired epochs: once every member reads that (v4). */
  prunes(): boolean {
    return this.replica.eventWireVersion >= PRUNED_CLOCKS_WIRE_VERSION;
  }

  /** The clock our heartbeats and sync requests carry (src/core/retired-epochs.ts). */
  wireClock(): VectorClock {
    return this.prunes() ? this.replica.shownClock() : this.replica.clock();
  }

  // ---- the owner ------------------------------------------------------------------------

  /** Installs a peer's snapshot (the owner's 'install' input), if its sender may give us one. */
  install(snapshot: PeerSnapshotInput, from: string, keepNewer: boolean): boolean {
    const why = snapshotSourceRefusal(from, { ...this.sourceView(), claims: () => provenClock(snapshot) });
    if (why !== undefined) {
      this.counters.rejectedSnapshots++;
      this.log.warn({ peer: from, code: SnapshotRefusal.Untrusted }, `refused a snapshot: ${why}`);
      throw new SnapshotRefused(SnapshotRefusal.Untrusted, `Refused a snapshot: ${why}.`, { peer: from });
    }
    // A diverged peer that merges, as we do (heartbeats.ts): its snapshot is merged if needed.
    const merge = this.heartbeats.refusals.mayMerge(from) ? { merge: from } : {};
    return installPeerSnapshot(this.snapshotDeps(), snapshot, { keepNewer, nowMs: this.now(), ...merge });
  }

  /** What decides whom we take snapshots from (snapshot-source.ts), but the snapshot's clock. */
  sourceView(): SnapshotSourceView {
    return {
      self: this.peerId,
      origins: this.replica.clock().keys(),
      joins: this.config.join.length > 0,
      joinPeers: this.joinPeers,
      // A diverged peer that both of us merge is taken as a member (heartbeats.ts, docs/agent.md
      // "Divergence"): merging its state is the point of accepting it.
      isMember: (id) => this.isMember(id) || this.heartbeats.refusals.mayMerge(id),
      reaped: (id) => (this.compactor.view.retirements()[id]?.reason ?? 'left') !== 'left',
      reapOf: (epoch) => this.replica.reapOf(epoch),
    };
  }

  snapshotDeps(): SnapshotExchangeDeps {
    return {
      replica: this.replica,
      store: this.store,
      log: this.log,
      counters: this.counters,
      installed: () => {
        this.compactor.installed();
      },
      ownEpochCut: (epoch, cut, side) => {
        this.rebaser.ownEpochCut(epoch, cut, side);
      },
      foreignEpochCut: (epoch, cut, side, also) => {
        this.rebaser.foreignEpochCut(epoch, cut, side, also);
      },
      forgotten: (peer) => this.compactor.forgotten.has(peer),
      rebasingFrom: () => this.rebaser.rebasingFrom(),
      merged: (peer) => {
        this.heartbeats.refusals.merged(peer);
      },
    };
  }

  // ---- members, by what the replica holds ----------------------------------------------

  /** A member by what the replica holds (its signed record or events), not left or reaped. */
  isMember(peer: string): boolean {
    // A rebase emptied the store: the members we knew before it, and those that agreed the cut
    // (held reaped here if our side lost a mutual reap; rebase.ts).
    if (this.rebaser.formerMembers().has(peer)) return true;
    if (this.compactor.view.isRetired(peer)) return false;
    for (const origin of this.replica.clock().keys()) if (peerOfOrigin(origin) === peer) return true;
    const value: unknown = this.replica.read('aw-set', MEMBERS_KEY)?.value;
    return Array.isArray(value) && value.some((r) => (r as { id?: unknown }).id === peer);
  }

  /**
   * Whether `peer` is known here as part of our cluster (src/core/divergence.ts, condition 1):
   * a member candidate, retired (left, reaped, force-left), or named by a member's heartbeat.
   */
  knows(peer: string): boolean {
    const view = this.compactor.view;
    return view.isRetired(peer) || view.named(peer) || this.memberCandidates().includes(peer);
  }

  /** Every peer id that shows a member: member records, heartbeat senders, clock origins. */
  memberCandidates(): string[] {
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
   * The highest incarnation we used, if any: the one saved in the store's metadata
   * (saveIncarnation), or our own record in the replicated member set, whichever is higher.
   * The record alone is not enough: peers that held us dead or left removed it, and the
   * removal may have reached our store before we stopped.
   */
  recoveredIncarnation(): number | undefined {
    let max = this.savedIncarnation();
    const value: unknown = this.replica.read('aw-set', MEMBERS_KEY)?.value;
    if (Array.isArray(value)) {
      for (const r of value as unknown[]) {
        const rec = r as { id?: unknown; incarnation?: unknown };
        if (rec.id === this.peerId && typeof rec.incarnation === 'number')
          max = Math.max(max ?? 0, rec.incarnation);
      }
    }
    return max;
  }

  /** Saves (synced) an incarnation we announce, before we announce it. */
  saveIncarnation(incarnation: number): void {
    if (incarnation > (this.savedIncarnation() ?? -1))
      this.store.setMetaSynced(INCARNATION_KEY, String(incarnation));
  }

  private savedIncarnation(): number | undefined {
    const saved = Number(this.store.getMeta(INCARNATION_KEY));
    return Number.isSafeInteger(saved) && saved >= 0 ? saved : undefined;
  }

  // ---- the owner's upkeep ---------------------------------------------------------------

  /**
   * The owner's periodic work: emit the highest wire version every member supports (members
   * not heard from count as the oldest), reap what is due, then snapshot and compact once the
   * log grew enough.
   */
  maintain(): void {
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

  // ---- leaving ----------------------------------------------------------------------------

  /** Pushes our events of origin `self` up to `clock`'s entry to every connected peer (hand-over.ts). */
  async handOver(self: string, clock: VectorClock): Promise<void> {
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

  /** Leaves gracefully: last heartbeat, pending writes committed, then everything closed. */
  stop(): Promise<void> {
    this.stopped ??= this.shutdown();
    return this.stopped;
  }

  private async shutdown(): Promise<void> {
    this.stopping = true;
    for (const t of this.timers) clearInterval(t);
    await this.discovery.stop().catch(() => undefined);
    await this.membership.leave(2 * this.membership.config.probeIntervalMs).catch(() => undefined);
    await this.membership.stop();
    this.queue.close();
    await this.handOver(this.replica.id, this.replica.clock());
    // Best effort (never rejects): peers that miss it notice by the missing heartbeats.
    await this.heartbeats.send(true);
    this.joiner.stop();
    this.gossip?.stop();
    await this.heartbeats.stop();
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
}
