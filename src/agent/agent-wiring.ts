/**
 * Wiring: builds each subsystem of the agent with the callbacks that connect it to the others
 * and to the runtime (agent-runtime.ts), and starts them in the order they depend on each
 * other: gossip, heartbeats, sync and anti-entropy, the joiner, membership, then the services
 * and the periodic loops.
 */
import { peerIdFromString } from '@libp2p/peer-id';
import { type MembershipConfig, membershipProfile } from '../core/membership/config.js';
import { startIncarnation } from '../core/membership/failure-detector.js';
import { divergedForGood, sharedMembers } from '../core/divergence.js';
import { peerOfOrigin } from '../core/origin.js';
import { PRUNED_CLOCKS_WIRE_VERSION } from '../core/wire-version.js';
import { EventGossip, HeartbeatGossip } from '../net/gossip.js';
import { GossipStreams } from '../net/gossip-streams.js';
import { Joiner } from '../net/join.js';
import { SnapshotRefusal, SnapshotRefused } from '../net/snapshot-proof.js';
import { SyncService } from '../net/sync-protocol.js';
import { Discovery } from '../services/discovery.js';
import type { KeyspaceHost } from '../services/host.js';
import { LoadMonitor } from '../services/load.js';
import type { AgentRuntime } from './agent-runtime.js';
import { AntiEntropy } from './anti-entropy.js';
import { Compactor } from './compaction.js';
import { GossipGap } from './gossip-gap.js';
import { MAX_NAMED_MEMBERS } from './heartbeat.js';
import { HeartbeatDirect } from './heartbeat-direct.js';
import { heartbeatRefreshMs, Heartbeats } from './heartbeats.js';
import { MEMBERS_KEY, Membership } from './membership.js';
import type { OwnerQueue } from './owner-queue.js';
import { Owner, type OwnerInput } from './owner.js';
import { Rebaser } from './rebase.js';
import { servedSnapshot } from './snapshot-exchange.js';
import { streamedSourceRefusal } from './snapshot-source.js';

export function createCompactor(rt: AgentRuntime): Compactor {
  const config = rt.config;
  return new Compactor({
    self: rt.peerId,
    store: rt.store,
    replica: () => rt.replica,
    log: rt.log,
    now: rt.now,
    snapshotEveryEvents: config.snapshotEveryEvents,
    reapAfterMs: config.reapAfterMs,
    maxLogEvents: config.maxLogEvents,
    keepOwnOpsMs: config.keepOwnOpsMs,
    expectsPeers: config.join.length > 0 || config.mdns,
    candidates: () => rt.memberCandidates(),
    isAlive: (id) => (rt.membership as Membership | undefined)?.isAlive(id) ?? false,
    write: (ops) => rt.write(ops, { system: true }),
    counters: rt.counters,
  });
}

/** Pushes new events to connected members gossip does not reach yet (gossip-gap.ts). */
function createGossipGap(rt: AgentRuntime, gossip: EventGossip): GossipGap {
  return new GossipGap({
    connectedPeers: () => rt.node.getConnections().map((c) => c.remotePeer),
    subscribers: () => gossip.subscribers(),
    isMember: (id) => id !== rt.peerId && rt.isMember(id),
    push: (peer, envelopes, signal) => rt.sync.push(peer, envelopes, { signal }),
    halted: () => rt.stopping || rt.isolation.isolated,
    timeoutMs: rt.config.syncStallMs,
    maxPending: 1_000,
    log: rt.log,
  });
}

export function createRebaser(rt: AgentRuntime): Rebaser {
  return new Rebaser({
    peerId: rt.peerId,
    store: rt.store,
    log: rt.log,
    config: { maxDriftMs: rt.config.maxDriftMs },
    replica: () => rt.replica,
    setReplica: (r) => {
      rt.replica = r;
    },
    installed: () => {
      rt.compactor.installed();
    },
    syncOnce: async () => {
      const peers = rt.connectedPeers();
      const peer = peers[Math.floor(Math.random() * peers.length)];
      if (peer) await rt.syncWith(peerIdFromString(peer));
    },
    write: (ops) => rt.write(ops),
    stopping: () => rt.stopping,
    handOver: async (self, upTo) => {
      await rt.handOver(self, new Map([...rt.replica.clock(), [self, upTo]]));
    },
    members: () => rt.memberCandidates().filter((p) => p !== rt.peerId && rt.isMember(p)),
    redeliver: (envelopes) => rt.antiEntropy.receiveRaw(envelopes),
  });
}

