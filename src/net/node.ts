/**
 * The agent's libp2p node (DESIGN.md "Architecture": src/net; "Security"; "Discovery"): TCP,
 * noise encryption, yamux multiplexing, identify, ping, gossipsub, optional mDNS, and a pnet
 * pre-shared key when the cluster is private. Every setting that departs from libp2p's
 * defaults is here, with its reason; docs/networking.md explains them for operators.
 *
 * libp2p 3 does not dial the peers it discovers. The node does, with a tie-break so that each
 * pair ends up with one connection: only the side with the lower peer id dials. The higher
 * side dials too, but only when it has seen the peer for `tieBreakGraceMs` without a
 * connection forming, which covers one-sided discovery (a lost mDNS answer, a firewall).
 */
import { noise } from '@chainsafe/libp2p-noise';
import { yamux } from '@chainsafe/libp2p-yamux';
import { gossipsub, type GossipSub, type GossipsubOpts, StrictNoSign } from '@libp2p/gossipsub';
import { identify, type Identify } from '@libp2p/identify';
import {
  type ConnectionGater,
  KEEP_ALIVE,
  type Libp2p,
  type PeerDiscovery,
  type PeerId,
  type PeerInfo,
  type PrivateKey,
} from '@libp2p/interface';
import { peerIdFromString } from '@libp2p/peer-id';
import { ping, type Ping } from '@libp2p/ping';
import { preSharedKey } from '@libp2p/pnet';
import { tcp } from '@libp2p/tcp';
import { createLibp2p, type Libp2pOptions, type ServiceFactoryMap } from 'libp2p';
import { parseClusterKey } from './cluster-key.js';
import { NetErrorCode, netFail } from './errors.js';
import { GOSSIP_MAX_RPC_BYTES, gossipMessageId, TRACKED_TOPICS } from './gossip-wire.js';
import { patchPnetCipher } from './pnet-cipher.js';
import { patchYamuxWindow, yamuxStreamPrototype } from './yamux-window.js';

// pnet's cipher grows its shared memory until the process dies without it (pnet-cipher.ts).
patchPnetCipher();

export { GOSSIP_MAX_MESSAGE_BYTES, GOSSIP_MAX_RPC_BYTES } from './gossip-wire.js';

/** mDNS service name: SMAC agents answer only each other, not every libp2p app on the LAN. */
export const DEFAULT_MDNS_SERVICE_TAG = '_smac._udp.local';

export interface SmacNodeOptions {
  /** The agent's identity (identity.ts). Its peer id is the agent's replica id. */
  privateKey: PrivateKey;
  /** Multiaddrs to listen on, e.g. `/ip4/0.0.0.0/tcp/7946`. */
  listen: readonly string[];
  /** Multiaddrs to advertise instead of the listening ones (behind NAT, in containers). */
  announce?: readonly string[];
  /** Cluster key (cluster-key.ts). Without one the node talks to any libp2p node that dials it. */
  clusterKey?: Uint8Array;
  /** Find peers on the LAN by multicast DNS. Multicasts on every interface. Default false. */
  mdns?: boolean;
  /**
   * How often mDNS asks the LAN (default 5000). Lower finds peers sooner after a start or a
   * partition, at a few hundred bytes of multicast per query per node.
   */
  mdnsIntervalMs?: number;
  /** mDNS service name (default `_smac._udp.local`); separate clusters on one LAN may differ. */
  mdnsServiceTag?: string;
  /**
   * Peer ids allowed to connect, in either direction. Empty or absent: any peer holding the
   * cluster key. A second gate after pnet: a leaked cluster key alone then admits nobody.
   */
  allowPeers?: readonly string[];
  /**
   * Consulted for every dial and connection on top of the allow-list: true refuses the peer.
   * `inbound` is true for a connection the peer opened (after its handshake), false for our
   * dials and outbound connections. The agent uses it to isolate itself (fault injection,
   * maintenance) and to keep refused peers out.
   */
  denyPeer?: (peerId: string, inbound: boolean) => boolean;
  /**
   * Longest a dial may take (default 5000). A peer with a different cluster key makes an
   * outgoing dial hang until this expires, so it is short; a WAN handshake (TCP, pnet,
   * multistream, noise, yamux) takes about five round trips, well under it.
   */
  dialTimeoutMs?: number;
  /** Connections kept before libp2p starts pruning (default 300). */
  maxConnections?: number;
  /**
   * How long the higher peer id of a pair waits for the lower one to dial before it dials
   * itself (default 15000). Shorter heals one-sided discovery sooner; each early dial risks a
   * second connection for the pair.
   */
  tieBreakGraceMs?: number;
  /** Expert overrides for gossipsub, applied last. Every node must keep the wire settings equal. */
  gossipsub?: Partial<GossipsubOpts>;
  /** Start listening at once (default true). */
  start?: boolean;
}

