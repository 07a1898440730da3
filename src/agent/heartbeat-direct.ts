/**
 * Heartbeats on direct streams (issue 8; docs/networking.md "Heartbeats on direct streams").
 * A heartbeat is one member's own state for every other member, not a broadcast that needs
 * flooding: through the gossipsub mesh each agent received each beat about six times at
 * N = 10 (mesh degree 6 plus the publisher's flood publish), with IHAVE and IDONTWANT for it
 * on top. Here each agent sends its beat once to every connected peer that speaks
 * `/smac/beat/1`, on one long-lived stream per peer and direction (the probe transport,
 * probe-transport.ts, on its own protocol), and while its content stays the same it sends a
 * reference to the beat the peer already has instead of the beat: about 160 bytes, whatever
 * the size of the clock and member list.
 *
 * Messages on `/smac/beat/1` (length-prefixed, probe-transport.ts):
 *
 *   u8  kind: 1 = a beat, 2 = the same as an earlier beat
 *   heartbeat frame v1 (src/net/heartbeat-frame.ts), signed by the sender; for kind 2 its
 *   payload is `varint seqno` of the sender's beat that it repeats.
 *
 * A receiver opens every frame (its signature must check against its publisher) and refuses a
 * frame whose publisher is not the peer on the other end of the stream: beats are never
 * relayed on this path. A reference is honoured only if it names the last beat received on
 * this path from that peer. The replay check is the one gossip uses (HeartbeatGossip
 * `fresh`), so a beat that arrives both ways is delivered once. A sender sends a whole beat
 * again whenever something it sent to the peer may have been lost (a dropped packet, a stream
 * that closed: the link's generation), so a reference never names a beat that did not arrive.
 */
import type { PeerId } from '@libp2p/interface';
import { peerIdFromString } from '@libp2p/peer-id';
import type { Logger } from 'pino';
import { Reader, Writer } from '../core/codec/index.js';
import type { HeartbeatGossip } from '../net/gossip.js';
import { HEARTBEAT_MAX_BYTES } from '../net/gossip-wire.js';
import {
  HEARTBEAT_FRAME_OVERHEAD_BYTES,
  type HeartbeatFrame,
  openHeartbeat,
} from '../net/heartbeat-frame.js';
import type { SmacNode } from '../net/node.js';
import { ProbeTransport } from './probe-transport.js';

export const BEAT_PROTOCOL = '/smac/beat/1';
const KIND_BEAT = 1;
const KIND_SAME = 2;
/** Publishers whose last beat is kept to resolve references; the oldest goes first beyond. */
const MAX_REMEMBERED = 4096;
const WRITE_TIMEOUT_MS = 5_000;

export interface HeartbeatDirectCounters {
  /** Whole beats sent, and references to an earlier beat sent instead. */
  sentBeats: number;
  /**
   * Why each whole beat went: the first to the peer (or the first since it reconnected), a
   * loss on the link since the last one, new content, or only a new peer list.
   */
  sentBeatsFor: { first: number; lost: number; content: number; peers: number };
  sentRefs: number;
  received: number;
  receivedRefs: number;
  /** Malformed, unsigned, oversized or of an unknown kind. */
  rejectedInvalid: number;
  /** Signed by someone other than the peer that sent it on its stream. */
  rejectedForged: number;
  /** References to a beat this agent did not receive (never expected: see the module comment). */
  unknownRefs: number;
}

export interface HeartbeatDirectDeps {
  readonly node: SmacNode;
  readonly log: Logger;
  /** Seals our frames and holds the replay check shared with the gossip path. */
  readonly gossip: Pick<HeartbeatGossip, 'seal' | 'fresh'>;
  /** A verified heartbeat's payload from its publisher (the peer on the stream). */
  readonly onHeartbeat: (bytes: Uint8Array, from: PeerId) => void;
  /** Largest payload accepted (default HEARTBEAT_MAX_BYTES). */
  readonly maxBytes?: number;
}

