// A joiner that has not reached any member yet must not compact its own writes: it knows no
// member, so everything looked stable, and its writes then lived only in its snapshot. Found
// with the nemesis (docs/chaos.md, seed 5 with --reap-after 30s): a2, back with an empty store
// after a store loss and cut off before it reached anyone, wrote 83 events and compacted them;
// after the heal neither it nor its peers could install the other's snapshot (each lacked
// events the other had compacted away), and a2 stayed forked for good.
import { afterEach, describe, expect, it } from 'vitest';
import { Agent } from '../../src/agent/agent.js';
import { quiet, stopAll, testConfig, waitConverged } from './helpers.js';

let agents: Agent[] = [];
afterEach(async () => {
  await stopAll(agents);
  agents = [];
});

async function inc(a: Agent, n: number): Promise<void> {
  for (let i = 0; i < n; i++)
    await a.write([{ type: 'pn-counter', key: 'hits', op: { kind: 'increment', by: 1 } }]);
}

describe('a joiner that reached no member yet', () => {
  it('keeps its writes in its log until a member holds them, and converges after the heal', async () => {
    const opts = { snapshotEveryEvents: 20, heartbeatIntervalMs: 100 };
    const a = await Agent.start(testConfig(opts), { logger: quiet });
    agents.push(a);
    await inc(a, 5);
    await a.isolate(true);
    const b = await Agent.start(testConfig({ ...opts, join: a.addresses() }), { logger: quiet });
    agents.push(b);
    await inc(b, 60); // well past snapshotEveryEvents, with no member known
    await inc(a, 60); // a, alone and without join addresses, compacts as a single node may
    expect(b.status().counters.compactions).toBe(0);
    await a.isolate(false);
    await waitConverged([a, b], 'the joiner and the first agent to converge', 45_000);
    expect(a.read('pn-counter', 'hits')?.value).toBe(125);
  }, 120_000);
});
