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
 *
 * This file is the agent's public face and its start. The running parts, and the work they
 * share, are in its base class (agent-runtime.ts); agent-wiring.ts builds and starts its
 * subsystems.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { PeerId, PrivateKey } from '@libp2p/interface';
import { peerIdFromPrivateKey, peerIdFromString } from '@libp2p/peer-id';
import type { Logger } from 'pino';
import { type ReadonlyVectorClock, type VectorClock, vcLeq, vcToRecord } from '../core/clock/vector-clock.js';
import type { TypeName } from '../core/crdt/crdt.js';
import type { ObjectView } from '../core/keyspace.js';
import type { MembershipConfig } from '../core/membership/config.js';
import type { MemberView } from '../core/membership/failure-detector.js';
import type { Replica, TouchedObject } from '../core/replica.js';
import type { ProtocolRange } from '../core/wire-version.js';
import { loadClusterKey } from '../net/cluster-key.js';
import { readTrustedEnvelope } from '../net/envelope.js';
import { IDENTITY_FILE_NAME, loadOrCreateIdentity } from '../net/identity.js';
import { createSmacNode, type SmacNode } from '../net/node.js';
import type { Discovery } from '../services/discovery.js';
import type { LoadMonitor } from '../services/load.js';
import { Store } from '../store/store.js';
import { AgentRuntime, type PeerGate } from './agent-runtime.js';
import {
  createCompactor,
  createOwnerQueue,
  createRebaser,
  startJoiner,
  startServices,
} from './agent-wiring.js';
import type { AgentConfig } from './config.js';
import { securePrivateDir, warnIfOpenCluster } from './data-dir.js';
import { commitEpoch, planEpoch } from './epoch.js';
import { createLogger } from './logger.js';
import type { Membership, Transition } from './membership.js';
import type { ChangeNotice } from './owner.js';
import { recoverReplica } from './recovery.js';
import { type AgentStatus, buildStatus } from './status.js';

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
  /**
   * Whether the libp2p node runs mDNS (default `config.mdns`). Tests pose as an agent that
   * finds its peers by mDNS (`config.mdns` on) without multicasting, and connect it by hand.
   */
  readonly mdns?: boolean;
}

export type { ChangeNotice, WriteResult } from './owner.js';

export type { AgentCounters, AgentStatus, PeerStatus } from './status.js';

export { AgentStoppedError } from './agent-runtime.js';

export class Agent extends AgentRuntime {
  private constructor(
    config: AgentConfig,
    log: Logger,
    now: () => number,
    privateKey: PrivateKey,
    store: Store,
    replica: Replica,
    node: SmacNode,
    isolation: PeerGate,
  ) {
    super(config, log, now, privateKey, store, replica, node, isolation);
    this.compactor = createCompactor(this);
    this.rebaser = createRebaser(this);
    this.queue = createOwnerQueue(this);
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
      // Nothing is written to the store before its state is recovered: a store this build
      // cannot read (a newer release's format) is refused exactly as it was found.
      const epoch = planEpoch(store, { peerId, storeSync: config.storeSync, identityExisted });
      const { origin } = epoch;
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
      commitEpoch(store, epoch, log);
      const clusterKey = config.clusterKeyFile ? await loadClusterKey(config.clusterKeyFile) : undefined;
      node = await createSmacNode({
        privateKey,
        listen: config.listen,
        ...(clusterKey ? { clusterKey } : {}),
        mdns: options.mdns ?? config.mdns,
        allowPeers: config.allowPeers,
        denyPeer: (id, inbound) => isolation.isolated || isolation.refused(id, inbound),
      });
      const agent = new Agent(config, log, now, privateKey, store, replica, node, isolation);
      if (options.protocol) agent.protocol = options.protocol;
      agent.runChecks = options.checks ?? true;
      await startServices(agent, { ...config.membership, ...options.membership });
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

  // ---- the public API --------------------------------------------------------------------

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

  /** Calls `fn` after every applied event that changed objects (local or remote). */
  onChange(fn: (c: ChangeNotice) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
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
      startJoiner(this);
    }
  }

  /**
   * Removes a member that will not come back (an operator's decision, `smac members
   * force-leave`): compaction stops waiting for it once every member agrees on the cut. False if
   * no such member is known; throws TooManyForceLeaves (TOO_MANY_FORCE_LEAVES) when
   * MAX_PENDING_FORCE_LEAVES are pending (src/agent/force-leaves.ts).
   */
  forceLeave(peerId: string): boolean {
    return this.compactor.forceLeave(peerId);
  }

  /** Whether a force-leave of `peerId` waits for its reap to be agreed (kept across restarts). */
  forceLeavePending(peerId: string): boolean {
    return this.compactor.forceLeavePending(peerId);
  }

  /**
   * An operator's word that a reaped member will not come back (`smac members forget`): our
   * client batches kept for a re-run against it are pruned at the next compaction. Throws
   * ForgetRefused (NOT_FOUND, MEMBER_NOT_REAPED, TOO_MANY_FORGOTTEN; forgotten-members.ts).
   */
  forget(peerId: string): { peerId: string; at: number } {
    return this.compactor.forget(peerId);
  }
}

export function parsePeerId(s: string): PeerId {
  return peerIdFromString(s);
}
