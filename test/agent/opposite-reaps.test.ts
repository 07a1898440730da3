// Two operators force-leave two down members in opposite orders (issue 7; docs/agent.md
// "Reaping"). On agent a the operator force-leaves x then y, on agent b y then x, at once: a's
// marker for x names y (not being reaped yet in a's view), b's marker for y names x. Each reap
// waited for a report from the other's member, and neither member could ever report: the reaps
// waited for each other for ever, and compaction with them. The rule (src/core/reaping.ts
// `reapStatesOf`): reaps whose only missing reporters are members of each other's reaps complete
// together, decided from the reports alone.
import { afterEach, describe, expect, it } from 'vitest';
import type { Agent } from '../../src/agent/agent.js';
import { hits, incHits, startFastCluster, stopAll, waitFor, waitMembersKnown } from './helpers.js';
import { REAP_OPTS, retired } from './reap-setup.js';

let agents: Agent[] = [];
afterEach(() => stopAll(agents.splice(0)));

describe('two reaps started in opposite orders', () => {
  it('of two down members, on two agents at once: both are agreed and the log compacts', async () => {
    agents = await startFastCluster(5, REAP_OPTS);
    await waitMembersKnown(agents);
    const [a, b, c, x, y] = agents as [Agent, Agent, Agent, Agent, Agent];
    let acked = 0;
    for (const w of agents) acked += await incHits(w, 1);
    await waitFor(() => agents.every((w) => hits(w) === acked), 'the first writes everywhere');
    // x and y go down (cut off from everyone).
    await x.isolate(true);
    await y.isolate(true);
    const survivors = [a, b, c];
    expect(a.forceLeave(x.peerId)).toBe(true);
    expect(a.forceLeave(y.peerId)).toBe(true);
    expect(b.forceLeave(y.peerId)).toBe(true);
    expect(b.forceLeave(x.peerId)).toBe(true);
    const compactions = survivors.map((w) => w.status().counters.compactions);
    await waitFor(
      () => survivors.every((w) => retired(w, x.peerId) !== undefined && retired(w, y.peerId) !== undefined),
      'x and y retired on every survivor',
      60_000,
    ).catch((e: unknown) => {
      for (const w of survivors)
        console.log(
          w.peerId.slice(-4),
          JSON.stringify(w.status().compaction.reaps.map((r) => [r.epoch.slice(-4), r.cut, r.missing])),
        );
      throw e;
    });
    // Both cuts agreed alike everywhere, and compaction goes on without x and y.
    const cuts = (w: Agent) => JSON.stringify(w.status().compaction.reaps.map((r) => [r.epoch, r.cut]));
    await waitFor(() => survivors.every((w) => cuts(w) === cuts(a)), 'the same cuts on every survivor');
    for (let i = 0; i < 30; i++) for (const w of survivors) acked += await incHits(w, 1);
    await waitFor(
      () => survivors.every((w, i) => hits(w) === acked && w.status().counters.compactions > compactions[i]!),
      'every survivor compacts past the reaps',
      60_000,
    );
    expect(a.forceLeavePending(x.peerId) || b.forceLeavePending(y.peerId)).toBe(false);
  }, 180_000);
});
