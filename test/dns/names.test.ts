import { describe, expect, it } from 'vitest';
import { decodeAddr, encodeAddr, isDnsName, multiaddrIps, parseName, plainIp } from '../../src/dns/names.js';

describe('DNS names', () => {
  it.each([
    ['web.service.smac', { kind: 'service', name: 'web', region: undefined, tagged: undefined }],
    ['web.service.smac.', { kind: 'service', name: 'web', region: undefined, tagged: undefined }],
    ['WEB.Service.SMAC', { kind: 'service', name: 'WEB', region: undefined, tagged: undefined }],
    [
      'web.service.eu-central.smac',
      { kind: 'service', name: 'web', region: 'eu-central', tagged: undefined },
    ],
    [
      'v2.web.service.smac',
      { kind: 'service', name: 'v2.web', region: undefined, tagged: { tag: 'v2', name: 'web' } },
    ],
    ['_web._tcp.service.smac', { kind: 'service', name: 'web', region: undefined, tagged: undefined }],
    ['_web._tcp.service.us.smac', { kind: 'service', name: 'web', region: 'us', tagged: undefined }],
    ['12D3KooWabc.node.smac', { kind: 'node', id: '12D3KooWabc' }],
    ['7f000001.addr.smac', { kind: 'addr', ip: '127.0.0.1' }],
    ['smac', { kind: 'apex' }],
    ['smac.', { kind: 'apex' }],
    ['service.smac', { kind: 'unknown' }],
    ['x.y.node.smac', { kind: 'unknown' }],
    ['zz.addr.smac', { kind: 'unknown' }],
    ['web.other.smac', { kind: 'unknown' }],
    ['example.com', { kind: 'outside' }],
    ['', { kind: 'outside' }],
    ['.', { kind: 'outside' }],
  ])('%s', (qname, want) => {
    expect(parseName(qname)).toEqual(want);
  });

  it('writes addresses as .addr. labels and reads them back', () => {
    expect(encodeAddr('10.0.0.1')).toBe('0a000001');
    expect(decodeAddr('0a000001')).toBe('10.0.0.1');
    expect(encodeAddr('::1')).toBe('00000000000000000000000000000001');
    expect(decodeAddr('00000000000000000000000000000001')).toBe('0:0:0:0:0:0:0:1');
    expect(encodeAddr('2001:db8::ff00:42:8329')).toBe('20010db8000000000000ff0000428329');
    expect(encodeAddr('::ffff:10.0.0.1')).toBe('00000000000000000000ffff0a000001');
    expect(encodeAddr('fe80::1%eth0')).toBeUndefined();
    expect(encodeAddr('db.internal')).toBeUndefined();
    expect(decodeAddr('0a00001')).toBeUndefined();
  });

  it('finds the IPs of endpoint addresses and member multiaddrs', () => {
    expect(plainIp('[::1]')).toEqual({ ip: '::1', family: 6 });
    expect(plainIp('10.1.2.3')).toEqual({ ip: '10.1.2.3', family: 4 });
    expect(plainIp('db.internal')).toBeUndefined();
    expect(
      multiaddrIps([
        '/ip4/127.0.0.1/tcp/1',
        '/ip4/127.0.0.1/tcp/2',
        '/ip6/::1/tcp/3',
        '/dns4/x/tcp/4',
        'junk',
      ]),
    ).toEqual([
      { ip: '127.0.0.1', family: 4 },
      { ip: '::1', family: 6 },
    ]);
    expect(isDnsName('a'.repeat(63) + '.smac')).toBe(true);
    expect(isDnsName('a'.repeat(64) + '.smac')).toBe(false);
    expect(isDnsName('a..b')).toBe(false);
  });
});
