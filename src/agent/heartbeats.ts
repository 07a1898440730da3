/**
 * Heartbeats and peer exchange (DESIGN.md "Membership and health"; src/agent/heartbeat.ts has
 * the wire format). Every heartbeat interval the agent publishes its delivered clock, region,
 * some of its peers and the event wire versions it supports; from each heartbeat received it
 * learns what stability needs (the sender's clock and the members it knows first-hand, fed to
 * the stability view), which version
 * the cluster can take (src/agent/versions.ts), whom to dial (peer exchange) and whether gossip
 * lost events it should pull now.
 *
 * Gossip callbacks never touch replica state here: they record what a peer said, and ask the
 * agent (through `onBehind`) to pull; only the owner mutates the replica.
 */
import type { PeerId } from '@libp2p/interface';
import { peerIdFromString } from '@libp2p/peer-id';
import type { Logger } from 'pino';
import { type ReadonlyVectorClock, type VectorClock, vcGet, vcLeq } from '../core/clock/vector-clock.js';
import { LOCAL_PROTOCOL, type ProtocolRange } from '../core/wire-version.js';
import type { HeartbeatGossip, HeartbeatGossipCounters } from '../net/gossip.js';
import type { HeartbeatDirect, HeartbeatDirectCounters } from './heartbeat-direct.js';
import type { SmacNode } from '../net/node.js';
import { decodeHeartbeat, encodeHeartbeat, type KnownPeer, MAX_EXCHANGED_PEERS } from './heartbeat.js';
import type { StabilityView } from './stability-view.js';
import { WireVersions } from './versions.js';

/** What the last heartbeat of a peer said. */
export interface HeardFrom {
  readonly at: number;
  readonly region: string;
  readonly vc: VectorClock;
  readonly leaving: boolean;
}

export interface HeartbeatsDeps {
  readonly self: string;
  readonly region: string;
  readonly node: SmacNode;
  readonly gossip: HeartbeatGossip;
  /**
   * Beats on direct streams (heartbeat-direct.ts) to the peers that speak them; gossip then
   * carries them only to peers of older builds. Without it every beat goes by gossip.
   */
  readonly direct?: HeartbeatDirect;
  readonly log: Logger;
  readonly now: () => number;
  /** Our delivered clock (read, never changed). */
  readonly clock: () => ReadonlyVectorClock;
  /**
   * The clock our heartbeats carry (default `clock`): without retired epochs once every member
   * reads that (src/core/retired-epochs.ts).
   */
  readonly sentClock?: () => ReadonlyVectorClock;
  /** A received clock with the retired epochs its sender pruned counted at their cut. */
  readonly expand?: (vc: VectorClock) => VectorClock;
  /** Events waiting in the causal buffer. */
  readonly buffered: () => number;
  readonly isolated: () => boolean;
  readonly view: StabilityView;
  /** The members we know first-hand (StabilityView `firstHandMembers`), named in heartbeats. */
  readonly members: () => readonly string[];
  readonly counters: { heartbeatsReceived: number; badHeartbeats: number; refusedPeers: number };
  /** The peer had events we lack a heartbeat ago: gossip lost them, pull now. */
  readonly onBehind: (peer: PeerId) => void;
  /** The range this build advertises (tests pose as other releases). */
  readonly protocol?: ProtocolRange;
  /**
   * Longest time between two beats while nothing changes, given the members we know (default:
   * 0, every `send` publishes). A beat whose content and subscribers equal the last one's is
   * skipped until then, except the one right after a change (see `send`).
   */
  readonly refreshMs?: (members: number) => number;
}

/**
 * How long an unchanged heartbeat may be skipped in a cluster of `members`: ten intervals
 * (10 s by default), or one interval per member in a larger cluster, so that the whole
 * cluster refreshes about once an interval however large it is (each agent receives every
 * beat); and always within `reapAfterMs` / 4, so that a silent but live member never looks
 * gone for long.
 */
export function heartbeatRefreshMs(intervalMs: number, reapAfterMs: number, members = 1): number {
  const beats = Math.max(10, members);
  return Math.max(intervalMs, Math.min(beats * intervalMs, Math.floor(reapAfterMs / 4)));
}

/** A heartbeat that only refreshes names the sender's peers at most this often. */
const PEERS_REFRESH_MS = 60_000;

/** Peer exchange dials one peer at most this often. */
const MEET_SPACING_MS = 5_000;