export type SmacServices = {
  identify: Identify;
  ping: Ping;
  pubsub: GossipSub;
  /** Present when the node runs mDNS. */
  mdns?: PeerDiscovery;
};

export type SmacNode = Libp2p<SmacServices>;

const DEFAULTS = {
  mdnsIntervalMs: 5_000,
  dialTimeoutMs: 5_000,
  maxConnections: 300,
  tieBreakGraceMs: 15_000,
};

/** Builds (and by default starts) the agent's libp2p node. */
export async function createSmacNode(opts: SmacNodeOptions): Promise<SmacNode> {
  // Yamux answered every data frame with a window update (yamux-window.ts).
  patchYamuxWindow(yamuxStreamPrototype());
  const dialTimeoutMs = positive(opts.dialTimeoutMs ?? DEFAULTS.dialTimeoutMs, 'dialTimeoutMs');
  const allowed = allowList(opts.allowPeers);
  const services: ServiceFactoryMap<SmacServices> = {
    identify: identify(),
    ping: ping(),
    pubsub: gossipsub(gossipsubOptions(opts.gossipsub)),
  };
  if (opts.mdns === true) {
    // Loaded only when asked for: with it come multicast-dns and dns-packet, which an agent
    // without mDNS would keep in memory for nothing (docs/benchmarks.md "Idle memory").
    const { mdns } = await import('@libp2p/mdns');
    services.mdns = mdns({
      interval: positive(opts.mdnsIntervalMs ?? DEFAULTS.mdnsIntervalMs, 'mdnsIntervalMs'),
      serviceTag: opts.mdnsServiceTag ?? DEFAULT_MDNS_SERVICE_TAG,
    });
  }
  const config: Libp2pOptions<SmacServices> = {
    privateKey: opts.privateKey,
    start: false,
    addresses: {
      listen: [...opts.listen],
      ...(opts.announce && opts.announce.length > 0 ? { announce: [...opts.announce] } : {}),
    },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services,
    // libp2p's connection monitor pings every connection from both ends every 10 s, each time
    // on a new stream (negotiation, ping, close): at N = 10 that was about half of an idle
    // agent's bytes, and it grows with N (docs/benchmarks.md "Idle bytes per protocol"). The
    // failure detector already probes every member; the agent closes the connections of a
    // member it declares dead (src/agent/membership.ts), which is what the monitor's failed
    // pings were for: a connection that went silent in a partition is closed and redialled.
    connectionMonitor: { enabled: false },
    connectionManager: {
      maxConnections: positive(opts.maxConnections ?? DEFAULTS.maxConnections, 'maxConnections'),
      dialTimeout: dialTimeoutMs,
      addressDialTimeout: dialTimeoutMs,
      // The defaults (5 connections per second per IP, 10 pending upgrades) refuse a cluster
      // whose agents share one host or one NAT address and start together.
      inboundConnectionThreshold: 100,
      maxIncomingPendingConnections: 100,
    },
    ...(allowed || opts.denyPeer ? { connectionGater: peerGater(allowed, opts.denyPeer) } : {}),
    ...(opts.clusterKey
      ? { connectionProtector: preSharedKey({ psk: parseClusterKey(opts.clusterKey) }) }
      : {}),
  };
  const node: SmacNode = await createLibp2p(config);
  const dialer = new DiscoveryDialer(node, {
    dialTimeoutMs,
    graceMs: positive(opts.tieBreakGraceMs ?? DEFAULTS.tieBreakGraceMs, 'tieBreakGraceMs'),
    allowed: (id) => allowed?.has(id) ?? true,
  });
  node.addEventListener('peer:discovery', (evt: CustomEvent<PeerInfo>) => {
    dialer.seen(evt.detail.id);
  });
  // mDNS reports a peer at every answer, not just the first time, so a peer that went away
  // and came back is dialed again after libp2p's reconnect queue has given up on it.
  node.services.mdns?.addEventListener('peer', (evt) => {
    dialer.seen(evt.detail.id);
  });
  node.addEventListener('stop', () => {
    dialer.stop();
  });
  if (opts.start ?? true) await node.start();
  return node;
}

