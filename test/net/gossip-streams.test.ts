// GossipStreams (src/net/gossip-streams.ts) against a stand-in for gossipsub's state: when it
// re-opens a missing outbound stream, how often, and what it reports. The agent test
// (test/agent/gossip-outbound.test.ts) runs it against the real gossipsub.
import type { GossipSub } from '@libp2p/gossipsub';
import type { Connection, PeerId } from '@libp2p/interface';
import { describe, expect, it } from 'vitest';
import { GossipStreams } from '../../src/net/gossip-streams.js';

const peer = (id: string): PeerId => ({ toString: () => id }) as unknown as PeerId;
const conn = (id: string, status = 'open'): Connection =>
  ({ remotePeer: peer(id), status }) as unknown as Connection;

function rig(opts: { withReopen?: boolean } = {}) {
  const reopened: string[] = [];
  const warnings: string[] = [];
  const fake = {
    peers: new Map<string, PeerId>([
      ['p1', peer('p1')],
      ['p2', peer('p2')],
    ]),
    streamsOutbound: new Map<string, object>([
      ['p1', {}],
      ['p2', {}],
    ]),
    ...(opts.withReopen === false
      ? {}
      : {
          onPeerConnected(p: PeerId) {
            reopened.push(p.toString());
          },
        }),
  };
  let connections = [conn('p1'), conn('p2'), conn('p3')]; // p3 speaks no gossipsub
  const counters = { gossipStreamsReopened: 0 };
  const streams = new GossipStreams({
    pubsub: fake as unknown as GossipSub,
    connections: () => connections,
    log: {
      info: () => undefined,
      debug: () => undefined,
      warn: (...args: unknown[]) => {
        warnings.push(String(args[1]));
      },
    },
    counters,
  });
  return {
    fake,
    streams,
    reopened,
    warnings,
    counters,
    setConnections: (c: Connection[]) => {
      connections = c;
    },
  };
}

describe('GossipStreams', () => {
  it('re-opens a stream missing at two checks in a row, and reports it once it is back', () => {
    const r = rig();
    expect(r.streams.check()).toEqual([]);
    r.fake.streamsOutbound.delete('p2');
    expect(r.streams.check()).toEqual([]);
    expect(r.reopened).toEqual([]); // one miss: gossipsub may be opening it
    expect(r.streams.check()).toEqual([]);
    expect(r.reopened).toEqual(['p2']);
    expect(r.counters.gossipStreamsReopened).toBe(1);
    r.fake.streamsOutbound.set('p2', {});
    expect(r.streams.check()).toEqual(['p2']);
    expect(r.streams.check()).toEqual([]);
  });

  it('backs off for a stream that does not come back: attempts after 2, 4, 8 ... 32 checks', () => {
    const r = rig();
    r.fake.streamsOutbound.delete('p1');
    const attemptsAt: number[] = [];
    for (let i = 1; i <= 120; i++) {
      const before = r.reopened.length;
      r.streams.check();
      if (r.reopened.length > before) attemptsAt.push(i);
    }
    const gaps = attemptsAt.slice(1).map((at, i) => at - attemptsAt[i]!);
    expect(attemptsAt[0]).toBe(2);
    expect(gaps.slice(0, 5)).toEqual([4, 8, 16, 32, 32]);
  });

  it('leaves alone peers without an open connection and peers gossipsub does not track', () => {
    const r = rig();
    r.fake.streamsOutbound.clear();
    r.fake.peers.delete('p2');
    r.setConnections([conn('p1', 'closing'), conn('p2'), conn('p3')]);
    for (let i = 0; i < 5; i++) r.streams.check();
    expect(r.reopened).toEqual([]);
  });

  it('says once when gossipsub offers no way to re-open a stream', () => {
    const r = rig({ withReopen: false });
    r.fake.streamsOutbound.clear();
    for (let i = 0; i < 40; i++) r.streams.check();
    expect(r.warnings).toHaveLength(1);
    expect(r.counters.gossipStreamsReopened).toBe(0);
  });
});
