// The DNS interface's answers, through the listener's packet handler (no sockets): queries
// built with dns-packet, responses decoded with it.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DnsServer } from '../../src/dns/server.js';
import { decode, endpoint, fakeSource, query } from './fake-source.js';

const member = (id: string, status: string, addrs: string[], region = 'eu') => ({
  id,
  status,
  region,
  meta: { addrs },
});

function sorted<T>(xs: T[]): T[] {
  return [...xs].sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));
}

let server: DnsServer;
const source = fakeSource(
  [
    endpoint('web', 'w1', '10.0.0.1', 8080, { tags: ['v2'] }),
    endpoint('web', 'w2', '10.0.0.2', 8081, { region: 'us' }),
    endpoint('web', 'w3', '10.0.0.3', 8082, { healthy: false }),
    endpoint('web', 'w4', '10.0.0.1', 9090),
    endpoint('web', 'w6', 'fd00::6', 8086),
    endpoint('db', 'd1', '10.0.1.1', 5432, { healthy: false }),
    endpoint('legacy', 'l1', 'legacy.internal', 80),
    endpoint('Mixed.Case', 'm1', '10.0.2.1', 80),
  ],
  [
    member('12D3KooWAlive', 'alive', ['/ip4/127.0.0.1/tcp/4001', '/ip6/::1/tcp/4001']),
    member('12D3KooWDead', 'dead', ['/ip4/127.0.0.2/tcp/4001']),
  ],
);

beforeEach(async () => {
  server = await DnsServer.start({
    source,
    address: { host: '127.0.0.1', port: 0 },
    ttlSeconds: 7,
    random: () => 0,
  });
});
afterEach(async () => {
  await server.close();
});

const ask = (name: string, type: Parameters<typeof query>[1] = 'A') =>
  decode(server.handle(query(name, type), 'udp'));

