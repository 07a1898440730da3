// After a partition heals (issue 8), convergence is driven by the reconnection: the member that
// was cut off and the members it reconnects to each pull from the other as soon as the
// connection is back, not at the next periodic round (here an hour away) or a gap repair. Which
// pull did it is read from each agent's pull log (src/agent/pull-log.ts); no timings asserted.
import { afterEach, describe, expect, it } from 'vitest';
import type { Agent } from '../../src/agent/agent.js';
import type { PullRecord } from '../../src/agent/pull-log.js';
import { incHits, startCluster, stopAll, waitConnected, waitConverged, waitFor, hits } from './helpers.js';

let agents: Agent[] = [];
afterEach(() => stopAll(agents.splice(0)));

/**
 * The pulls `agent` ran from `peer` since `at` (its clock), oldest first: those that ended
 * since, or still run. (Connections from the isolated member come up and are refused while
 * it is cut off, each with a pull that fails; one may start just before the heal and succeed.)
 */
function pullsFrom(agent: Agent, peer: string, at: number): PullRecord[] {
  return agent.antiEntropy.pulls.recent().filter((r) => r.peer === peer && (r.endedAt ?? at) >= at);
}

/** The first of `pulls` that read events (before it, pulls that failed or ended early). */
const firstRead = (pulls: readonly PullRecord[]): PullRecord | undefined => pulls.find((r) => r.events > 0);

describe('after a partition heals', () => {
  it('the pulls that repair both sides start on the reconnection, not on a timer', async () => {
    // Rounds every hour: only a reconnection, a heartbeat or a gap can start a pull here. Gossip
    // off: the writes made apart come by pulls only (gossipsub's message cache would bring the
    // last few seconds of them to a reconnected peer).
    agents = await startCluster(3, { syncIntervalMs: 3_600_000, gossip: false });
    await waitConnected(agents);
    const [a, b, c] = agents as [Agent, Agent, Agent];
    await c.isolate(true);
    await waitFor(() => c.connectedPeers().length === 0, 'c to be cut off');
    // Both sides write while apart: c lacks a's and b's writes, and they lack c's.
    let total = 0;
    for (let i = 0; i < 30; i++) {
      total += await incHits(a, 1);
      total += await incHits(b, 2);
      total += await incHits(c, 3);
    }
    await waitFor(() => hits(a) === 90 && hits(b) === 90, 'a and b to hold each other’s writes');
    expect(hits(c)).toBe(90); // its own only
    const healedAt = Date.now();
    await c.isolate(false);
    await waitConverged(agents, 'convergence after the heal');
    expect(hits(c)).toBe(total);

    // c's first pull after the heal that read events, from a or b, was started by the
    // connection (the other peer's may have deferred to it: pull-overlap.ts).
    const fromC = [a, b]
      .flatMap((x) => pullsFrom(c, x.peerId, healedAt))
      .sort((x, y) => x.startedAt - y.startedAt);
    expect(fromC[0]?.trigger).toBe('connect');
    expect(firstRead(fromC)?.trigger).toBe('connect');
    // a's and b's first pull from c after the heal was started by the connection, and one of
    // them read c's writes in one (the other may have had them from its neighbour by then: a
    // pull on the neighbour's heartbeat, which showed them).
    // Convergence can come before the second of them has reconnected to c (it got c's writes
    // from its neighbour): wait for both to have pulled from c (CI run, session 9).
    await waitFor(
      () => [a, b].every((x) => pullsFrom(x, c.peerId, healedAt).length > 0),
      'a and b to pull from c after the heal',
    );
    const fromAB = [a, b].map((x) => pullsFrom(x, c.peerId, healedAt));
    for (const pulls of fromAB) expect(pulls[0]?.trigger).toBe('connect');
    expect(fromAB.some((pulls) => pulls.some((r) => r.trigger === 'connect' && r.events >= 30))).toBe(true);
    // No periodic round pulled at all.
    for (const x of agents) expect(x.antiEntropy.pulls.started.round).toBe(0);
  });
});