export class Heartbeats {
  readonly versions: WireVersions;
  private readonly heard = new Map<string, HeardFrom>();
  private readonly lastMeet = new Map<string, number>();
  private readonly protocol: ProtocolRange;
  /** What the last beat published said and whom it could reach, to skip unchanged beats. */
  private last: { key: string; at: number; echoed: boolean } | undefined;
  private sendCounters = { published: 0, skipped: 0 };
  private peersSentAt = -Infinity;

  constructor(private readonly d: HeartbeatsDeps) {
    this.protocol = d.protocol ?? LOCAL_PROTOCOL;
    this.versions = new WireVersions(d.log, this.protocol);
  }

  async start(): Promise<void> {
    this.d.gossip.start();
    await this.d.direct?.start();
  }

  /** Stops both paths; a beat still queued on a direct stream gets a moment to go out. */
  async stop(): Promise<void> {
    this.d.gossip.stop();
    await this.d.direct?.stop();
  }

  /** Peers heard from, with what their last heartbeat said. */
  heardFrom(): ReadonlyMap<string, HeardFrom> {
    return this.heard;
  }

  /** True for a peer refused for an incompatible protocol (the connection gater drops it). */
  isRefused(peer: string): boolean {
    return this.versions.isRefused(peer);
  }

  /** What each path carried: gossip (older builds, or no direct path) and direct streams. */
  pathStats(): { gossip: HeartbeatGossipCounters; direct: HeartbeatDirectCounters | undefined } {
    return { gossip: this.d.gossip.counters(), direct: this.d.direct?.counters() };
  }

  /** Beats published and beats skipped because nothing had changed. */
  sendStats(): { published: number; skipped: number } {
    return { ...this.sendCounters };
  }

  /**
   * Sends our heartbeat (best effort: a lost one is followed by the next), unless it would say
   * what the last one said to the same peers and `refreshMs` has not passed. An idle cluster
   * then beats once per `refreshMs` instead of once per interval (issue 8): each beat carries a
   * whole clock and member list, and every member receives every member's beats. The beat
   * after a change goes out even if unchanged: a receiver that lacks events the changed beat
   * showed learns from it that gossip lost them and pulls (see `receive`).
   *
   * Peers that speak direct beats get them on their streams (a reference to the beat they
   * have while nothing changed, and the whole beat at once when they lack it: a new peer, a
   * new stream); gossip carries beats only to the other subscribers (older builds), or to
   * all of them when there is no direct path. Resolves once the beat is handed off.
   */
  send(leaving: boolean): Promise<void> {
    const vc = (this.d.sentClock ?? this.d.clock)();
    const members = this.d.members();
    return Promise.all([this.knownPeers(), this.d.direct?.targets() ?? Promise.resolve([])])
      .then(([peers, direct]) => {
        const hb = {
          vc: new Map(vc),
          region: this.d.region,
          leaving,
          peers,
          protocol: this.protocol,
          members,
        };
        const bytes = encodeHeartbeat(hb);
        const bare = encodeHeartbeat({ ...hb, peers: [] });
        const now = this.d.now();
        const directSet = new Set(direct);
        const legacy = this.d.gossip
          .subscribers()
          .map((p) => p.toString())
          .filter((id) => !directSet.has(id))
          .sort();
        const key = `${legacy.join(',')}\n${new TextDecoder().decode(bytes)}`;
        const last = this.last;
        const same = last?.key === key;
        const refresh = !leaving && same && last.echoed;
        const audience = Math.max(members.length, legacy.length + direct.length) + 1;
        const refreshMs = this.d.refreshMs?.(audience) ?? 0;
        const due = !(refresh && now - last.at < refreshMs);
        if (this.d.direct) {
          const text = new TextDecoder();
          const beat = {
            withPeers: bytes,
            bare,
            contentKey: text.decode(bare),
            peersKey: peers.map((p) => `${p.id}=${p.addrs.join(' ')}`).join(','),
          };
          this.d.direct.send(beat, direct, due);
        }
        if (!due) {
          this.sendCounters.skipped++;
          return;
        }
        this.last = { key, at: now, echoed: same };
        this.sendCounters.published++;
        if (this.d.direct && legacy.length === 0) return;
        // A refresh names our peers only now and then: they are for meeting peers, and every
        // change of them goes out in a beat of its own (and its echo).
        const withPeers = !refresh || now - this.peersSentAt >= PEERS_REFRESH_MS;
        if (withPeers) this.peersSentAt = now;
        return this.d.gossip.publish(withPeers ? bytes : bare).then(() => undefined);
      })
      .catch(() => undefined);
  }