/** The one owner of replica state (owner.ts), and the queue every input goes through. */
export function createOwnerQueue(rt: AgentRuntime): OwnerQueue<OwnerInput> {
  return new Owner({
    now: rt.now,
    replica: () => rt.replica,
    store: rt.store,
    log: rt.log,
    privateKey: rt.privateKey,
    counters: rt.counters,
    publish: (envelopes) => {
      rt.gossip?.publish(envelopes).catch((e: unknown) => {
        rt.log.debug({ err: e }, 'gossip publish failed; anti-entropy will carry the events');
      });
      rt.gossipGap?.published(envelopes);
    },
    notify: (notices) => {
      for (const n of notices) for (const fn of rt.listeners) fn(n);
      if (notices.some((n) => n.objects.some((o) => o.key === MEMBERS_KEY && o.type === 'aw-set')))
        rt.membership.membersChanged();
    },
    repair: () => {
      rt.antiEntropy.repair();
    },
    install: (snapshot, from, keepNewer) => rt.install(snapshot, from, keepNewer),
    maintain: () => {
      rt.maintain();
    },
    failStop: () => void rt.stop(),
  }).queue;
}

/**
 * Starts every network-facing subsystem and the periodic loops. `rt` is the agent itself, which
 * the services (discovery, load) also read and write through.
 */
