// Issue 8: an idle cluster must not re-send unchanged heartbeats every interval (each carries a
// whole clock and member list, and every member receives every member's beats). Before, every
// `send` published: "expected 6 to be 2" for the six sends of an unchanged agent below.
import type { PeerId } from '@libp2p/interface';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import type { DirectBeat, HeartbeatDirect } from '../../src/agent/heartbeat-direct.js';
import { decodeHeartbeat } from '../../src/agent/heartbeat.js';
import { heartbeatRefreshMs, Heartbeats } from '../../src/agent/heartbeats.js';
import type { StabilityView } from '../../src/agent/stability-view.js';
import type { HeartbeatGossip } from '../../src/net/gossip.js';
import type { SmacNode } from '../../src/net/node.js';

const peer = (id: string): PeerId => ({ toString: () => id }) as unknown as PeerId;

/** A node with `connected` peers and a heartbeat gossip that records what it publishes. */
function fakes(connected: () => string[], subscribers: () => string[]) {
  const published: Uint8Array[] = [];
  const node = {
    getConnections: () => connected().map((id) => ({ remotePeer: peer(id) })),
    peerStore: { get: () => Promise.resolve({ addresses: [] }) },
  } as unknown as SmacNode;
  const gossip = {
    publish: (bytes: Uint8Array) => {
      published.push(bytes);
      return Promise.resolve(1);
    },
    subscribers: () => subscribers().map(peer),
  } as unknown as HeartbeatGossip;
  return { published, node, gossip };
}

function rig(refreshMs = 10_000) {
  const state = { now: 0, vc: new Map([['self~e', 1]]), connected: ['p1', 'p2'], subscribers: ['p1', 'p2'] };
  const { published, node, gossip } = fakes(
    () => state.connected,
    () => state.subscribers,
  );
  const hb = new Heartbeats({
    self: 'self',
    region: 'r',
    node,
    gossip,
    log: pino({ level: 'silent' }),
    now: () => state.now,
    clock: () => state.vc,
    buffered: () => 0,
    isolated: () => false,
    view: undefined as unknown as StabilityView, // not read when sending
    members: () => [],
    counters: { heartbeatsReceived: 0, badHeartbeats: 0, refusedPeers: 0, refusedDiverged: 0 },
    onBehind: () => undefined,
    refreshMs: () => refreshMs,
  });
  /** One interval: advance the clock, send, and let the send's promises settle. */
  const beat = async (leaving = false): Promise<void> => {
    state.now += 1_000;
    void hb.send(leaving);
    for (let i = 0; i < 10; i++) await new Promise((r) => setImmediate(r));
  };
  const beats = async (n: number): Promise<void> => {
    for (let i = 0; i < n; i++) await beat();
  };
  return { state, published, hb, beat, beats };
}

