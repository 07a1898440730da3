// Replication between real agents on loopback: every CRDT type converges under concurrent
// writes at 3 and 5 agents, with gossip and with anti-entropy alone.
import { afterEach, describe, expect, it } from 'vitest';
import type { Agent } from '../../src/agent/agent.js';
import {
  opsForEveryType,
  startCluster,
  stopAll,
  waitConnected,
  waitConverged,
  writesSeen,
} from './helpers.js';

let agents: Agent[] = [];
afterEach(() => stopAll(agents.splice(0)));

async function writeConcurrently(cluster: readonly Agent[], rounds: number): Promise<number> {
  let writes = 0;
  for (let round = 0; round < rounds; round++) {
    await Promise.all(
      cluster.map((a, i) => {
        writes++;
        return a.write(opsForEveryType(round * cluster.length + i));
      }),
    );
  }
  return writes;
}

describe('agents replicate', () => {
  it.each([3, 5])('%i agents writing concurrently to every type converge', async (n) => {
    agents = await startCluster(n);
    await waitConnected(agents, 1);
    const writes = await writeConcurrently(agents, 20);
    await waitConverged(agents);
    for (const a of agents) expect(writesSeen(a)).toBe(writes);
    expect(
      agents[0]!
        .list()
        .filter((o) => !o.key.startsWith('_sys/'))
        .map((o) => o.type),
    ).toEqual(['pn-counter', 'ew-flag', 'mv-register', 'or-map', 'lww-register', 'aw-set', 'rw-set']);
    for (const a of agents) expect(a.status().counters.rejectedEvents).toBe(0);
  });

  it('converges through anti-entropy alone when gossip is disabled', async () => {
    agents = await startCluster(3, { gossip: false });
    await waitConnected(agents, 1);
    const writes = await writeConcurrently(agents, 10);
    await waitConverged(agents);
    expect(writesSeen(agents[2]!)).toBe(writes);
    expect(agents.every((a) => a.status().counters.syncsStarted > 0)).toBe(true);
  });
});
