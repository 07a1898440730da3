/**
 * The failure detector's packets over long-lived libp2p streams (DESIGN.md "Membership and
 * health"; docs/membership.md, "Probe transport"). Opening a libp2p 3 stream costs a round
 * trip of protocol negotiation before the first byte, so a stream per packet made a ping-ack
 * take about three round trips across regions (500 ms and more between Singapore and
 * California) and tripped the probe timeout. Here each agent keeps one outbound stream per
 * peer for the `/smac/probe/1` protocol, opened once (eagerly when the peer becomes known)
 * and reused for every packet; the peer reads it as a sequence of length-prefixed frames.
 * Replies travel on the replier's own stream to us, so each pair holds two streams, one per
 * direction, and no packet ever waits for a negotiation once both are open.
 *
 * The semantics stay a datagram's: a packet that cannot be written (no connection, a broken
 * stream, a queue full behind a stalled one) is dropped, and the detector's timeouts cover it.
 * A stream that fails is discarded and the next packet opens a new one.
 *
 * Heartbeats use the same transport on their own protocol (`/smac/beat/1`,
 * heartbeat-direct.ts); a link's `generation` tells them when something they sent may have
 * been lost, so that they send a whole beat again rather than a reference to an earlier one.
 */
import type { PeerId, Stream } from '@libp2p/interface';
import { peerIdFromString } from '@libp2p/peer-id';
import type { Logger } from 'pino';
import { FrameReader, writeFrame } from '../net/frame-stream.js';
import type { SmacNode } from '../net/node.js';

export const PROBE_PROTOCOL = '/smac/probe/1';

/** Packets queued per peer behind a stream that is opening or stalled; older ones are dropped. */
const MAX_QUEUED = 64;
/** Inbound probe streams per connection: one is normal, a few cover reopening. */
const MAX_INBOUND_STREAMS = 4;

export interface ProbeTransportDeps {
  readonly node: SmacNode;
  /** The protocol of the streams (default PROBE_PROTOCOL). */
  readonly protocol?: string;
  /** Redial a peer with a link as soon as its last connection closes (default true). */
  readonly redial?: boolean;
  readonly log: Logger;
  readonly maxPacketBytes: number;
  /** How long opening a stream or writing one packet may take before the packet is dropped. */
  readonly writeTimeoutMs: () => number;
  /** A packet arrived from the authenticated peer `from`. */
  readonly onPacket: (from: string, bytes: Uint8Array) => void;
  /** A frame that broke the framing (oversized, truncated): the stream is dropped. */
  readonly onBadStream: (from: string, err: unknown) => void;
  /**
   * The last connection to `peer` closed and a new one could not be opened: a crashed
   * process's peers see this within a round trip or so. A peer that is redialled is not reported
   * (its dropped connection says nothing about it, and a probe racing the redial across a WAN
   * would time out).
   */
  readonly onPeerGone: (peer: string) => void;
}

interface PeerLink {
  stream: Stream | undefined;
  opening: Promise<Stream> | undefined;
  readonly queue: Uint8Array[];
  flushing: boolean;
  /** Bumped whenever a packet to the peer may have been lost: a drop, or a stream closing. */
  generation: number;
}

export interface ProbeTransportStats {
  /** Outbound streams opened so far (one per peer, plus one per reopening). */
  readonly streamsOpened: number;
  readonly outboundStreams: number;
  readonly inboundStreams: number;
  readonly packetsSent: number;
  readonly packetsReceived: number;
  /** Packets dropped: no stream could be opened, a write failed, or the queue overflowed. */
  readonly packetsDropped: number;
  /** Peers redialled because their last connection closed. */
  readonly redials: number;
}

export class ProbeTransport {
  private readonly links = new Map<string, PeerLink>();
  private readonly inbound = new Set<Stream>();
  private running = false;
  private readonly counts = {
    streamsOpened: 0,
    packetsSent: 0,
    packetsReceived: 0,
    packetsDropped: 0,
    redials: 0,
  };

  private readonly protocol: string;

  constructor(private readonly deps: ProbeTransportDeps) {
    this.protocol = deps.protocol ?? PROBE_PROTOCOL;
  }

  private readonly onDisconnect = (evt: CustomEvent<PeerId>): void => {
    const peer = evt.detail.toString();
    const link = this.links.get(peer);
    if (!this.running || !link || this.deps.redial === false) return;
    // Redial at once (this also opens the probe stream ahead of the next packet).
    this.counts.redials++;
    this.open(peer, link).catch((e: unknown) => {
      this.deps.log.debug({ peer, err: e }, 'a lost peer could not be redialled');
      if (this.running && this.links.get(peer) === link) this.deps.onPeerGone(peer);
    });
  };

  async start(): Promise<void> {
    this.running = true;
    this.deps.node.addEventListener('peer:disconnect', this.onDisconnect);
    await this.deps.node.handle(
      this.protocol,
      (stream, connection) => {
        void this.read(stream, connection.remotePeer.toString());
      },
      { maxInboundStreams: MAX_INBOUND_STREAMS },
    );
  }