export async function startServices(
  rt: AgentRuntime & KeyspaceHost,
  membershipOverrides: Partial<MembershipConfig>,
): Promise<void> {
  const pubsub = rt.node.services.pubsub;
  if (rt.config.gossip) {
    rt.gossip = new EventGossip({
      pubsub,
      onEvents: (items) => {
        // Events of a peer refused as a member of another cluster are dropped (peer-refusals.ts).
        const kept = items.filter((i) => !rt.heartbeats.refusals.isRefused(peerOfOrigin(i.event.origin)));
        rt.receive(kept).catch(() => undefined); // rejects only when the agent stops
      },
      onReject: (reason, from) => {
        rt.counters.rejectedEvents++;
        rt.log.warn({ reason, from: from.toString() }, 'rejected a gossip batch');
      },
    });
    rt.gossip.start();
    rt.gossipGap = createGossipGap(rt, rt.gossip);
  }
  const beatGossip = new HeartbeatGossip({
    pubsub,
    privateKey: rt.privateKey,
    onHeartbeat: (bytes, from) => {
      rt.heartbeats.receive(bytes, from);
    },
    onLegacyPeer: (peer) => {
      rt.log.warn(
        { peer: peer.toString() },
        'peer runs an older build whose gossip does not reach this one; sync still carries events between us until it is upgraded (docs/networking.md, "Rolling upgrades")',
      );
    },
  });
  rt.heartbeats = new Heartbeats({
    self: rt.peerId,
    region: rt.config.region,
    node: rt.node,
    gossip: beatGossip,
    direct: new HeartbeatDirect({
      node: rt.node,
      log: rt.log,
      gossip: beatGossip,
      onHeartbeat: (bytes, from) => {
        rt.heartbeats.receive(bytes, from);
      },
    }),
    log: rt.log,
    now: rt.now,
    clock: () => rt.replica.clock(),
    sentClock: () => rt.wireClock(),
    expand: (vc) => rt.replica.expandClock(vc),
    buffered: () => rt.replica.stats().buffered,
    isolated: () => rt.isolation.isolated,
    view: rt.compactor.view,
    members: () => rt.compactor.firstHandMembers(),
    counters: rt.counters,
    folded: () => rt.store.compactedClock(),
    judge: (peer, hb, vc) =>
      divergedForGood(
        rt.peerId,
        peer,
        {
          folded: rt.store.compactedClock(),
          vc: rt.replica.clock(),
          members: () => rt.compactor.stabilityMembers(),
          knows: (id) => rt.knows(id),
        },
        {
          folded: hb.folded,
          vc,
          members: hb.members,
          membersComplete: (hb.members?.length ?? 0) < MAX_NAMED_MEMBERS,
        },
      ),
    onRefused: (peer) => {
      rt.compactor.view.forgetStranger(peer);
    },
    merges: rt.config.divergedPeers === 'merge',
    refuseGraceMs: Math.max(3_000, 5 * rt.config.heartbeatIntervalMs),
    onBehind: (peer) => void rt.syncWith(peer, 'heartbeat'),
    ...(rt.protocol ? { protocol: rt.protocol } : {}),
    refreshMs: (members) => heartbeatRefreshMs(rt.config.heartbeatIntervalMs, rt.config.reapAfterMs, members),
  });
  rt.isolation.refused = (id, inbound) => rt.heartbeats.isRefused(id, inbound);
  rt.gossipStreams = new GossipStreams({
    pubsub,
    connections: () => rt.node.getConnections(),
    log: rt.log,
    counters: rt.counters,
  });
  await rt.heartbeats.start();
  rt.sync = new SyncService(rt.node, {
    source: {
      // The compacted clock keeps retired epochs: the snapshot decision reads it as it is.
      header: () => ({ vc: rt.wireClock(), compacted: rt.store.compactedClock() }),
      // A member heard advertising no wire versions runs a release from before signed heads:
      // it gets a snapshot it can read (v1; the heads are what it could not parse).
      snapshot: (peer) =>
        servedSnapshot(rt.snapshotDeps(), {
          proven: !rt.heartbeats.versions.isLegacy(peer.toString()),
          pruned: rt.prunes() && rt.heartbeats.versions.mayRead(peer.toString(), PRUNED_CLOCKS_WIRE_VERSION),
        }),
      envelopesSince: (vc) => rt.antiEntropy.envelopesSince(vc),
      // A requester past a cut we agreed (the other side of a mutual reap, a reaped member
      // back, or a member that joined the losing side) may refuse our events that carry the
      // reaps (the other side's reap of ours, beyond its cut): it learns the cut from our state
      // (snapshot-exchange.ts).
      wantsSnapshot: (vc) =>
        [...vc].some(([origin, seq]) => seq > (rt.replica.reapOf(origin)?.cut ?? Number.POSITIVE_INFINITY)),
    },
    // A refused peer's pushes are taken and dropped (peer-refusals.ts).
    onPush: (envelopes, from) =>
      rt.heartbeats.refusals.isRefused(from.toString()) ? undefined : rt.antiEntropy.receiveRaw(envelopes),
    // A peer that pulls from us exists and holds at least its request's clock: stability
    // waits for it (a joiner we would otherwise know nothing of yet; stability-view.ts).
    readClock: (vc) => rt.replica.expandClock(vc),
    onRequest: (vc, from) => {
      if (rt.heartbeats.refusals.isRefused(from.toString())) return;
      rt.compactor.view.pulled(from.toString(), vc, rt.replica.clock(), rt.now());
    },
    onError: (protocol, peer, error) => {
      rt.log.debug({ protocol, peer: peer.toString(), err: error }, 'sync stream failed');
    },
    // A pulled snapshot's state is built object by object as it arrives (its JSON is never
    // whole), apart from the replica until it is installed (snapshot-exchange.ts).
    snapshotKeyspace: () => rt.replica.keyspaceBuilder(),
  });
  rt.antiEntropy = createAntiEntropy(rt);
  await rt.sync.start();
  startJoiner(rt);
  rt.node.addEventListener('peer:connect', (evt) => {
    const peer = evt.detail;
    // A new connection is a chance to repair whatever was missed while apart (even from a
    // peer whose pull failed across the partition: anti-entropy.ts `connected`). At once (it
    // was 50 ms later: a timer that also waits out the event loop's lag under load, issue 8).
    void rt.antiEntropy.connected(peer);
  });
  rt.membership = new Membership({
    node: rt.node,
    self: {
      id: rt.peerId,
      incarnation: startIncarnation(rt.recoveredIncarnation(), Date.now()),
      meta: {
        region: rt.config.region,
        tags: { ...rt.config.tags },
        addrs: rt.addresses().slice(0, 8),
      },
    },
    config: { ...membershipProfile(rt.config.membershipProfile), ...membershipOverrides },
    log: rt.log,
    write: (ops) => rt.write(ops, { system: true }),
    read: () => rt.replica.read('aw-set', MEMBERS_KEY),
    isolated: () => rt.isolation.isolated,
    saveIncarnation: (n) => {
      rt.saveIncarnation(n);
    },
  });
  await rt.membership.start();
  const membership = rt.membership;
  rt.node.addEventListener('peer:connect', (evt) => {
    membership.connected(evt.detail.toString()); // a member we declared dead: refute now
  });
  rt.discovery = new Discovery({ host: rt, liveness: rt.membership, logger: rt.log });
  if (rt.runChecks) rt.discovery.start();
  rt.loadMonitor = new LoadMonitor({ host: rt, liveness: rt.membership });
  rt.every(rt.config.syncIntervalMs, () => {
    rt.antiEntropy.round();
  });
  rt.every(rt.config.heartbeatIntervalMs, () => {
    // A peer whose gossip stream came back missed our beats: the next one goes out unchanged too.
    if (rt.gossipStreams.check().length > 0) rt.heartbeats.resend();
    void rt.heartbeats.send(false);
    // Compaction and the wire version change replica state: the owner does both.
    rt.queue.push({ kind: 'maintain' }).catch(() => undefined);
  });
  rt.every(Math.min(250, rt.config.syncIntervalMs), () => {
    rt.queue.push({ kind: 'tick' }).catch(() => undefined);
  });
}

