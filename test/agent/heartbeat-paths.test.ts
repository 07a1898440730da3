// Issue 8: idle agents of one build exchange heartbeats on direct streams, once per peer, not
// through the gossipsub mesh (where each agent received each beat about six times at N = 10),
// and an unchanged beat goes as a reference. Before the change every beat was published on
// gossip: the same window on the previous build (gossip counters read from the private
// HeartbeatGossip) failed with "expected [ 0, 2, 2 ] to deeply equal [ 0, 0, 0 ]" for the
// beats each agent published.
import { afterEach, describe, expect, it } from 'vitest';
import type { Agent } from '../../src/agent/agent.js';
import { startCluster, stopAll, waitConnected, waitFor } from './helpers.js';

let agents: Agent[] = [];
afterEach(() => stopAll(agents.splice(0)));

describe('heartbeat paths', () => {
  it('carries beats between agents of this build on direct streams only', async () => {
    agents = await startCluster(3);
    await waitConnected(agents, 2);
    await waitFor(
      () => agents.every((a) => a.heartbeats.heardFrom().size === 2),
      'every agent heard the others',
    );
    // Until identify has told an agent that a peer takes direct beats, that peer gets gossip:
    // wait until a beat has gone to every peer directly.
    await waitFor(
      () => agents.every((a) => (a.heartbeats.pathStats().direct?.sentBeats ?? 0) >= 2),
      'a direct beat to every peer',
    );
    const before = agents.map((a) => a.heartbeats.pathStats());
    // A refresh (every 10 intervals of 200 ms here) goes to each peer as a reference.
    await waitFor(
      () =>
        agents.every(
          (a, i) => a.heartbeats.pathStats().direct!.receivedRefs >= before[i]!.direct!.receivedRefs + 2,
        ),
      'a reference from each peer at every agent',
    );
    const after = agents.map((a) => a.heartbeats.pathStats());
    expect(after.map((s, i) => s.gossip.published - before[i]!.gossip.published)).toEqual([0, 0, 0]);
    expect(after.map((s, i) => s.gossip.received - before[i]!.gossip.received)).toEqual([0, 0, 0]);
    for (const s of after) {
      expect(s.direct!.rejectedForged + s.direct!.rejectedInvalid + s.direct!.unknownRefs).toBe(0);
    }
    // What the references stand for still counts as heard: every peer's clock is known.
    const ids = agents.map((a) => a.peerId);
    for (const a of agents)
      expect([...a.heartbeats.heardFrom().keys()].sort()).toEqual(ids.filter((id) => id !== a.peerId).sort());
  });
});
