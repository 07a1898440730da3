// A member that goes silent without closing its connections (SIGSTOP: the kernel keeps its TCP
// connections open, as a partitioned link does) is declared dead, and the agents that declared
// it dead close their connections to it: libp2p's connection monitor, which used to close such
// connections after a failed ping, is off (src/net/node.ts; issue 8: its pings were half of an
// idle agent's bytes at N = 10). Once it runs again it is alive everywhere: it finds its
// connections gone and dials again. With the monitor off and without the closing, the first
// wait failed: a kept a connection to c (`connected: true`) until the wait's bound.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ClusterAgent, startThreeAgents, stopAgents, waitFor } from '../support/three-agents.js';

let agents: ClusterAgent[] = [];
beforeAll(async () => {
  agents = await startThreeAgents();
}, 120_000);
afterAll(() => {
  stopAgents(agents);
});

describe('a silent member', () => {
  it('is declared dead, its connections are closed, and it comes back once it runs again', async () => {
    const [a, b, c] = agents as [ClusterAgent, ClusterAgent, ClusterAgent];
    const before = (await a.client.members()).members.find((x) => x.id === c.peerId)!.incarnation;
    c.proc.process.kill('SIGSTOP');
    try {
      for (const p of [a, b]) {
        await waitFor(
          () => p.client.members(),
          (m) => m.members.find((x) => x.id === c.peerId)?.status === 'dead',
          `${p.name} to hold c dead`,
        );
        await waitFor(
          () => p.client.status(),
          (s) => s.peers.every((x) => x.peerId !== c.peerId || !x.connected),
          `${p.name} to close its connections to c`,
        );
      }
    } finally {
      c.proc.process.kill('SIGCONT');
    }
    for (const p of [a, b]) {
      const m = await waitFor(
        () => p.client.members(),
        (x) => x.members.find((y) => y.id === c.peerId)?.status === 'alive',
        `c alive again at ${p.name}`,
        60_000,
      );
      expect(m.members.find((y) => y.id === c.peerId)!.incarnation).toBeGreaterThan(before);
    }
  }, 180_000);
});
