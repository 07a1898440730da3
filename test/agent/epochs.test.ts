// Origin epochs (issue 7, "Sequence numbers reused after the database is lost"): an agent
// restarted with its old identity and a fresh store must not reuse (origin, seq) pairs. Before
// epochs it started again at seq 1 under its peer id; peers dropped its new events as
// duplicates, and replicas disagreed while their clocks were equal.
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Agent } from '../../src/agent/agent.js';
import { peerOfOrigin } from '../../src/core/origin.js';
import { hits, quiet, startCluster, stopAll, waitConnected, waitConverged } from './helpers.js';

let agents: Agent[] = [];
afterEach(() => stopAll(agents.splice(0)));

const inc = (a: Agent) => a.write([{ type: 'pn-counter', key: 'hits', op: { kind: 'increment', by: 1 } }]);

describe('origin epochs', () => {
  it('an agent whose store was lost writes under a new epoch; nothing is dropped as a duplicate', async () => {
    agents = await startCluster(2, { heartbeatIntervalMs: 100 });
    await waitConnected(agents, 1);
    const [a, b] = agents as [Agent, Agent];
    let acked = 0;
    const before = await inc(b);
    acked++;
    for (let i = 0; i < 9; i++, acked++) await inc(b);
    await waitConverged(agents, 'the first writes everywhere');
    expect(peerOfOrigin(before.origin)).toBe(b.peerId);

    // The database is lost (moved aside, as the store's corruption message advises); the
    // identity key stays.
    await b.stop();
    for (const f of ['smac.db', 'smac.db-wal', 'smac.db-shm'])
      rmSync(join(b.config.dataDir, f), { force: true });
    const b2 = await Agent.start({ ...b.config, join: a.addresses() }, { logger: quiet });
    agents[1] = b2;
    expect(b2.peerId).toBe(b.peerId);
    const after = await inc(b2);
    acked++;
    for (let i = 0; i < 9; i++, acked++) await inc(b2);
    expect(after.origin).not.toBe(before.origin);
    expect(peerOfOrigin(after.origin)).toBe(b.peerId);

    await waitConverged(agents, 'convergence after the store loss', 45_000);
    for (const x of agents) expect(hits(x)).toBe(acked);
  }, 120_000);
});
