// A fake of what DNS reads from an agent: services with endpoint views, and members.
import dnsPacket, { type DecodedPacket, type Question } from 'dns-packet';
import type { DnsEndpoint, DnsMember, DnsSource } from '../../src/dns/resolver.js';

export interface FakeEndpoint extends DnsEndpoint {
  readonly service: string;
}

export function endpoint(
  service: string,
  id: string,
  address: string,
  port: number,
  extra: Partial<FakeEndpoint> = {},
): FakeEndpoint {
  return { service, id, address, port, tags: [], region: 'eu', healthy: true, ...extra };
}

export function fakeSource(
  endpoints: FakeEndpoint[],
  members: DnsMember[] = [],
): DnsSource & { endpoints: FakeEndpoint[] } {
  const src = {
    endpoints,
    services: {
      healthy: (name: string, options: { all?: boolean } = {}) =>
        src.endpoints.filter((e) => e.service === name && (options.all === true || e.healthy)),
      services: () => [...new Set(src.endpoints.map((e) => e.service))].map((name) => ({ name })),
    },
    members: { members: () => ({ members }) },
  };
  return src;
}

let nextId = 1;

/** A query packet as a resolver would send it. */
export function query(
  name: string,
  type: Question['type'] = 'A',
  extra: Partial<dnsPacket.Packet> = {},
): Buffer {
  return dnsPacket.encode({
    type: 'query',
    id: nextId++ & 0xffff,
    flags: dnsPacket.RECURSION_DESIRED,
    questions: [{ type, name, class: 'IN' }],
    ...extra,
  });
}

export function decode(buf: Buffer | undefined): DecodedPacket & { rcode: string; id: number } {
  if (buf === undefined) throw new Error('no response');
  return dnsPacket.decode(buf) as DecodedPacket & { rcode: string; id: number };
}
