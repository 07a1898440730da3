// A connected member that gossip does not reach (it has not subscribed to the events topic,
// as on a connection just made after a partition heals) still gets new writes at once, by a
// direct push (src/agent/gossip-gap.ts), not only by repair.
import { afterEach, describe, expect, it } from 'vitest';
import { Agent } from '../../src/agent/agent.js';
import { quiet, stopAll, testConfig, waitFor } from './helpers.js';

// No periodic anti-entropy and no heartbeats showing a ahead: repair would not run for minutes.
const QUIET_REPAIR = { syncIntervalMs: 600_000, heartbeatIntervalMs: 600_000 };

describe('new writes to a member gossip does not reach', () => {
  const agents: Agent[] = [];
  afterEach(async () => {
    await stopAll(agents.splice(0));
  });

  it('are pushed to it directly', async () => {
    const a = await Agent.start(testConfig({ ...QUIET_REPAIR, gossip: true }), { logger: quiet });
    agents.push(a);
    // b never subscribes to the events topic: gossip from a cannot reach it.
    const b = await Agent.start(testConfig({ ...QUIET_REPAIR, gossip: false, join: a.addresses() }), {
      logger: quiet,
    });
    agents.push(b);
    await waitFor(() => b.connectedPeers().includes(a.peerId), 'b connected to a');
    const members = (agent: Agent): string =>
      JSON.stringify(agent.read('aw-set', '_sys/members')?.value ?? []);
    // Each side's pull on connecting brought the other's member record; those pulls are over.
    await waitFor(() => members(b).includes(a.peerId) && members(a).includes(b.peerId), 'records exchanged');
    await a.write([{ type: 'pn-counter', key: 'gap/hits', op: { kind: 'increment', by: 3 } }]);
    await waitFor(() => b.read('pn-counter', 'gap/hits')?.value === 3, "b holding a's write", 20_000);
    expect(b.clock().get(a.status().origin)).toBe(a.clock().get(a.status().origin));
  });
});
