// Partitions and peer exchange: an isolated agent keeps accepting writes, and after the
// partition heals everything converges; agents that joined through one seed meet each other.
import { afterEach, describe, expect, it } from 'vitest';
import type { Agent } from '../../src/agent/agent.js';
import {
  opsForEveryType,
  startCluster,
  stopAll,
  waitConnected,
  waitConverged,
  waitFor,
  writesSeen,
} from './helpers.js';

let agents: Agent[] = [];
afterEach(() => stopAll(agents.splice(0)));

describe('partition', () => {
  it('an isolated agent stays writable; after healing all converge', async () => {
    agents = await startCluster(3);
    await waitConnected(agents, 1);
    const [a, b, c] = agents as [Agent, Agent, Agent];
    await c.isolate(true);
    await waitFor(() => c.connectedPeers().length === 0, 'c to be cut off');
    for (let i = 0; i < 20; i++) {
      await Promise.all([
        a.write(opsForEveryType(i)),
        b.write(opsForEveryType(i + 1)),
        c.write(opsForEveryType(i + 2)),
      ]);
    }
    // The majority side converges without c; c holds only its own writes.
    await waitConverged([a, b]);
    expect(writesSeen(a)).toBe(40);
    expect(writesSeen(c)).toBe(20);
    await c.isolate(false);
    await waitConverged(agents);
    for (const x of agents) expect(writesSeen(x)).toBe(60);
  });
});

describe('peer exchange', () => {
  it('agents that joined through one seed connect to each other', async () => {
    agents = await startCluster(4);
    await waitConnected(agents, 3);
    expect(agents.every((x) => x.connectedPeers().length === 3)).toBe(true);
  });
});
