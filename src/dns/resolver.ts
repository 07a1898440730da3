/**
 * Answers one decoded DNS query from the agent's own replica (issue 10, "DNS"; after Consul's
 * DNS interface): services from service discovery (only endpoints that pass their check on a
 * live node, as the REST API's default answer), members from the failure detector's view.
 * Pure apart from the reads: no sockets, no clocks; the listener (server.ts) handles transport,
 * size limits and counters.
 *
 * Negative answers follow RFC 2308: a name that does not exist is NXDOMAIN, a name that exists
 * without records of the asked type (a service whose endpoints are all failing, an AAAA query
 * for IPv4 endpoints) is NOERROR with no answers; both carry the zone's SOA, whose minimum is
 * the configured TTL, so resolvers cache the miss no longer than a hit.
 */
import type { Answer, DecodedPacket, Packet, Question } from 'dns-packet';
import type { Json } from '../core/json.js';
import { DNS_DOMAIN, encodeAddr, isDnsName, multiaddrIps, parseName, plainIp } from './names.js';

/** The parts of an endpoint view (src/services/discovery.ts) that DNS answers use. */
export interface DnsEndpoint {
  readonly id: string;
  readonly address: string;
  readonly port: number;
  readonly tags: readonly string[];
  readonly region: string | null;
  readonly healthy: boolean;
}

/** What DNS reads of service discovery (the agent's `services`, a Discovery). */
export interface DnsServices {
  healthy(name: string, options?: { all?: boolean }): readonly DnsEndpoint[];
  services(): readonly { readonly name: string }[];
}

export interface DnsMember {
  readonly id: string;
  readonly status: string;
  readonly region: string | undefined;
  /** The member record's meta; `addrs` holds its advertised multiaddrs. */
  readonly meta: Json;
}

/** What DNS reads of membership (the agent's `members()`). */
export interface DnsMembers {
  members(): { readonly members: readonly DnsMember[] };
}

export interface DnsSource {
  readonly services: DnsServices;
  readonly members: DnsMembers;
}

export interface ResolverOptions {
  /** TTL of every record, and the negative-caching TTL (SOA minimum). */
  readonly ttlSeconds: number;
  /** Uniform in [0, 1): shuffles answers so that clients spread over endpoints. */
  readonly random?: () => number;
}

export type Rcode = 'NOERROR' | 'FORMERR' | 'SERVFAIL' | 'NXDOMAIN' | 'NOTIMP' | 'REFUSED';

const RCODE_VALUES: Record<Rcode, number> = {
  NOERROR: 0,
  FORMERR: 1,
  SERVFAIL: 2,
  NXDOMAIN: 3,
  NOTIMP: 4,
  REFUSED: 5,
};
const AUTHORITATIVE = 1 << 10;
const RECURSION_DESIRED = 1 << 8;

interface Reply {
  rcode: Rcode;
  answers: Answer[];
  additionals: Answer[];
}

/** The response header flags (QR is set by the encoder from `type: 'response'`). */
export function responseFlags(query: { flags?: number | undefined }, rcode: Rcode): number {
  return AUTHORITATIVE | ((query.flags ?? 0) & RECURSION_DESIRED) | RCODE_VALUES[rcode];
}

/** An empty response with `rcode` (FORMERR for an undecodable query, SERVFAIL on a bug). */
export function errorResponse(query: Pick<Packet, 'id' | 'flags' | 'questions'>, rcode: Rcode): Packet {
  return {
    type: 'response',
    id: query.id ?? 0,
    flags: responseFlags(query, rcode),
    questions: query.questions ?? [],
    answers: [],
    authorities: [],
    additionals: [],
  };
}

export class DnsResolver {
  private readonly ttl: number;
  private readonly random: () => number;

  constructor(
    private readonly source: DnsSource,
    options: ResolverOptions,
  ) {
    this.ttl = options.ttlSeconds;
    this.random = options.random ?? Math.random;
  }

  /** The response to `query`, and its rcode (for counters). */
  respond(query: DecodedPacket): { packet: Packet; rcode: Rcode } {
    const opcode = (query as { opcode?: string }).opcode ?? 'QUERY';
    if (opcode !== 'QUERY') return this.bare(query, 'NOTIMP');
    const questions = query.questions ?? [];
    const q = questions[0];
    if (questions.length !== 1 || q === undefined) return this.bare(query, 'FORMERR');
    const cls = q.class ?? 'IN';
    if (cls !== 'IN' && cls !== 'ANY') return this.bare(query, 'REFUSED');
    const reply = this.lookup(q);
    if (reply.rcode === 'REFUSED') return this.bare(query, 'REFUSED');
    const negative = reply.answers.length === 0 && (reply.rcode === 'NOERROR' || reply.rcode === 'NXDOMAIN');
    return {
      rcode: reply.rcode,
      packet: {
        type: 'response',
        id: query.id ?? 0,
        flags: responseFlags(query, reply.rcode),
        questions: [q],
        answers: reply.answers,
        authorities: negative ? [this.soa()] : [],
        additionals: reply.additionals,
      },
    };
  }

  private bare(query: DecodedPacket, rcode: Rcode): { packet: Packet; rcode: Rcode } {
    return { packet: errorResponse(query, rcode), rcode };
  }

  private lookup(q: Question): Reply {
    const parsed = parseName(q.name);
    switch (parsed.kind) {
      case 'outside':
        return { rcode: 'REFUSED', answers: [], additionals: [] };
      case 'unknown':
        return { rcode: 'NXDOMAIN', answers: [], additionals: [] };
      case 'apex':
        return { rcode: 'NOERROR', answers: q.type === 'SOA' ? [this.soa(q.name)] : [], additionals: [] };
      case 'addr':
        return { rcode: 'NOERROR', answers: this.addressRecords(q, [parsed.ip]), additionals: [] };
      case 'node':
        return this.node(q, parsed.id);
      case 'service':
        return this.service(q, parsed.name, parsed.region, parsed.tagged);
    }
  }

