// An agent restarted on its store after its peers declared it gone comes back above the
// incarnation they hold it gone at (issue 7/8, chaos seed 103): they take its first alive, and
// it never has to refute. Before, it restarted at that same incarnation, which does not override
// dead or left (SWIM §4.2), and stayed dead until the accusation reached it and it refuted.
import { afterEach, describe, expect, it } from 'vitest';
import { Agent } from '../../src/agent/agent.js';
import { FAST_OPTIONS, listenOf, startFastCluster, stopAll, waitConnected, waitFor } from './helpers.js';

let agents: Agent[] = [];
afterEach(() => stopAll(agents.splice(0)));

const memberAt = (viewer: Agent, id: string) => viewer.members().members.find((m) => m.id === id);

describe('a restarted agent', () => {
  it('is alive again at its peers without refuting their verdict', async () => {
    agents = await startFastCluster(3);
    await waitConnected(agents, 2);
    const [a, b, c] = agents as [Agent, Agent, Agent];
    await waitFor(() => [a, b].every((x) => memberAt(x, c.peerId)?.status === 'alive'), 'c alive');
    const before = memberAt(a, c.peerId)!.incarnation;

    // c stops (gracefully: it leaves; left, like dead, is final for its incarnation) and
    // restarts on its store, which keeps its record.
    const listen = listenOf(c);
    await c.stop();
    await waitFor(() => [a, b].every((x) => memberAt(x, c.peerId)?.status === 'left'), 'c left at a and b');
    expect([a, b].map((x) => memberAt(x, c.peerId)!.incarnation)).toEqual([before, before]);

    const c2 = await Agent.start({ ...c.config, listen, join: a.addresses() }, FAST_OPTIONS);
    agents[2] = c2;
    expect(c2.members().members.find((m) => m.id === c2.peerId)!.incarnation).toBeGreaterThan(before);
    await waitFor(
      () => [a, b].every((x) => memberAt(x, c2.peerId)?.status === 'alive'),
      'c alive again at a and b',
    );
    expect(c2.members().probes.refutations).toBe(0);
  });
});