/** One beat to send: its payload with and without the peer list, and what identifies each. */
export interface DirectBeat {
  /** The payload naming our peers (peer exchange). */
  readonly withPeers: Uint8Array;
  /** The same payload with an empty peer list. */
  readonly bare: Uint8Array;
  /** Identifies `bare`'s content: equal keys, equal content. */
  readonly contentKey: string;
  /** Identifies the peer list. */
  readonly peersKey: string;
}

/** What a peer last received from us as a whole beat, on which link generation. */
interface Sent {
  readonly generation: number;
  readonly seqno: number;
  readonly contentKey: string;
  readonly peersKey: string;
}

export class HeartbeatDirect {
  private readonly transport: ProbeTransport;
  private readonly maxBytes: number;
  private readonly sent = new Map<string, Sent>();
  /** Per publisher: the last whole beat received on this path. */
  private readonly lastBeat = new Map<string, { seqno: number; payload: Uint8Array }>();
  private readonly stats: HeartbeatDirectCounters = {
    sentBeats: 0,
    sentBeatsFor: { first: 0, lost: 0, content: 0, peers: 0 },
    sentRefs: 0,
    received: 0,
    receivedRefs: 0,
    rejectedInvalid: 0,
    rejectedForged: 0,
    unknownRefs: 0,
  };

  constructor(private readonly d: HeartbeatDirectDeps) {
    this.maxBytes = d.maxBytes ?? HEARTBEAT_MAX_BYTES;
    this.transport = new ProbeTransport({
      node: d.node,
      log: d.log,
      protocol: BEAT_PROTOCOL,
      redial: false,
      maxPacketBytes: 1 + this.maxBytes + HEARTBEAT_FRAME_OVERHEAD_BYTES,
      writeTimeoutMs: () => WRITE_TIMEOUT_MS,
      onPacket: (from, bytes) => {
        this.receive(from, bytes);
      },
      onBadStream: (from, err) => {
        this.stats.rejectedInvalid++;
        d.log.debug({ from, err }, 'bad heartbeat stream');
      },
      onPeerGone: () => undefined,
    });
  }

  private readonly onDisconnect = (evt: CustomEvent<PeerId>): void => {
    // The next connection starts afresh: a whole beat, on a new stream.
    const peer = evt.detail.toString();
    this.sent.delete(peer);
    this.transport.forget(peer);
  };

  async start(): Promise<void> {
    this.d.node.addEventListener('peer:disconnect', this.onDisconnect);
    await this.transport.start();
  }

  /** Waits (at most `drainMs`) for queued beats to be written, then closes every stream. */
  async stop(drainMs = 1_000): Promise<void> {
    this.d.node.removeEventListener('peer:disconnect', this.onDisconnect);
    await this.transport.drain(drainMs);
    await this.transport.stop();
  }

  counters(): HeartbeatDirectCounters {
    return { ...this.stats, sentBeatsFor: { ...this.stats.sentBeatsFor } };
  }

  /** Connected peers that speak BEAT_PROTOCOL (identify told us), sorted. */
  async targets(): Promise<string[]> {
    const peers = new Map(this.d.node.getConnections().map((c) => [c.remotePeer.toString(), c.remotePeer]));
    const out: string[] = [];
    for (const [id, peer] of peers) {
      try {
        const p = await this.d.node.peerStore.get(peer);
        if (p.protocols.includes(BEAT_PROTOCOL)) out.push(id);
      } catch {
        // not in the peer store (yet): not a target
      }
    }
    return out.sort();
  }

