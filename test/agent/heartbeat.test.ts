import { describe, expect, it } from 'vitest';
import {
  decodeHeartbeat,
  encodeHeartbeat,
  MAX_EXCHANGED_PEERS,
  MAX_NAMED_MEMBERS,
} from '../../src/agent/heartbeat.js';

const enc = (o: unknown) => new TextEncoder().encode(JSON.stringify(o));

describe('heartbeat codec', () => {
  it('round-trips', () => {
    const hb = {
      vc: new Map([['a', 3]]),
      region: 'eu',
      leaving: false,
      peers: [{ id: 'p', addrs: ['/ip4/127.0.0.1/tcp/1'] }],
    };
    expect(decodeHeartbeat(encodeHeartbeat(hb))).toEqual(hb);
  });

  it('carries the members the sender knows first-hand; a malformed list is no list (issue 7)', () => {
    const hb = { vc: new Map([['a', 1]]), region: 'eu', leaving: false, peers: [], members: ['b', 'c'] };
    expect(decodeHeartbeat(encodeHeartbeat(hb))?.members).toEqual(['b', 'c']);
    // Earlier releases send none: the beat still counts, and names nobody.
    expect(decodeHeartbeat(enc({ v: 1, vc: {}, region: 'r' }))?.members).toBeUndefined();
    for (const members of [
      [1],
      [''],
      'b',
      Array.from({ length: MAX_NAMED_MEMBERS + 1 }, (_, i) => `p${i}`),
    ]) {
      const back = decodeHeartbeat(enc({ v: 1, vc: { a: 2 }, region: 'r', members }));
      expect(back?.vc.get('a')).toBe(2);
      expect(back?.members).toBeUndefined();
    }
  });

  it('carries the folded (compacted) clock as counts along vc; a malformed one is none', () => {
    const hb = {
      vc: new Map([
        ['a', 9],
        ['b', 3],
      ]),
      region: 'eu',
      leaving: false,
      peers: [],
      // c: an epoch vc leaves out (retired) is left out here too
      folded: new Map([
        ['a', 4],
        ['c', 2],
      ]),
    };
    const bytes = encodeHeartbeat(hb);
    expect(JSON.parse(new TextDecoder().decode(bytes))).toMatchObject({ vc: { a: 9, b: 3 }, folded: [4, 0] });
    expect(decodeHeartbeat(bytes)?.folded).toEqual(new Map([['a', 4]]));
    // Nothing folded: left out, which says the same.
    expect(
      JSON.parse(new TextDecoder().decode(encodeHeartbeat({ ...hb, folded: new Map() }))),
    ).not.toHaveProperty('folded');
    expect(decodeHeartbeat(enc({ v: 1, vc: {}, region: 'r' }))?.folded).toBeUndefined();
    for (const folded of [{ a: 1 }, 'x', [-1], [3], [1, 1], [1.5], [0]]) {
      const back = decodeHeartbeat(enc({ v: 1, vc: { a: 2 }, region: 'r', folded }));
      expect(back?.vc.get('a')).toBe(2);
      expect(back?.folded).toBeUndefined();
    }
  });

  it('says whether the sender merges diverged peers; anything but 1 on the wire is no', () => {
    const hb = { vc: new Map([['a', 1]]), region: 'r', leaving: false, peers: [] };
    const bytes = encodeHeartbeat({ ...hb, merges: true });
    expect(JSON.parse(new TextDecoder().decode(bytes))).toMatchObject({ merges: 1 });
    expect(decodeHeartbeat(bytes)?.merges).toBe(true);
    expect(JSON.parse(new TextDecoder().decode(encodeHeartbeat(hb)))).not.toHaveProperty('merges');
    for (const merges of [true, 'yes', 2, 0, null]) {
      const back = decodeHeartbeat(enc({ v: 1, vc: { a: 2 }, region: 'r', merges }));
      expect(back?.vc.get('a')).toBe(2);
      expect(back?.merges).toBeUndefined();
    }
  });

  it('bounds what it sends', () => {
    const peers = Array.from({ length: 50 }, (_, i) => ({ id: `p${i}`, addrs: ['/ip4/127.0.0.1/tcp/1'] }));
    const back = decodeHeartbeat(encodeHeartbeat({ vc: new Map(), region: 'r', leaving: true, peers }));
    expect(back?.peers).toHaveLength(MAX_EXCHANGED_PEERS);
    expect(back?.leaving).toBe(true);
  });

  it.each([
    ['not JSON', new Uint8Array([0xff, 0x00])],
    ['wrong version', enc({ v: 2, vc: {}, region: 'r' })],
    ['bad clock', enc({ v: 1, vc: { a: -1 }, region: 'r' })],
    ['long region', enc({ v: 1, vc: {}, region: 'x'.repeat(300) })],
    ['bad peer list', enc({ v: 1, vc: {}, region: 'r', peers: [{ id: 'p', addrs: ['not-a-multiaddr'] }] })],
    [
      'too many peers',
      enc({ v: 1, vc: {}, region: 'r', peers: Array.from({ length: 40 }, () => ({ id: 'p', addrs: [] })) }),
    ],
  ])('rejects %s', (_name, bytes) => {
    expect(decodeHeartbeat(bytes)).toBeUndefined();
  });
});