describe('DNS answers', () => {
  it('NAME.service.smac: A records of the passing endpoints, one per address, with the TTL', () => {
    const r = ask('web.service.smac');
    expect(r.rcode).toBe('NOERROR');
    expect(r.flag_aa).toBe(true);
    expect(r.flag_rd).toBe(true);
    expect(r.answers?.map((a) => a.type === 'A' && [a.name, a.data, a.ttl]).sort()).toEqual(
      [
        ['web.service.smac', '10.0.0.1', 7],
        ['web.service.smac', '10.0.0.2', 7],
      ].sort(),
    );
  });

  it('AAAA answers the IPv6 endpoints', () => {
    const r = ask('web.service.smac', 'AAAA');
    expect(r.answers?.map((a) => a.type === 'AAAA' && a.data)).toEqual(['fd00::6']);
  });

  it('SRV gives ports and targets whose addresses come in the additional section', () => {
    const r = ask('web.service.smac', 'SRV');
    expect(r.rcode).toBe('NOERROR');
    const srv = sorted((r.answers ?? []).map((a) => (a.type === 'SRV' ? [a.data.port, a.data.target] : [])));
    expect(srv).toEqual(
      sorted([
        [8080, '0a000001.addr.smac'],
        [9090, '0a000001.addr.smac'],
        [8081, '0a000002.addr.smac'],
        [8086, 'fd000000000000000000000000000006.addr.smac'],
      ]),
    );
    const extra = sorted((r.additionals ?? []).map((a) => [a.name, a.type, (a as { data: unknown }).data]));
    expect(extra).toEqual(
      sorted([
        ['0a000001.addr.smac', 'A', '10.0.0.1'],
        ['0a000002.addr.smac', 'A', '10.0.0.2'],
        ['fd000000000000000000000000000006.addr.smac', 'AAAA', 'fd00::6'],
      ]),
    );
    // The targets resolve on their own too.
    expect(ask('0a000002.addr.smac').answers?.map((a) => a.type === 'A' && a.data)).toEqual(['10.0.0.2']);
  });

  it('the RFC 2782 form and an endpoint with a host name (SRV target is the name)', () => {
    const r = ask('_legacy._tcp.service.smac', 'SRV');
    expect(r.answers?.map((a) => a.type === 'SRV' && [a.data.port, a.data.target])).toEqual([
      [80, 'legacy.internal'],
    ]);
    expect(ask('legacy.service.smac').answers).toEqual([]);
  });

  it('NAME.service.REGION.smac restricts to the region; TAG.NAME to the tag', () => {
    expect(ask('web.service.us.smac').answers?.map((a) => a.type === 'A' && a.data)).toEqual(['10.0.0.2']);
    expect(ask('web.service.US.smac').answers?.map((a) => a.type === 'A' && a.data)).toEqual(['10.0.0.2']);
    expect(ask('v2.web.service.smac').answers?.map((a) => a.type === 'A' && a.data)).toEqual(['10.0.0.1']);
    const none = ask('web.service.mars.smac');
    expect([none.rcode, none.answers, none.authorities?.[0]?.type]).toEqual(['NOERROR', [], 'SOA']);
  });

  it('matches service names regardless of case', () => {
    expect(ask('mixed.case.service.smac').answers?.map((a) => a.type === 'A' && a.data)).toEqual([
      '10.0.2.1',
    ]);
  });

  it('an unknown service is NXDOMAIN; a service without passing endpoints is NODATA; both carry the SOA', () => {
    const nx = ask('nope.service.smac');
    expect(nx.rcode).toBe('NXDOMAIN');
    expect(nx.authorities?.map((a) => a.type === 'SOA' && [a.name, a.data.minimum])).toEqual([['smac', 7]]);
    const nodata = ask('db.service.smac');
    expect([nodata.rcode, nodata.answers?.length, nodata.authorities?.[0]?.type]).toEqual([
      'NOERROR',
      0,
      'SOA',
    ]);
    expect(ask('web.service.smac', 'MX').answers).toEqual([]);
    expect(ask('web.whatever.smac').rcode).toBe('NXDOMAIN');
  });

  it('ID.node.smac resolves a live member from its advertised addresses; a dead one has none', () => {
    expect(ask('12D3KooWAlive.node.smac').answers?.map((a) => a.type === 'A' && a.data)).toEqual([
      '127.0.0.1',
    ]);
    expect(ask('12d3koowalive.node.smac').answers?.map((a) => a.type === 'A' && a.data)).toEqual([
      '127.0.0.1',
    ]);
    expect(ask('12D3KooWAlive.node.smac', 'AAAA').answers?.map((a) => a.type === 'AAAA' && a.data)).toEqual([
      '::1',
    ]);
    const txt = ask('12D3KooWDead.node.smac', 'TXT').answers?.[0];
    expect(txt?.type === 'TXT' && (txt.data as Buffer[]).map(String)).toEqual(['status=dead', 'region=eu']);
    const dead = ask('12D3KooWDead.node.smac');
    expect([dead.rcode, dead.answers]).toEqual(['NOERROR', []]);
    expect(ask('12D3KooWNobody.node.smac').rcode).toBe('NXDOMAIN');
  });

  it('refuses names outside the zone and other classes; answers SOA at the apex', () => {
    expect(ask('example.com').rcode).toBe('REFUSED');
    expect(ask('smac', 'SOA').answers?.map((a) => a.type)).toEqual(['SOA']);
    expect(server.counters.rcodes).toMatchObject({ REFUSED: 1, NOERROR: 1 });
  });

  it('answers an EDNS query with EDNS', () => {
    const r = decode(
      server.handle(
        query('web.service.smac', 'A', {
          additionals: [
            {
              type: 'OPT',
              name: '.',
              udpPayloadSize: 1232,
              extendedRcode: 0,
              ednsVersion: 0,
              flags: 0,
              flag_do: false,
              options: [],
            },
          ],
        }),
        'udp',
      ),
    );
    expect(r.additionals?.map((a) => a.type)).toEqual(['OPT']);
  });
});