  /**
   * Sends `beat` to each of `peers`: the whole beat (naming our peers if it has not had the
   * current list) to a peer that has not had this content on its current stream, else, if
   * `due`, a reference to the beat it has. With `due` false only the peers that lack the
   * content hear from us. Never throws; what cannot be written is dropped.
   */
  send(beat: DirectBeat, peers: readonly string[], due: boolean): void {
    const frames = new Map<string, { frame: Uint8Array; seqno: number }>();
    const sealed = (key: string, payload: () => Uint8Array) => {
      let f = frames.get(key);
      if (!f) {
        f = this.d.gossip.seal(payload());
        frames.set(key, f);
      }
      return f;
    };
    for (const peer of peers) {
      const last = this.sent.get(peer);
      const current = last !== undefined && this.transport.generation(peer) === last.generation;
      const withPeers = !current || last.peersKey !== beat.peersKey;
      if (current && !withPeers && last.contentKey === beat.contentKey) {
        if (!due) continue;
        const ref = sealed(`ref ${last.seqno}`, () => new Writer(8).varint(last.seqno).finish());
        this.transport.send(peer, tagged(KIND_SAME, ref.frame));
        this.stats.sentRefs++;
        continue;
      }
      const whole = withPeers ? sealed('peers', () => beat.withPeers) : sealed('bare', () => beat.bare);
      this.transport.send(peer, tagged(KIND_BEAT, whole.frame));
      this.stats.sentBeats++;
      const why = !last
        ? 'first'
        : !current
          ? 'lost'
          : last.contentKey !== beat.contentKey
            ? 'content'
            : 'peers';
      this.stats.sentBeatsFor[why]++;
      this.sent.set(peer, {
        generation: this.transport.generation(peer) ?? 0,
        seqno: whole.seqno,
        contentKey: beat.contentKey,
        peersKey: beat.peersKey,
      });
    }
  }

  /** A message on a beat stream from the authenticated peer `from`: untrusted bytes. */
  private receive(from: string, bytes: Uint8Array): void {
    const kind = bytes[0];
    let frame: HeartbeatFrame;
    try {
      if (kind !== KIND_BEAT && kind !== KIND_SAME) throw new Error(`unknown kind ${String(kind)}`);
      frame = openHeartbeat(bytes.subarray(1), this.maxBytes);
    } catch (e) {
      this.stats.rejectedInvalid++;
      this.d.log.debug({ from, err: e }, 'refused a heartbeat on a direct stream');
      return;
    }
    if (frame.publisher !== from) {
      this.stats.rejectedForged++;
      this.d.log.debug(
        { from, publisher: frame.publisher },
        'refused a heartbeat relayed on a direct stream',
      );
      return;
    }
    let payload: Uint8Array;
    if (kind === KIND_BEAT) {
      if (frame.payload.length === 0) {
        this.stats.rejectedInvalid++;
        return;
      }
      payload = frame.payload;
      this.remember(from, frame.seqno, payload);
    } else {
      const of = referencedSeqno(frame.payload);
      const last = this.lastBeat.get(from);
      if (of === undefined) {
        this.stats.rejectedInvalid++;
        return;
      }
      if (last?.seqno !== of) {
        this.stats.unknownRefs++;
        return;
      }
      payload = last.payload;
      this.stats.receivedRefs++;
    }
    if (!this.d.gossip.fresh(frame)) return;
    this.stats.received++;
    this.d.onHeartbeat(payload, peerIdFromString(from));
  }

  private remember(from: string, seqno: number, payload: Uint8Array): void {
    this.lastBeat.delete(from);
    this.lastBeat.set(from, { seqno, payload });
    if (this.lastBeat.size > MAX_REMEMBERED) {
      const oldest = this.lastBeat.keys().next();
      if (oldest.done !== true) this.lastBeat.delete(oldest.value);
    }
  }
}

function tagged(kind: number, frame: Uint8Array): Uint8Array {
  const out = new Uint8Array(frame.length + 1);
  out[0] = kind;
  out.set(frame, 1);
  return out;
}

function referencedSeqno(payload: Uint8Array): number | undefined {
  try {
    const r = new Reader(payload);
    const seqno = r.varint('referenced heartbeat seqno');
    r.end('heartbeat reference');
    return seqno;
  } catch {
    return undefined;
  }
}