  /** A heartbeat from `from`, as gossip delivered it: untrusted bytes. */
  receive(bytes: Uint8Array, from: PeerId): void {
    const hb = decodeHeartbeat(bytes);
    if (!hb) {
      this.d.counters.badHeartbeats++;
      return;
    }
    const id = from.toString();
    if (!this.versions.heard(id, hb.protocol)) {
      this.refuse(from);
      return;
    }
    this.d.counters.heartbeatsReceived++;
    const now = this.d.now();
    const previous = this.heard.get(id);
    const vc = this.d.expand ? this.d.expand(hb.vc) : hb.vc;
    this.heard.set(id, { at: now, region: hb.region, vc, leaving: hb.leaving });
    const mine = this.d.clock();
    this.d.view.heartbeat(id, vc, hb.leaving, mine, now, hb.members);
    if (hb.leaving) {
      this.versions.forget(id);
      return;
    }
    this.meet(hb.peers);
    // The peer had, a heartbeat ago, events we still lack: gossip lost them, so repair now
    // rather than at the next anti-entropy round. (Merely being behind the latest heartbeat
    // is normal under load: gossip is on its way, and pulling it again would double the work.)
    if (previous && !vcLeq(previous.vc, mine) && this.d.buffered() === 0) this.d.onBehind(from);
  }

  /** The event wire version to emit, given the members stability waits for. */
  emitVersion(members: Iterable<string>): number {
    return this.versions.emitVersion(members);
  }

  /** Events we have that `peer`'s last heartbeat did not cover, or undefined if never heard. */
  lag(peer: string): number | undefined {
    const h = this.heard.get(peer);
    return h ? lagBehind(this.d.clock(), h.vc) : undefined;
  }

  /** A peer of another protocol: counted once per refusal, its connections closed. */
  private refuse(peer: PeerId): void {
    this.d.counters.refusedPeers++;
    this.heard.delete(peer.toString());
    for (const c of this.d.node.getConnections(peer)) void c.close().catch(() => undefined);
  }

  /** Connected peers and the listen addresses identify told us: what we offer for peer exchange. */
  private async knownPeers(): Promise<KnownPeer[]> {
    // Sorted, so that the same peers give the same beat (an unchanged beat may be skipped).
    const byId = new Map(this.d.node.getConnections().map((c) => [c.remotePeer.toString(), c.remotePeer]));
    const ids = [...byId]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .slice(0, MAX_EXCHANGED_PEERS)
      .map(([, id]) => id);
    const out: KnownPeer[] = [];
    for (const id of ids) {
      try {
        const p = await this.d.node.peerStore.get(id);
        out.push({ id: id.toString(), addrs: p.addresses.map((a) => a.multiaddr.toString()) });
      } catch {
        // not in the peer store (yet): nothing to offer
      }
    }
    return out;
  }

  /**
   * Peer exchange: dial peers a member knows and we are not connected to. Only the lower peer
   * id of a pair dials (one connection per pair); attempts per peer are spaced out.
   */
  private meet(peers: readonly KnownPeer[]): void {
    if (this.d.isolated()) return;
    const connected = new Set(this.d.node.getConnections().map((c) => c.remotePeer.toString()));
    const now = this.d.now();
    for (const p of peers) {
      if (p.id === this.d.self || connected.has(p.id) || this.d.self > p.id || p.addrs.length === 0) continue;
      if (this.versions.isRefused(p.id)) continue;
      if (now - (this.lastMeet.get(p.id) ?? 0) < MEET_SPACING_MS) continue;
      this.lastMeet.set(p.id, now);
      void (async () => {
        const { multiaddr } = await import('@multiformats/multiaddr');
        const id = peerIdFromString(p.id);
        await this.d.node.peerStore.merge(id, { multiaddrs: p.addrs.map((a) => multiaddr(a)) });
        await this.d.node.dial(id, { signal: AbortSignal.timeout(5_000) });
      })().catch((e: unknown) => {
        this.d.log.debug({ peer: p.id, err: e }, 'peer exchange dial failed');
      });
    }
  }
}

/** Events we have that `theirs` does not cover. */
export function lagBehind(mine: ReadonlyVectorClock, theirs: ReadonlyVectorClock): number {
  let n = 0;
  for (const [id, seq] of mine) n += Math.max(0, seq - vcGet(theirs, id));
  return n;
}