  private service(
    q: Question,
    name: string,
    region: string | undefined,
    tagged: { tag: string; name: string } | undefined,
  ): Reply {
    let found = this.findService(name);
    let tag: string | undefined;
    if (found === undefined && tagged !== undefined) {
      found = this.findService(tagged.name);
      tag = tagged.tag.toLowerCase();
    }
    if (found === undefined) return { rcode: 'NXDOMAIN', answers: [], additionals: [] };
    const wantRegion = region?.toLowerCase();
    const endpoints = this.shuffle(
      this.source.services
        .healthy(found)
        .filter(
          (e) =>
            e.healthy &&
            (wantRegion === undefined || e.region?.toLowerCase() === wantRegion) &&
            (tag === undefined || e.tags.some((t) => t.toLowerCase() === tag)),
        ),
    );
    if (q.type === 'SRV') return this.srv(q, endpoints);
    return {
      rcode: 'NOERROR',
      answers: this.addressRecords(
        q,
        endpoints.map((e) => e.address),
      ),
      additionals: [],
    };
  }

  /** The service's stored name: exact, else the one name equal to it regardless of case. */
  private findService(name: string): string | undefined {
    if (this.source.services.healthy(name, { all: true }).length > 0) return name;
    const lower = name.toLowerCase();
    const matches = this.source.services.services().filter((s) => s.name.toLowerCase() === lower);
    return matches.length === 1 ? matches[0]?.name : undefined;
  }

  /**
   * SRV records point at `HEX.addr.smac` for IP endpoints (their A/AAAA records go in the
   * additional section, so one round trip suffices) and at the host name itself otherwise.
   */
  private srv(q: Question, endpoints: readonly DnsEndpoint[]): Reply {
    const answers: Answer[] = [];
    const additionals = new Map<string, Answer>();
    for (const e of endpoints) {
      const ip = plainIp(e.address);
      const hex = ip === undefined ? undefined : encodeAddr(ip.ip);
      const target = ip === undefined || hex === undefined ? e.address : `${hex}.addr.${DNS_DOMAIN}`;
      if (!isDnsName(target)) continue;
      answers.push({
        type: 'SRV',
        name: q.name,
        ttl: this.ttl,
        class: 'IN',
        data: { priority: 1, weight: 1, port: e.port, target },
      });
      if (ip !== undefined && hex !== undefined && !additionals.has(target)) {
        additionals.set(target, {
          type: ip.family === 4 ? 'A' : 'AAAA',
          name: target,
          ttl: this.ttl,
          class: 'IN',
          data: ip.ip,
        });
      }
    }
    return { rcode: 'NOERROR', answers, additionals: [...additionals.values()] };
  }

  private node(q: Question, id: string): Reply {
    const members = this.source.members.members().members;
    const lower = id.toLowerCase();
    const member =
      members.find((m) => m.id === id) ??
      (() => {
        const ms = members.filter((m) => m.id.toLowerCase() === lower);
        return ms.length === 1 ? ms[0] : undefined;
      })();
    if (member === undefined) return { rcode: 'NXDOMAIN', answers: [], additionals: [] };
    if (q.type === 'TXT') {
      const txt = [`status=${member.status}`, `region=${member.region ?? 'unknown'}`];
      return {
        rcode: 'NOERROR',
        answers: [{ type: 'TXT', name: q.name, ttl: this.ttl, class: 'IN', data: txt }],
        additionals: [],
      };
    }
    // A dead or departed member keeps its name (it may come back) but has no address to offer.
    const live = member.status === 'alive' || member.status === 'suspect';
    const ips = live ? multiaddrIps(addrsOf(member.meta)).map((a) => a.ip) : [];
    return { rcode: 'NOERROR', answers: this.addressRecords(q, ips), additionals: [] };
  }

  /** A records (for A and ANY queries) and AAAA records (AAAA, ANY) of the IPs among `addresses`. */
  private addressRecords(q: Question, addresses: readonly string[]): Answer[] {
    const out: Answer[] = [];
    const seen = new Set<string>();
    for (const a of addresses) {
      const ip = plainIp(a);
      if (ip === undefined || seen.has(ip.ip)) continue;
      const type = ip.family === 4 ? 'A' : 'AAAA';
      if (q.type !== type && (q.type as string) !== 'ANY') continue;
      seen.add(ip.ip);
      out.push({ type, name: q.name, ttl: this.ttl, class: 'IN', data: ip.ip });
    }
    return out;
  }

  private soa(name = DNS_DOMAIN): Answer {
    return {
      type: 'SOA',
      name,
      ttl: this.ttl,
      class: 'IN',
      data: {
        mname: `ns.${DNS_DOMAIN}`,
        rname: `hostmaster.${DNS_DOMAIN}`,
        serial: 1,
        refresh: 3600,
        retry: 600,
        expire: 86_400,
        minimum: this.ttl,
      },
    };
  }

  private shuffle<T>(items: readonly T[]): T[] {
    const out = [...items];
    for (let i = out.length - 1; i > 0; i--) {
      const j = Math.floor(this.random() * (i + 1));
      [out[i], out[j]] = [out[j] as T, out[i] as T];
    }
    return out;
  }
}

function addrsOf(meta: Json): string[] {
  if (typeof meta !== 'object' || meta === null || Array.isArray(meta)) return [];
  const addrs = (meta as Record<string, Json>).addrs;
  return Array.isArray(addrs) ? addrs.filter((a): a is string => typeof a === 'string') : [];
}