  async stop(): Promise<void> {
    this.running = false;
    this.deps.node.removeEventListener('peer:disconnect', this.onDisconnect);
    await this.deps.node.unhandle(this.protocol).catch(() => undefined);
    for (const link of this.links.values()) {
      link.queue.length = 0;
      link.stream?.abort(new Error('the agent is stopping'));
    }
    this.links.clear();
    for (const s of this.inbound) s.abort(new Error('the agent is stopping'));
    this.inbound.clear();
  }

  /** Queues one packet for `to`; never throws and never waits. */
  send(to: string, bytes: Uint8Array): void {
    if (!this.running) return;
    const link = this.link(to);
    if (link.queue.length >= MAX_QUEUED) {
      link.queue.shift();
      this.drop(link, 1);
    }
    link.queue.push(bytes);
    if (!link.flushing) void this.flush(to, link);
  }

  /** Resolves once every queued packet was written or dropped, or after `timeoutMs`. */
  async drain(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const busy = () => [...this.links.values()].some((l) => l.flushing || l.queue.length > 0);
    while (this.running && busy() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  }

  /** Opens the stream to `to` ahead of the first packet, so that packet pays no negotiation. */
  warm(to: string): void {
    if (!this.running) return;
    const link = this.link(to);
    if (link.stream || link.opening) return;
    this.open(to, link).catch((e: unknown) => {
      this.deps.log.trace({ to, err: e }, 'probe stream not opened ahead');
    });
  }

  /**
   * Changes whenever a packet queued for `to` may not have arrived (dropped, or on a stream
   * that closed since); undefined for a peer without a link. Equal values before and after a
   * send mean nothing sent in between was lost so far.
   */
  generation(to: string): number | undefined {
    return this.links.get(to)?.generation;
  }

  /** Forgets a peer (dead, left): closes our stream to it. */
  forget(to: string): void {
    const link = this.links.get(to);
    if (!link) return;
    this.links.delete(to);
    link.queue.length = 0;
    link.stream?.abort(new Error('member gone'));
  }

  stats(): ProbeTransportStats {
    let outbound = 0;
    for (const l of this.links.values()) if (l.stream) outbound++;
    return { ...this.counts, outboundStreams: outbound, inboundStreams: this.inbound.size };
  }

  private link(to: string): PeerLink {
    let link = this.links.get(to);
    if (!link) {
      link = { stream: undefined, opening: undefined, queue: [], flushing: false, generation: 0 };
      this.links.set(to, link);
    }
    return link;
  }

  private open(to: string, link: PeerLink): Promise<Stream> {
    const usable = link.stream;
    if (usable?.status === 'open' && usable.writeStatus === 'writable') return Promise.resolve(usable);
    link.stream = undefined;
    link.opening ??= (async () => {
      try {
        const signal = AbortSignal.timeout(this.deps.writeTimeoutMs());
        const stream = await this.deps.node.dialProtocol(peerIdFromString(to), this.protocol, { signal });
        this.counts.streamsOpened++;
        if (!this.running || this.links.get(to) !== link) {
          stream.abort(new Error('not needed any more'));
          throw new Error('the probe transport stopped or forgot the peer');
        }
        link.stream = stream;
        stream.addEventListener('close', () => {
          link.generation++;
          if (link.stream === stream) link.stream = undefined;
        });
        return stream;
      } finally {
        link.opening = undefined;
      }
    })();
    return link.opening;
  }

  private async flush(to: string, link: PeerLink): Promise<void> {
    link.flushing = true;
    try {
      while (link.queue.length > 0 && this.running) {
        let stream: Stream;
        try {
          stream = await this.open(to, link);
        } catch (e) {
          // Unreachable now: what waited is stale; the detector times it out.
          this.drop(link, link.queue.length);
          link.queue.length = 0;
          this.deps.log.trace({ to, err: e }, 'probe stream could not be opened');
          return;
        }
        const packet = link.queue.shift();
        if (packet === undefined) break;
        try {
          await writeFrame(stream, packet, AbortSignal.timeout(this.deps.writeTimeoutMs()));
          this.counts.packetsSent++;
        } catch (e) {
          this.drop(link, 1);
          if (link.stream === stream) link.stream = undefined;
          stream.abort(e instanceof Error ? e : new Error(String(e)));
          this.deps.log.trace({ to, err: e }, 'probe stream broke; the next packet reopens it');
        }
      }
    } finally {
      link.flushing = false;
    }
  }

  private drop(link: PeerLink, packets: number): void {
    this.counts.packetsDropped += packets;
    link.generation++;
  }

  private async read(stream: Stream, from: string): Promise<void> {
    this.inbound.add(stream);
    const reader = new FrameReader(stream, { maxFrameBytes: this.deps.maxPacketBytes, what: this.protocol });
    try {
      for (;;) {
        const frame = await reader.next();
        if (frame === undefined || !this.running) break;
        this.counts.packetsReceived++;
        this.deps.onPacket(from, frame);
      }
    } catch (e) {
      if (stream.status === 'open') this.deps.onBadStream(from, e);
    } finally {
      reader.release();
      this.inbound.delete(stream);
      if (stream.status === 'open') stream.abort(new Error('done'));
    }
  }
}
