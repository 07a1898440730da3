// A pending force-leave survives a restart of the agent that was given it (issue 7, docs/chaos.md
// "open"). While the cut is not agreed, a force-leave also reaps every new epoch of the member
// that shows up (docs/agent.md "A force-leave covers the member whatever epoch it is in"). That
// intent lived only in memory: restarted before the cut, the agent forgot it, and a new epoch of
// the member (here: it lost its store) stayed a live member, so the operator's command silently
// did nothing for it.
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Agent } from '../../src/agent/agent.js';
import {
  FAST_MEMBERSHIP,
  hits,
  incHits,
  quiet,
  startFastCluster,
  stopAll,
  waitFor,
  waitMembersKnown,
} from './helpers.js';

let agents: Agent[] = [];
afterEach(async () => {
  await stopAll(agents);
  agents = [];
});

const OPTS = { snapshotEveryEvents: 20, heartbeatIntervalMs: 100 };
const reapOf = (a: Agent, epoch: string) => a.status().compaction.reaps.find((r) => r.epoch === epoch);
const pending = (a: Agent) => a.status().compaction.forceLeaves.map((f) => f.peerId);
const options = { logger: quiet, membership: FAST_MEMBERSHIP };

/** Stops `x` and starts it again on the same address, joining `join` (its store kept). */
async function restart(x: Agent, join: readonly string[]): Promise<Agent> {
  const listen = x.addresses().map((addr) => addr.replace(/\/p2p\/.*$/, ''));
  await x.stop();
  return Agent.start({ ...x.config, listen, join: [...join] }, options);
}

describe('a pending force-leave', () => {
  it('survives a restart: a new epoch of the member that appears afterwards is reaped too', async () => {
    agents = await startFastCluster(3, OPTS);
    await waitMembersKnown(agents);
    const [a, b, c] = agents as [Agent, Agent, Agent];
    let acked = 0;
    for (let i = 0; i < 5; i++) acked += await incHits(c, 1);
    await waitFor(() => agents.every((x) => hits(x) === acked), 'c’s writes everywhere');
    const first = c.status().origin;
    // b is cut off: it must report on the reap, so the cut cannot be agreed yet.
    await b.isolate(true);
    expect(a.forceLeave(c.peerId)).toBe(true);
    expect(pending(a)).toEqual([c.peerId]);
    await waitFor(() => reapOf(a, first) !== undefined, 'a’s marker for c’s epoch');
    expect(reapOf(a, first)?.cut).toBeUndefined();

    // a restarts while the force-leave is pending; c comes back with its store lost (a new epoch).
    const bAddrs = b.addresses();
    const cConfig = c.config;
    const cListen = c.addresses().map((addr) => addr.replace(/\/p2p\/.*$/, ''));
    const a2 = await restart(a, bAddrs);
    agents[0] = a2;
    expect(pending(a2)).toEqual([c.peerId]);
    await c.stop();
    for (const f of ['smac.db', 'smac.db-wal', 'smac.db-shm'])
      rmSync(join(cConfig.dataDir, f), { force: true });
    const c2 = await Agent.start({ ...cConfig, listen: cListen, join: a2.addresses() }, options);
    agents[2] = c2;
    const second = c2.status().origin;
    expect(second).not.toBe(first);
    await waitFor(() => a2.clock().has(second), 'c’s new epoch at a', 30_000);
    // The intent was kept: c's new epoch is reaped as well.
    await waitFor(() => reapOf(a2, second) !== undefined, 'a’s marker for c’s new epoch', 20_000);

    // b returns and reports: both cuts are agreed, and the intent is done.
    await b.isolate(false);
    await waitFor(
      () => [a2, b].every((x) => reapOf(x, first)?.cut !== undefined && reapOf(x, second)?.cut !== undefined),
      'the agreed cuts of both epochs',
      30_000,
    );
    await waitFor(() => pending(a2).length === 0, 'the force-leave no longer pending');
    // Cleared for good: a later restart does not resume it.
    const a3 = await restart(a2, b.addresses());
    agents[0] = a3;
    expect(pending(a3)).toEqual([]);
  }, 120_000);
});
