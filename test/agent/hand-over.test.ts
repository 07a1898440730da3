// A graceful leave hands over the leaving agent's own events that its peers may lack
// (src/agent/hand-over.ts): gossip may have lost them, and a stopped agent answers no pulls.
import { afterEach, describe, expect, it } from 'vitest';
import { Agent } from '../../src/agent/agent.js';
import { quiet, stopAll, testConfig, waitFor } from './helpers.js';

// No gossip and no periodic anti-entropy: the only way b learns a's writes is the hand-over.
const QUIET_REPAIR = { gossip: false, syncIntervalMs: 600_000, heartbeatIntervalMs: 600_000 };

describe('a graceful leave', () => {
  const agents: Agent[] = [];
  afterEach(async () => {
    await stopAll(agents.splice(0));
  });

  it('pushes the events only it holds to its peers before it goes', async () => {
    const a = await Agent.start(testConfig(QUIET_REPAIR), { logger: quiet });
    agents.push(a);
    const b = await Agent.start(testConfig({ ...QUIET_REPAIR, join: a.addresses() }), { logger: quiet });
    agents.push(b);
    await waitFor(() => b.connectedPeers().includes(a.peerId), 'b connected to a');
    // b's pull on connecting brought a's member record: that pull is over before a writes.
    const members = (): string => JSON.stringify(b.read('aw-set', '_sys/members')?.value ?? []);
    await waitFor(() => members().includes(a.peerId), "b holding a's member record");
    for (let i = 0; i < 5; i++)
      await a.write([{ type: 'pn-counter', key: 'left/hits', op: { kind: 'increment', by: 1 } }]);
    expect(b.read('pn-counter', 'left/hits')).toBeUndefined();
    const origin = a.status().origin;
    await a.stop();
    // Its member record's leave is its last event: b holds everything a wrote.
    expect(b.read('pn-counter', 'left/hits')?.value).toBe(5);
    expect(b.clock().get(origin)).toBe(a.clock().get(origin));
  });
});
