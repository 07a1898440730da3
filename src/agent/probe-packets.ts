/**
 * The failure detector's packets on `/smac/probe/1` (src/agent/membership.ts): a ping,
 * ping-req, ack, nack or gossip-only packet, each with piggybacked membership messages, as one
 * JSON frame. Everything in a packet comes from a peer, so parsing validates every field and
 * drops what it cannot trust; the sender is the authenticated libp2p peer, never a field.
 */
import { isRecord } from '../core/json.js';
import {
  type MembershipEffect,
  type MembershipInput,
  type MembershipMessage,
  parseMembershipMessage,
} from '../core/membership/messages.js';

export interface Packet {
  readonly kind: 'ping' | 'ping-req' | 'ack' | 'nack' | 'gossip';
  readonly seq?: number;
  readonly target?: string;
  readonly timeoutMs?: number;
  readonly piggyback: readonly MembershipMessage[];
}

export function encodePacket(packet: Packet): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(packet));
}

/** Validates a packet from a peer; undefined when malformed. Bad piggybacked messages are dropped. */
export function parsePacket(bytes: Uint8Array, maxMetaBytes: number): Packet | undefined {
  let raw: unknown;
  try {
    raw = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch {
    return undefined;
  }
  if (!isRecord(raw)) return undefined;
  const kind = raw.kind;
  if (kind !== 'ping' && kind !== 'ping-req' && kind !== 'ack' && kind !== 'nack' && kind !== 'gossip')
    return undefined;
  const seq = raw.seq;
  if (kind !== 'gossip' && (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 0))
    return undefined;
  if (kind === 'ping-req') {
    if (typeof raw.target !== 'string' || typeof raw.timeoutMs !== 'number' || !(raw.timeoutMs >= 0))
      return undefined;
  }
  if (!Array.isArray(raw.piggyback) || raw.piggyback.length > 64) return undefined;
  const piggyback: MembershipMessage[] = [];
  for (const m of raw.piggyback as unknown[]) {
    const parsed = parseMembershipMessage(m, maxMetaBytes);
    if (parsed) piggyback.push(parsed);
  }
  return {
    kind,
    ...(typeof seq === 'number' ? { seq } : {}),
    ...(typeof raw.target === 'string' ? { target: raw.target } : {}),
    ...(typeof raw.timeoutMs === 'number' ? { timeoutMs: raw.timeoutMs } : {}),
    piggyback,
  };
}

/** The packets that carry out a detector effect, with their destinations (none for others). */
export function effectPackets(fx: MembershipEffect): { to: string; packet: Packet }[] {
  switch (fx.kind) {
    case 'send-ping':
      return [{ to: fx.to, packet: { kind: 'ping', seq: fx.seq, piggyback: fx.piggyback } }];
    case 'send-ping-req':
      return fx.via.map((via) => ({
        to: via,
        packet: {
          kind: 'ping-req',
          seq: fx.seq,
          target: fx.target,
          timeoutMs: fx.timeoutMs,
          piggyback: fx.piggyback,
        },
      }));
    case 'send-ack':
      return [{ to: fx.to, packet: { kind: 'ack', seq: fx.seq, piggyback: fx.piggyback } }];
    case 'send-nack':
      return [{ to: fx.to, packet: { kind: 'nack', seq: fx.seq, piggyback: fx.piggyback } }];
    case 'send-gossip':
      return [{ to: fx.to, packet: { kind: 'gossip', piggyback: fx.piggyback } }];
    default:
      return []; // a broadcast rides on piggybacks and the gossip loop
  }
}

/** The detector input a packet from `from` makes (gossip makes none beyond its piggyback). */
export function packetInput(from: string, packet: Packet): MembershipInput | undefined {
  switch (packet.kind) {
    case 'ping':
      return { kind: 'ping', from, seq: packet.seq ?? 0 };
    case 'ping-req':
      return {
        kind: 'ping-req',
        from,
        seq: packet.seq ?? 0,
        target: packet.target ?? '',
        timeoutMs: packet.timeoutMs ?? 0,
      };
    case 'ack':
      return { kind: 'ack', from, seq: packet.seq ?? 0 };
    case 'nack':
      return { kind: 'nack', from, seq: packet.seq ?? 0 };
    case 'gossip':
      return undefined;
  }
}
