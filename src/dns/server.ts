/**
 * The DNS listener (issue 10, "DNS"): UDP and TCP on one address, packets encoded and decoded
 * by dns-packet, answers from the resolver (resolver.ts). Input is untrusted: a packet that
 * does not decode is counted and answered FORMERR when its header can be read (dropped
 * otherwise); responses sent to us are dropped (no reflection loops); nothing a client sends
 * can throw out of a handler. UDP answers are cut to the client's size (512 bytes, or its EDNS
 * payload size up to 4096) with the TC flag set, so that resolvers retry over TCP.
 */
import { createSocket, type Socket } from 'node:dgram';
import { createServer, type Server, type Socket as TcpSocket } from 'node:net';
import { isIPv6 } from 'node:net';
import dnsPacket, { type Answer, type DecodedPacket, type Packet } from 'dns-packet';
import { type DnsListenAddress, formatDnsAddress } from './listen-address.js';
import { DnsResolver, type DnsSource, errorResponse, type Rcode } from './resolver.js';

export interface DnsCounters {
  queriesUdp: number;
  queriesTcp: number;
  /** Packets that did not decode, or were no query (counted, answered FORMERR or dropped). */
  malformed: number;
  /** UDP answers cut to the client's size (TC set). */
  truncated: number;
  /** TCP connections refused because `maxTcpConnections` were open. */
  tcpRefused: number;
  /** Responses by rcode. */
  rcodes: Record<string, number>;
}

export interface DnsServerOptions {
  readonly source: DnsSource;
  readonly address: DnsListenAddress;
  readonly ttlSeconds: number;
  /** TCP connections open at once; more are closed at once. */
  readonly maxTcpConnections?: number;
  /** A TCP connection idle this long is closed. */
  readonly tcpIdleMs?: number;
  readonly logger?: { warn(obj: object, msg: string): void; debug(obj: object, msg: string): void };
  readonly random?: () => number;
}

const UDP_DEFAULT_SIZE = 512;
const UDP_MAX_SIZE = 4096;
const HEADER_BYTES = 12;
const DEFAULT_MAX_TCP = 64;
const DEFAULT_TCP_IDLE_MS = 10_000;
/** TCP bytes buffered per connection before a frame completes (one frame is at most 65537). */
const TCP_MAX_BUFFER = 65_537;

export class DnsServer {
  readonly counters: DnsCounters = {
    queriesUdp: 0,
    queriesTcp: 0,
    malformed: 0,
    truncated: 0,
    tcpRefused: 0,
    rcodes: {},
  };
  private readonly resolver: DnsResolver;
  private readonly tcpConnections = new Set<TcpSocket>();

  private constructor(
    private readonly options: DnsServerOptions,
    private udp: Socket | undefined,
    private tcp: Server | undefined,
    /** Where it listens (the port it got, when 0 was asked). */
    readonly address: DnsListenAddress,
  ) {
    this.resolver = new DnsResolver(options.source, {
      ttlSeconds: options.ttlSeconds,
      ...(options.random !== undefined ? { random: options.random } : {}),
    });
  }

  /** Binds UDP then TCP on the same port (with port 0, the port UDP got). */
  static async start(options: DnsServerOptions): Promise<DnsServer> {
    const { host } = options.address;
    // With port 0, TCP may find the port UDP got already taken: try a few fresh ports.
    for (let attempt = 0; ; attempt++) {
      const udp = createSocket({ type: isIPv6(host) ? 'udp6' : 'udp4' });
      await new Promise<void>((resolve, reject) => {
        udp.once('error', reject);
        udp.bind(options.address.port, host, () => {
          udp.off('error', reject);
          resolve();
        });
      });
      const port = udp.address().port;
      const tcp = createServer();
      try {
        await new Promise<void>((resolve, reject) => {
          tcp.once('error', reject);
          tcp.listen(port, host, () => {
            tcp.off('error', reject);
            resolve();
          });
        });
      } catch (e) {
        udp.close();
        if (options.address.port === 0 && attempt < 5) continue;
        throw e;
      }
      const server = new DnsServer(options, udp, tcp, { host, port });
      server.listen(udp, tcp);
      return server;
    }
  }

  /** `host:port` where it listens. */
  get url(): string {
    return formatDnsAddress(this.address);
  }

  async close(): Promise<void> {
    const udp = this.udp;
    const tcp = this.tcp;
    this.udp = undefined;
    this.tcp = undefined;
    for (const c of this.tcpConnections) c.destroy();
    this.tcpConnections.clear();
    await Promise.all([
      udp
        ? new Promise<void>((r) =>
            udp.close(() => {
              r();
            }),
          )
        : undefined,
      tcp
        ? new Promise<void>((r) =>
            tcp.close(() => {
              r();
            }),
          )
        : undefined,
    ]);
  }