function createAntiEntropy(rt: AgentRuntime): AntiEntropy {
  return new AntiEntropy({
    sync: rt.sync,
    store: rt.store,
    log: rt.log,
    counters: rt.counters,
    config: {
      maxConcurrentPulls: rt.config.maxConcurrentPulls,
      stallMs: rt.config.syncStallMs,
      timeoutMs: rt.config.syncTimeoutMs,
      // Heartbeats show which peer has what we lack; in sync, a pull every sixth round.
      inSyncRoundMs: 6 * rt.config.syncIntervalMs,
    },
    now: rt.now,
    clock: () => rt.replica.clock(),
    requestClock: () => rt.wireClock(),
    expand: (vc) => rt.replica.expandClock(vc),
    connectedPeers: () => rt.node.getConnections().map((c) => c.remotePeer),
    peerClock: (id) => rt.heartbeats.heardFrom().get(id)?.vc,
    peerHeardAt: (id) => rt.heartbeats.heardFrom().get(id)?.at,
    refused: (id) => rt.heartbeats.refusals.isRefused(id),
    // A member we and the peer both know may still bring what neither log holds: a pull that
    // ends apart is then no divergence (yet).
    bridged: (id) => {
      const named = rt.heartbeats.heardFrom().get(id)?.members;
      if (named && sharedMembers(rt.peerId, id, rt.compactor.stabilityMembers(), named).length > 0)
        return true;
      return rt.compactor.view.named(id);
    },
    receive: (items) => rt.receive(items),
    install: (snapshot, keepNewer, from) =>
      new Promise<boolean | 'untrusted'>((resolve) => {
        // A refusal resolves false (push first, pull again), unless we take no state from that
        // peer: anti-entropy then looks for one we do (pull-peers.ts).
        const reject = (e: unknown) => {
          resolve(e instanceof SnapshotRefused && e.code === SnapshotRefusal.Untrusted ? 'untrusted' : false);
        };
        rt.queue.push({ kind: 'install', snapshot, keepNewer, from, resolve, reject }).catch(() => {
          resolve(false);
        });
      }),
    snapshotSource: (from, claims) => streamedSourceRefusal(from, rt.sourceView(), claims),
    halted: () => rt.halted,
  });
}

/** Dials the join addresses (with backoff, until connected); called again after isolation. */
export function startJoiner(rt: AgentRuntime): void {
  rt.joiner = new Joiner(rt.node, {
    addresses: rt.config.join,
    onDialError: (address, error) => {
      rt.log.debug({ address, err: error }, 'join dial failed; retrying with backoff');
    },
    onConnected: (address, peer) => {
      rt.joinPeers.add(peer.toString());
      rt.log.info({ address, peer: peer.toString() }, 'joined');
    },
  });
  rt.joiner.start();
}
