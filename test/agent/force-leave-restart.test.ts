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
import { FAST_OPTIONS, listenOf, stopAll, waitFor } from './helpers.js';
import { reapOf, threeMembersCWrote } from './reap-setup.js';

const agents: Agent[] = [];
afterEach(() => stopAll(agents.splice(0)));

const pending = (a: Agent) => a.status().compaction.forceLeaves.map((f) => f.peerId);

/** Stops `x` and starts it again on the same address, joining `join` (its store kept). */
async function restart(x: Agent, join: readonly string[]): Promise<Agent> {
  const listen = listenOf(x);
  await x.stop();
  return Agent.start({ ...x.config, listen, join: [...join] }, FAST_OPTIONS);
}

describe('a pending force-leave', () => {
  it('survives a restart: a new epoch of the member that appears afterwards is reaped too', async () => {
    const { a, b, c, epoch: first } = await threeMembersCWrote(agents);
    // b is cut off: it must report on the reap, so the cut cannot be agreed yet.
    await b.isolate(true);
    expect(a.forceLeave(c.peerId)).toBe(true);
    expect(pending(a)).toEqual([c.peerId]);
    await waitFor(() => reapOf(a, first) !== undefined, 'a’s marker for c’s epoch');
    expect(reapOf(a, first)?.cut).toBeUndefined();

    // a restarts while the force-leave is pending; c comes back with its store lost (a new epoch).
    const bAddrs = b.addresses();
    const cConfig = c.config;
    const cListen = listenOf(c);
    const a2 = await restart(a, bAddrs);
    agents[0] = a2;
    expect(pending(a2)).toEqual([c.peerId]);
    await c.stop();
    for (const f of ['smac.db', 'smac.db-wal', 'smac.db-shm'])
      rmSync(join(cConfig.dataDir, f), { force: true });
    const c2 = await Agent.start({ ...cConfig, listen: cListen, join: a2.addresses() }, FAST_OPTIONS);
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
