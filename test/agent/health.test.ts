// Health monitoring between real agents: a member that stops answering is suspected and then
// declared dead everywhere, its record leaves `_sys/members`; once it is back it refutes with
// a higher incarnation and is alive again; a graceful leave is "left", not "dead"; a dropped
// connection to a live member is redialled and suspects nobody, and one that cannot be
// redialled moves that member's probe forward.
import { afterEach, describe, expect, it } from 'vitest';
import { Agent } from '../../src/agent/agent.js';
import { membersRouteModule } from '../../src/api/routes/members.js';
import { createApiApp } from '../../src/api/server.js';
import { realAgentPort } from '../api/helpers.js';
import { startCluster, startFastCluster, stopAll, waitConnected, waitFor } from './helpers.js';

let agents: Agent[] = [];
afterEach(() => stopAll(agents.splice(0)));

const statusOf = (viewer: Agent, id: string) => viewer.members().members.find((m) => m.id === id)?.status;

describe('health monitoring', () => {
  it('lists every member as alive, with its region', async () => {
    agents = await startCluster(3, { region: 'eu-central' });
    await waitFor(
      () => agents.every((a) => a.members().members.filter((m) => m.status === 'alive').length === 3),
      'all alive',
    );
    expect(agents[0]!.members().members.map((m) => m.region)).toEqual([
      'eu-central',
      'eu-central',
      'eu-central',
    ]);
  });

  it('declares an unreachable member dead everywhere, then it refutes and is alive again', async () => {
    agents = await startFastCluster(3);
    await waitConnected(agents, 2);
    const [a, b, c] = agents as [Agent, Agent, Agent];
    await waitFor(() => [a, b].every((x) => statusOf(x, c.peerId) === 'alive'), 'c alive');
    const before = a.members().members.find((m) => m.id === c.peerId)!.incarnation;
    await c.isolate(true);
    await waitFor(() => [a, b].every((x) => statusOf(x, c.peerId) === 'dead'), 'c declared dead by a and b');
    expect(a.liveness.isAlive(c.peerId)).toBe(false);
    expect(a.members().transitions.some((t) => t.id === c.peerId && t.to === 'suspect')).toBe(true);
    // Its record is removed from the replicated member set.
    const records = () =>
      (a.read('aw-set', '_sys/members')?.value as { id: string }[]).filter((r) => r.id === c.peerId);
    await waitFor(() => records().length === 0, "c's record to leave _sys/members");
    await c.isolate(false);
    await waitFor(
      () => [a, b].every((x) => statusOf(x, c.peerId) === 'alive'),
      'c alive again after refuting',
    );
    await waitFor(() => records().length === 1, "c's record back in _sys/members");
    expect(a.members().members.find((m) => m.id === c.peerId)!.incarnation).toBeGreaterThan(before);
  });

  it('marks a member that leaves gracefully as left, not dead', async () => {
    agents = await startFastCluster(3);
    await waitConnected(agents, 2);
    const [a, , c] = agents as [Agent, Agent, Agent];
    await waitFor(() => statusOf(a, c.peerId) === 'alive', 'c alive');
    await c.stop();
    await waitFor(() => statusOf(a, c.peerId) === 'left', 'c left');
    expect(
      a
        .members()
        .transitions.filter((t) => t.id === c.peerId)
        .map((t) => t.to),
    ).not.toContain('dead');
  });

  it('redials a live member whose connection drops: no probe out of turn, no suspicion', async () => {
    agents = await startCluster(3);
    await waitConnected(agents, 2);
    const [a, , c] = agents as [Agent, Agent, Agent];
    await waitFor(() => statusOf(a, c.peerId) === 'alive', 'c alive at a');
    await Promise.all(a.node.getConnections(c.node.peerId).map((conn) => conn.close()));
    await waitFor(() => a.members().probes.transport.redials >= 1, 'a redials c');
    await waitFor(() => a.connectedPeers().includes(c.peerId), 'a connected to c again');
    const after = a.members().probes.probes + 2;
    await waitFor(() => a.members().probes.probes >= after, 'two more probes', 30_000);
    expect(a.members().probes.probesOutOfTurn).toBe(0);
    expect(a.members().transitions.filter((t) => t.id === c.peerId && t.to !== 'alive')).toEqual([]);
  });

  it('probes a member out of turn when its connection drops and it cannot be redialled', async () => {
    agents = await startCluster(3);
    await waitConnected(agents, 2);
    const [a, , c] = agents as [Agent, Agent, Agent];
    await waitFor(() => statusOf(a, c.peerId) === 'alive', 'c alive at a');
    expect(a.members().probes.probesOutOfTurn).toBe(0);
    await c.node.stop(); // its process goes on, but nothing reaches it: as after a crash
    await waitFor(() => a.members().probes.probesOutOfTurn >= 1, 'a probe of c out of turn');
    await waitFor(() => statusOf(a, c.peerId) !== 'alive', 'c suspected', 30_000);
    const app = await createApiApp({ agent: realAgentPort(a), routes: [membersRouteModule(a)] });
    try {
      const r = await app.inject({ method: 'GET', url: '/v1/members' });
      expect(r.json().probes.probesOutOfTurn).toBeGreaterThanOrEqual(1);
    } finally {
      await app.close();
    }
  });
});