  /**
   * The response bytes to one query packet, or undefined when nothing should be sent back.
   * Never throws, whatever `buf` holds.
   */
  handle(buf: Buffer, transport: 'udp' | 'tcp'): Buffer | undefined {
    if (transport === 'udp') this.counters.queriesUdp++;
    else this.counters.queriesTcp++;
    if (buf.length < HEADER_BYTES) {
      this.malformed(buf, 'shorter than a header');
      return;
    }
    // QR set: a response, never answered (a spoofed source could make two servers loop).
    if ((buf[2] ?? 0) & 0x80) {
      this.malformed(buf, 'a response, not a query');
      return;
    }
    let query: DecodedPacket;
    try {
      query = dnsPacket.decode(buf);
    } catch (e) {
      this.malformed(buf, (e as Error).message);
      return this.encode(
        errorResponse({ id: buf.readUInt16BE(0), flags: buf.readUInt16BE(2) }, 'FORMERR'),
        'FORMERR',
        transport,
        undefined,
      );
    }
    // A label holding a dot decodes as part of two labels; an empty one cannot be encoded back
    // into the echoed question (the answer would not decode): FORMERR, without the question.
    if ((query.questions ?? []).some((q) => q.name.includes('..'))) {
      this.malformed(buf, 'an empty label in a question name');
      return this.encode(
        errorResponse({ id: query.id, flags: query.flags }, 'FORMERR'),
        'FORMERR',
        transport,
        undefined,
      );
    }
    let packet: Packet;
    let rcode: Rcode;
    try {
      ({ packet, rcode } = this.resolver.respond(query));
    } catch (e) {
      this.options.logger?.warn({ err: (e as Error).message }, 'dns: answering a query failed');
      ({ packet, rcode } = { packet: errorResponse(query, 'SERVFAIL'), rcode: 'SERVFAIL' });
    }
    const opt = (query.additionals ?? []).find((a) => a.type === 'OPT') as
      { udpPayloadSize?: number } | undefined;
    if (opt !== undefined) {
      packet.additionals = [...(packet.additionals ?? []), ednsRecord()];
    }
    const limit =
      transport === 'tcp'
        ? 65_535
        : Math.min(UDP_MAX_SIZE, Math.max(UDP_DEFAULT_SIZE, opt?.udpPayloadSize ?? UDP_DEFAULT_SIZE));
    return this.encode(packet, rcode, transport, limit);
  }

  private malformed(buf: Buffer, why: string): undefined {
    this.counters.malformed++;
    this.options.logger?.debug({ bytes: buf.length, why }, 'dns: malformed packet');
    return undefined;
  }

  /** Encodes, cutting answers (UDP) until the response fits `limit`; SERVFAIL if it cannot encode. */
  private encode(
    packet: Packet,
    rcode: Rcode,
    transport: 'udp' | 'tcp',
    limit: number | undefined,
  ): Buffer | undefined {
    try {
      let out = dnsPacket.encode(packet);
      if (limit !== undefined && out.length > limit) {
        if (transport === 'tcp') throw new Error(`response of ${out.length} bytes exceeds 65535`);
        this.counters.truncated++;
        // Keep the EDNS record only; drop answers from the end until it fits.
        const additionals = (packet.additionals ?? []).filter((a) => a.type === 'OPT');
        const answers: Answer[] = [...(packet.answers ?? [])];
        const cut: Packet = {
          ...packet,
          flags: (packet.flags ?? 0) | dnsPacket.TRUNCATED_RESPONSE,
          additionals,
          authorities: [],
        };
        do {
          answers.pop();
          out = dnsPacket.encode({ ...cut, answers });
        } while (out.length > limit && answers.length > 0);
      }
      this.count(rcode);
      return out;
    } catch (e) {
      this.options.logger?.warn({ err: (e as Error).message }, 'dns: a response could not be encoded');
      this.count('SERVFAIL');
      try {
        return dnsPacket.encode(errorResponse(packet, 'SERVFAIL'));
      } catch {
        return undefined;
      }
    }
  }

  private count(rcode: Rcode): void {
    this.counters.rcodes[rcode] = (this.counters.rcodes[rcode] ?? 0) + 1;
  }

  private listen(udp: Socket, tcp: Server): void {
    udp.on('message', (msg, rinfo) => {
      const out = this.handle(msg, 'udp');
      if (out !== undefined) udp.send(out, rinfo.port, rinfo.address, () => undefined);
    });
    udp.on('error', (e) => {
      this.options.logger?.warn({ err: e.message }, 'dns: UDP socket error');
    });
    tcp.on('connection', (conn) => {
      this.onConnection(conn);
    });
    tcp.on('error', (e) => {
      this.options.logger?.warn({ err: e.message }, 'dns: TCP listener error');
    });
  }

  /** RFC 1035 4.2.2 / RFC 7766: two-byte length, then the message; several per connection. */
  private onConnection(conn: TcpSocket): void {
    if (this.tcpConnections.size >= (this.options.maxTcpConnections ?? DEFAULT_MAX_TCP)) {
      this.counters.tcpRefused++;
      conn.destroy();
      return;
    }
    this.tcpConnections.add(conn);
    conn.setTimeout(this.options.tcpIdleMs ?? DEFAULT_TCP_IDLE_MS, () => conn.destroy());
    conn.on('error', () => undefined);
    conn.on('close', () => this.tcpConnections.delete(conn));
    let pending: Buffer = Buffer.alloc(0);
    conn.on('data', (chunk: Buffer) => {
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      if (pending.length > TCP_MAX_BUFFER) {
        conn.destroy();
        return;
      }
      while (pending.length >= 2) {
        const len = pending.readUInt16BE(0);
        if (pending.length < len + 2) break;
        const msg = pending.subarray(2, len + 2);
        pending = pending.subarray(len + 2);
        const out = this.handle(msg, 'tcp');
        if (out === undefined) continue;
        const frame = Buffer.alloc(2 + out.length);
        frame.writeUInt16BE(out.length, 0);
        out.copy(frame, 2);
        conn.write(frame);
      }
    });
  }
}

/** Our EDNS(0) record: we accept UDP answers up to 4096 bytes. */
function ednsRecord(): Answer {
  return {
    type: 'OPT',
    name: '.',
    udpPayloadSize: UDP_MAX_SIZE,
    extendedRcode: 0,
    ednsVersion: 0,
    flags: 0,
    flag_do: false,
    options: [],
  };
}
