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
import {
  decodeHeartbeat,
  encodeHeartbeat,
  type Heartbeat,
  type KnownPeer,
  MAX_EXCHANGED_PEERS,
} from './heartbeat.js';
import { PeerRefusals, type RefusedPeer } from './peer-refusals.js';
import type { StabilityView } from './stability-view.js';
import { WireVersions } from './versions.js';

/** What the last heartbeat of a peer said. */
export interface HeardFrom {
  readonly at: number;
  readonly region: string;
  readonly vc: VectorClock;
  readonly leaving: boolean;
  /** The members it named (absent from earlier releases). */
  readonly members?: readonly string[];
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
  readonly counters: {
    heartbeatsReceived: number;
    badHeartbeats: number;
    refusedPeers: number;
    refusedDiverged: number;
  };
  /** The clock of the events we folded into our snapshot (our compacted clock). */
  readonly folded?: () => ReadonlyVectorClock;
  /**
   * Why the sender of `hb` (its clock expanded: `vc`) is a member of another cluster, or
   * undefined (src/core/divergence.ts): such a peer is refused.
   */
  readonly judge?: (peer: string, hb: Heartbeat, vc: VectorClock) => string | undefined;
  /**
   * We merge a diverged peer's state instead of refusing it, when it says it merges too
   * (`divergedPeers: 'merge'`); advertised in our heartbeats.
   */
  readonly merges?: boolean;
  /** A peer was refused as diverged: forget whatever showed it as a member. */
  readonly onRefused?: (peer: string) => void;
  /**
   * How long a peer refused as diverged stays connected, ignored, before we hang up (default
   * 0): long enough for our own heartbeat to reach it, so that it refuses us too (loudly, on
   * both sides) rather than only seeing its dials fail.
   */
  readonly refuseGraceMs?: number;
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
  /** Peers refused as members of another cluster (peer-refusals.ts). */
  readonly refusals: PeerRefusals;
  private readonly heard = new Map<string, HeardFrom>();
  private readonly lastMeet = new Map<string, number>();
  private readonly protocol: ProtocolRange;
  /** What the last beat published said and whom it could reach, to skip unchanged beats. */
  private last: { key: string; at: number; echoed: boolean } | undefined;
  private sendCounters = { published: 0, skipped: 0 };
  private peersSentAt = -Infinity;
  /** Peers refused as diverged whose connections close when their grace ends. */
  private readonly hangingUp = new Set<string>();

  constructor(private readonly d: HeartbeatsDeps) {
    this.protocol = d.protocol ?? LOCAL_PROTOCOL;
    this.versions = new WireVersions(d.log, this.protocol, d.now);
    this.refusals = new PeerRefusals(d.log, d.counters, d.now);
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

  /**
   * True for a peer the connection gater drops: refused for an incompatible protocol, or as a
   * member of another cluster (for a while after its last heartbeat, and not the first
   * connection it opens after it: peer-refusals.ts).
   */
  isRefused(peer: string, inbound = false): boolean {
    return this.versions.isRefused(peer) || this.refusals.denies(peer, inbound);
  }

  /** Peers refused now, with the reason. */
  refused(): RefusedPeer[] {
    return [...this.versions.refusedPeers(), ...this.refusals.list()];
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
    const folded = this.d.folded?.();
    return Promise.all([this.knownPeers(), this.d.direct?.targets() ?? Promise.resolve([])])
      .then(([peers, direct]) => {
        const hb = {
          vc: new Map(vc),
          region: this.d.region,
          leaving,
          peers,
          protocol: this.protocol,
          members,
          ...(folded ? { folded: new Map(folded) } : {}),
          ...(this.d.merges === true ? { merges: true } : {}),
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

  /**
   * The next beat goes out even if nothing changed (and so does the one after it): a peer that
   * gossip could not reach for a while (its outbound stream was re-opened) missed the last ones.
   */
  resend(): void {
    this.last = undefined;
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
      this.d.counters.refusedPeers++;
      this.refuse(from);
      return;
    }
    const vc = this.d.expand ? this.d.expand(hb.vc) : hb.vc;
    const diverged = this.d.judge?.(id, hb, vc);
    if (diverged !== undefined && this.d.merges === true && hb.merges === true)
      this.refusals.merging(id, diverged);
    else if (diverged !== undefined) {
      this.refusals.refuse(id, diverged);
      this.heard.delete(id);
      this.d.onRefused?.(id);
      this.hangUpLater(from);
      return;
    }
    this.refusals.lift(id, 'its heartbeat no longer shows the divergence');
    for (const m of hb.members ?? [])
      if (m !== id) this.refusals.lift(m, `member ${id} knows it: a shared member may bring the gap`);
    this.d.counters.heartbeatsReceived++;
    const now = this.d.now();
    const previous = this.heard.get(id);
    const heard = { at: now, region: hb.region, vc, leaving: hb.leaving };
    this.heard.set(id, hb.members ? { ...heard, members: hb.members } : heard);
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

  /** A refused peer: no longer heard from, its connections closed. */
  private refuse(peer: PeerId): void {
    this.heard.delete(peer.toString());
    for (const c of this.d.node.getConnections(peer)) void c.close().catch(() => undefined);
  }

  /** Closes a diverged peer's connections once `refuseGraceMs` passed, if still refused. */
  private hangUpLater(peer: PeerId): void {
    const id = peer.toString();
    if (this.hangingUp.has(id)) return;
    this.hangingUp.add(id);
    setTimeout(() => {
      this.hangingUp.delete(id);
      if (this.refusals.isRefused(id)) this.refuse(peer);
    }, this.d.refuseGraceMs ?? 0).unref();
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
      if (this.isRefused(p.id)) continue;
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