function gossipsubOptions(overrides: Partial<GossipsubOpts> | undefined): Partial<GossipsubOpts> {
  return {
    // No gossipsub signatures: event envelopes and heartbeat frames carry their own, and a
    // second signature per message doubled the Ed25519 work (docs/performance.md). Every node
    // must use the same policy; a mix fails silently, which is why the topics changed with it.
    globalSignaturePolicy: StrictNoSign,
    msgIdFn: gossipMessageId,
    // One limit on every node: a bigger RPC would make the receiver drop the sender's session.
    maxInboundDataLength: GOSSIP_MAX_RPC_BYTES,
    // Group commits go out even before any subscription is known; sync repairs what is lost.
    allowPublishToZeroTopicPeers: true,
    // Every agent of a region may share one IP (one host, one NAT); the default penalty
    // graylists them and empties the mesh.
    scoreParams: { IPColocationFactorWeight: 0 },
    // Peers cannot make us track topics SMAC does not use; the legacy ones reveal old builds.
    allowedTopics: [...TRACKED_TOPICS],
    fallbackToFloodsub: false,
    emitSelf: false,
    // No mesh. Agents connect to every member (peer exchange), and a publisher floods each
    // batch to every subscribed peer, so a mesh only added copies: in a three-agent cluster
    // each receiver got every batch twice, the second forwarded by the third agent (and paid
    // for it in encryption, framing and socket writes on both ends, plus IDONTWANTs; about a
    // fifth of a receiver's CPU, docs/performance.md "Duplicate gossip in a full mesh").
    // A peer we are not connected to still gets our batches relayed: every heartbeat each
    // node offers the ids of its recent messages (IHAVE) to the peers outside its mesh, now
    // all of them, and a peer that lacks one asks for it (IWANT).
    D: 0,
    Dlo: 0,
    Dhi: 0,
    Dout: 0,
    Dscore: 0,
    // Those IHAVE lists name every message a node saw in the last `mcacheGossip` heartbeats,
    // to every peer: with the default 3 each id went to each peer three times, a few per cent
    // of a busy agent's CPU. Once is enough to relay to an unconnected peer; sync does the rest.
    mcacheGossip: 1,
    ...overrides,
  };
}

function positive(n: number, name: string): number {
  if (!Number.isFinite(n) || n <= 0) {
    netFail(
      NetErrorCode.InvalidArgument,
      `The node option ${name} must be a positive number of ms or items; got ${n}.`,
    );
  }
  return n;
}

function allowList(ids: readonly string[] | undefined): Set<string> | undefined {
  if (!ids || ids.length === 0) return undefined;
  const out = new Set<string>();
  for (const id of ids) {
    try {
      out.add(peerIdFromString(id).toString());
    } catch (e) {
      netFail(
        NetErrorCode.InvalidArgument,
        `The allow-list entry ${JSON.stringify(id)} is not a libp2p peer id.`,
        {
          cause: e,
        },
      );
    }
  }
  return out;
}

/**
 * Refuses peers outside the allow-list before we dial them and right after the encryption
 * handshake proves who they are (the earliest point an inbound peer's id is known).
 */
function peerGater(
  allowed: ReadonlySet<string> | undefined,
  denyPeer: ((peerId: string, inbound: boolean) => boolean) | undefined,
): ConnectionGater {
  const deny = (peerId: PeerId, inbound: boolean): boolean => {
    const id = peerId.toString();
    return (allowed !== undefined && !allowed.has(id)) || denyPeer?.(id, inbound) === true;
  };
  return {
    denyDialPeer: (p) => deny(p, false),
    denyInboundEncryptedConnection: (p) => deny(p, true),
    denyOutboundEncryptedConnection: (p) => deny(p, false),
  };
}

interface DialerNode {
  readonly peerId: PeerId;
  readonly status: string;
  readonly peerStore: Pick<Libp2p['peerStore'], 'merge'>;
  getConnections(peerId?: PeerId): unknown[];
  dial(peerId: PeerId, options?: { signal?: AbortSignal }): Promise<unknown>;
}

/** Turns discovery sightings into dials, one side per pair (see the module comment). */
export class DiscoveryDialer {
  private readonly dialing = new Set<string>();
  private readonly waiting = new Map<string, NodeJS.Timeout>();

  constructor(
    private readonly node: DialerNode,
    private readonly opts: { dialTimeoutMs: number; graceMs: number; allowed: (id: string) => boolean },
  ) {}

  seen(peerId: PeerId): void {
    const id = peerId.toString();
    const self = this.node.peerId.toString();
    if (id === self || !this.opts.allowed(id) || this.isConnected(peerId) || this.dialing.has(id)) return;
    if (self < id) {
      this.dial(peerId);
      return;
    }
    if (this.waiting.has(id)) return;
    const timer = setTimeout(() => {
      this.waiting.delete(id);
      if (!this.isConnected(peerId)) this.dial(peerId);
    }, this.opts.graceMs);
    timer.unref();
    this.waiting.set(id, timer);
  }

  stop(): void {
    for (const timer of this.waiting.values()) clearTimeout(timer);
    this.waiting.clear();
  }

  private isConnected(peerId: PeerId): boolean {
    return this.node.getConnections(peerId).length > 0;
  }

  private dial(peerId: PeerId): void {
    if (this.node.status !== 'started') return;
    const id = peerId.toString();
    this.dialing.add(id);
    // The dialing side keeps the connection: libp2p redials keep-alive peers when they drop.
    void this.node.peerStore
      .merge(peerId, { tags: { [KEEP_ALIVE]: {} } })
      .then(() => this.node.dial(peerId, { signal: AbortSignal.timeout(this.opts.dialTimeoutMs) }))
      .catch(() => undefined)
      .finally(() => this.dialing.delete(id));
  }
}