describe('heartbeats skip unchanged beats (issue 8)', () => {
  it('sends a beat and its echo, then nothing until the refresh is due', async () => {
    const { published, hb, beat } = rig(10_000);
    for (let i = 0; i < 6; i++) await beat();
    expect(published).toHaveLength(2);
    expect(hb.sendStats()).toEqual({ published: 2, skipped: 4 });
    // Ten intervals after the echo, the refresh goes out (the same content).
    for (let i = 0; i < 5; i++) await beat();
    expect(published).toHaveLength(2);
    await beat();
    expect(published).toHaveLength(3);
    expect(decodeHeartbeat(published[2]!)?.vc.get('self~e')).toBe(1);
    // A refresh leaves the peers out (they went out with the change and its echo)...
    expect(decodeHeartbeat(published[1]!)?.peers.map((p) => p.id)).toEqual(['p1', 'p2']);
    expect(decodeHeartbeat(published[2]!)?.peers).toEqual([]);
    // ...but names them again a minute after they last went out.
    for (let i = 0; i < 60; i++) await beat();
    const withPeers = published.slice(3).map((b) => decodeHeartbeat(b)?.peers.length);
    expect(withPeers).toEqual([0, 0, 0, 0, 2, 0]);
  });

  it('sends at once when the clock changes, and once more after it', async () => {
    const { state, published, beats } = rig();
    await beats(3);
    expect(published).toHaveLength(2);
    state.vc = new Map([['self~e', 2]]);
    await beats(3);
    expect(published).toHaveLength(4);
    expect(published.slice(2).map((b) => decodeHeartbeat(b)?.vc.get('self~e'))).toEqual([2, 2]);
  });

  it('sends when a peer connects or subscribes, and always when leaving', async () => {
    const { state, published, beat, beats } = rig();
    await beats(3);
    expect(published).toHaveLength(2);
    state.subscribers = [...state.subscribers, 'p3']; // a new subscriber has not heard us yet
    await beat();
    expect(published).toHaveLength(3);
    await beat(); // its echo
    state.connected = [...state.connected, 'p4']; // a new peer to tell the others of
    await beat();
    expect(published).toHaveLength(5);
    expect(decodeHeartbeat(published[4]!)?.peers.map((p) => p.id)).toContain('p4');
    await beat();
    await beat();
    expect(published).toHaveLength(6);
    await beat(true);
    expect(published).toHaveLength(7);
    expect(decodeHeartbeat(published[6]!)?.leaving).toBe(true);
  });

  it('refreshes every 10 intervals or one per member, within a quarter of reapAfterMs', () => {
    expect(heartbeatRefreshMs(1_000, 72 * 3_600_000)).toBe(10_000);
    expect(heartbeatRefreshMs(100, 1_000)).toBe(250);
    expect(heartbeatRefreshMs(1_000, 1_000)).toBe(1_000);
    // A larger cluster refreshes one interval per member: about one beat an interval in all.
    expect(heartbeatRefreshMs(1_000, 72 * 3_600_000, 10)).toBe(10_000);
    expect(heartbeatRefreshMs(1_000, 72 * 3_600_000, 30)).toBe(30_000);
    expect(heartbeatRefreshMs(1_000, 40_000, 30)).toBe(10_000);
  });
});

describe('heartbeats on direct streams and gossip (issue 8)', () => {
  function directRig(direct: string[], subscribers: string[]) {
    const state = { now: 0, vc: new Map([['self~e', 1]]) };
    const { published, node, gossip } = fakes(
      () => subscribers,
      () => subscribers,
    );
    const sends: { content: string; peers: readonly string[]; due: boolean }[] = [];
    const fake = {
      targets: () => Promise.resolve(direct),
      send: (beat: DirectBeat, peers: readonly string[], due: boolean) => {
        sends.push({ content: beat.contentKey, peers, due });
      },
    } as unknown as HeartbeatDirect;
    const hb = new Heartbeats({
      self: 'self',
      region: 'r',
      node,
      gossip,
      direct: fake,
      log: pino({ level: 'silent' }),
      now: () => state.now,
      clock: () => state.vc,
      buffered: () => 0,
      isolated: () => false,
      view: undefined as unknown as StabilityView,
      members: () => [],
      counters: { heartbeatsReceived: 0, badHeartbeats: 0, refusedPeers: 0, refusedDiverged: 0 },
      onBehind: () => undefined,
      refreshMs: () => 10_000,
    });
    const beats = async (n: number): Promise<void> => {
      for (let i = 0; i < n; i++) {
        state.now += 1_000;
        await hb.send(false);
      }
    };
    return { state, published, sends, beats };
  }

  it('sends nothing through the gossip mesh when every subscriber takes direct beats', async () => {
    const { published, sends, beats } = directRig(['p1', 'p2'], ['p1', 'p2']);
    await beats(6);
    expect(published).toHaveLength(0);
    // Every interval hands the beat to the direct path, due only for the beat, its echo and the refresh.
    expect(sends.map((s) => s.due)).toEqual([true, true, false, false, false, false]);
    expect(sends[0]!.peers).toEqual(['p1', 'p2']);
    expect(decodeHeartbeat(new TextEncoder().encode(sends[0]!.content))?.vc.get('self~e')).toBe(1);
  });

  it('gossips to a subscriber of an older build, and to nobody else on its behalf', async () => {
    const { published, sends, beats } = directRig(['p1'], ['p1', 'old']);
    await beats(3);
    expect(published).toHaveLength(2); // the beat and its echo, as before
    expect(sends.map((s) => s.peers)).toEqual([['p1'], ['p1'], ['p1']]);
  });
});
