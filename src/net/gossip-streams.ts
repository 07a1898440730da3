/**
 * Re-opens gossipsub outbound streams that died while their connection lives (docs/chaos.md:
 * heartbeats between two connected agents stopped for 23 and 28 s after a split).
 *
 * Gossipsub (@libp2p/gossipsub 17) writes to a peer over one outbound stream. When that stream
 * closes (a reset, or its write buffer passing `maxOutboundBufferSize` while the peer was paused)
 * gossipsub forgets the stream but keeps the peer, its subscriptions and its mesh slot, and opens
 * a new outbound stream only when a connection to the peer opens or the peer opens a new inbound
 * stream to us. Until then every publish to the peer is dropped in silence: heartbeats (so
 * stability and reaping see the peer's view of us age) and events (left to anti-entropy).
 *
 * So every heartbeat interval the agent calls `check()`: a peer gossipsub tracks, with an open
 * connection and no outbound stream at two checks in a row (one may be on its way: gossipsub
 * creates them one at a time), gets one re-opened on that connection, the way gossipsub itself
 * does for a new connection (its topology callback `onPeerConnected`, which queues the stream).
 * A peer whose stream still does not come back is tried again after 2, 4, ... 32 checks.
 * `check()` also names the peers whose stream came back since the last check, so that the
 * agent re-sends its heartbeat at once (an unchanged beat would otherwise wait for its refresh).
 */
import type { GossipSub } from '@libp2p/gossipsub';
import type { Connection, PeerId } from '@libp2p/interface';
import type { Logger } from 'pino';

/** Checks in a row a stream must be missing before it is re-opened. */
const MISSES_BEFORE_REOPEN = 2;
/** Longest wait, in checks, between two attempts for one peer. */
const MAX_BACKOFF_CHECKS = 32;

export interface GossipStreamsDeps {
  readonly pubsub: GossipSub;
  /** Open connections (libp2p's `getConnections()`). */
  readonly connections: () => readonly Connection[];
  readonly log: Pick<Logger, 'info' | 'debug' | 'warn'>;
  /** Counts each re-open attempt. */
  readonly counters: { gossipStreamsReopened: number };
}

interface Missing {
  misses: number;
  attempts: number;
  /** Checks to wait before the next attempt. */
  wait: number;
}

/**
 * What this reads of gossipsub: public fields of its class (not of the GossipSub interface it is
 * typed by), and its own way to open an outbound stream to a connected peer (private in its
 * types). test/agent/gossip-outbound.test.ts runs it against the real gossipsub.
 */
interface GossipsubInternals {
  /** Peers that speak gossipsub with us (a connection or an inbound stream). */
  readonly peers: ReadonlyMap<string, PeerId>;
  /** Our outbound stream to each peer, while it lives. */
  readonly streamsOutbound: ReadonlyMap<string, unknown>;
  readonly onPeerConnected?: (peerId: PeerId, connection: Connection) => void;
}

export class GossipStreams {
  private readonly missing = new Map<string, Missing>();
  private warnedUnsupported = false;

  constructor(private readonly d: GossipStreamsDeps) {}

  /** One check (every heartbeat interval). Returns the peers whose stream came back since the last. */
  check(): string[] {
    const pubsub = this.d.pubsub as unknown as GossipsubInternals;
    const open = new Map<string, Connection>();
    for (const c of this.d.connections()) {
      const id = c.remotePeer.toString();
      if (c.status === 'open' && !open.has(id)) open.set(id, c);
    }
    const restored: string[] = [];
    for (const [id, m] of this.missing) {
      if (pubsub.streamsOutbound.has(id) || !open.has(id) || !pubsub.peers.has(id)) {
        this.missing.delete(id);
        if (m.attempts > 0 && pubsub.streamsOutbound.has(id)) restored.push(id);
      }
    }
    for (const [id, connection] of open) {
      if (!pubsub.peers.has(id) || pubsub.streamsOutbound.has(id)) continue;
      const m = this.missing.get(id) ?? { misses: 0, attempts: 0, wait: MISSES_BEFORE_REOPEN };
      this.missing.set(id, m);
      if (++m.misses < m.wait) continue;
      m.misses = 0;
      m.attempts++;
      m.wait = Math.min(MAX_BACKOFF_CHECKS, MISSES_BEFORE_REOPEN * 2 ** m.attempts);
      this.reopen(id, connection, m.attempts);
    }
    return restored;
  }

  private reopen(id: string, connection: Connection, attempt: number): void {
    const open = (this.d.pubsub as unknown as GossipsubInternals).onPeerConnected;
    if (typeof open !== 'function') {
      if (!this.warnedUnsupported)
        this.d.log.warn(
          { peer: id },
          'a gossip outbound stream died and this gossipsub version offers no way to re-open it; anti-entropy carries events, heartbeats stay lost until the peer reconnects',
        );
      this.warnedUnsupported = true;
      return;
    }
    this.d.counters.gossipStreamsReopened++;
    const log = attempt === 1 ? this.d.log.info.bind(this.d.log) : this.d.log.debug.bind(this.d.log);
    log({ peer: id, attempt }, 'gossip had no outbound stream to a connected peer: re-opening it');
    open.call(this.d.pubsub, connection.remotePeer, connection);
  }
}
