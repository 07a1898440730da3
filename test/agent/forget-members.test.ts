// `smac members forget` at the agent (docs/agent.md "Forgetting a reaped member"). An agent that
// holds a majority reaped (cut off, it force-left both others) keeps the client batch of every
// write it makes (own_ops): should the reaped members come back, their side would win the
// mutual reap and it would have to re-run them. Forgetting them stops that: the batches are
// pruned at the next compaction, and the record survives a restart.
import { afterEach, describe, expect, it } from 'vitest';
import { Agent } from '../../src/agent/agent.js';
import { ForgetRefused } from '../../src/agent/forgotten-members.js';
import { FAST_OPTIONS, incHits, startFastCluster, stopAll, waitFor, waitMembersKnown } from './helpers.js';
import { REAP_OPTS, retired } from './reap-setup.js';

let agents: Agent[] = [];
afterEach(() => stopAll(agents.splice(0)));

const kept = (a: Agent) => a.status().compaction.ownOpsKept;
const codeOf = (f: () => unknown): string | undefined => {
  try {
    f();
  } catch (e) {
    return e instanceof ForgetRefused ? e.code : 'other';
  }
  return undefined;
};

/** Writes `n` increments at `a`, letting its heartbeat step (and compaction) run meanwhile. */
async function write(a: Agent, n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    await incHits(a, 1);
    if (i % 20 === 19) await new Promise((r) => setTimeout(r, 30));
  }
}

/** Cuts `a` off, and has it force-leave `b` and `c` until both are retired there. */
async function cutOffAndForceLeave(a: Agent, b: Agent, c: Agent): Promise<void> {
  await a.isolate(true);
  await waitFor(() => a.connectedPeers().length === 0, 'a cut off');
  expect(a.forceLeave(b.peerId)).toBe(true);
  expect(a.forceLeave(c.peerId)).toBe(true);
  await waitFor(() => [b, c].every((x) => retired(a, x.peerId) !== undefined), 'a to retire b and c', 30_000);
}

describe('forgetting reaped members', () => {
  it('own_ops grows while a reaped majority may come back, and is pruned once it is forgotten, across a restart', async () => {
    agents = await startFastCluster(3, REAP_OPTS);
    await waitMembersKnown(agents);
    const [a, b, c] = agents as [Agent, Agent, Agent];
    expect(codeOf(() => a.forget(b.peerId))).toBe('MEMBER_NOT_REAPED');
    expect(codeOf(() => a.forget('12D3KooWNoSuchPeerNoSuchPeerNoSuchPeerNoSuchPeer'))).toBe('NOT_FOUND');
    await cutOffAndForceLeave(a, b, c);

    // b and c, two, would win a mutual reap against a alone: a keeps every client batch.
    const compactions = a.status().counters.compactions;
    await write(a, 150);
    await waitFor(() => a.status().counters.compactions >= compactions + 3, 'a to compact meanwhile');
    expect(kept(a)).toBeGreaterThanOrEqual(150);

    const first = a.forget(b.peerId);
    expect(a.forget(b.peerId)).toEqual(first); // again: no change
    a.forget(c.peerId);
    expect(
      a
        .status()
        .compaction.forgotten.map((f) => f.peerId)
        .sort(),
    ).toEqual([b.peerId, c.peerId].sort());
    await write(a, 60);
    await waitFor(() => kept(a) < 20, 'the batches pruned at a compaction after the forget');

    // The record survives a restart: the batches stay pruned.
    await a.stop();
    const a2 = await Agent.start({ ...a.config, listen: ['/ip4/127.0.0.1/tcp/0'] }, FAST_OPTIONS);
    agents[0] = a2;
    expect(
      a2
        .status()
        .compaction.forgotten.map((f) => f.peerId)
        .sort(),
    ).toEqual([b.peerId, c.peerId].sort());
    await write(a2, 100);
    await waitFor(() => kept(a2) < 20, 'the batches pruned after the restart too');
  }, 120_000);

  it('keeps the batches only keepOwnOpsMs after the reap: a restart with a short bound prunes them', async () => {
    agents = await startFastCluster(3, REAP_OPTS);
    await waitMembersKnown(agents);
    const [a, b, c] = agents as [Agent, Agent, Agent];
    await cutOffAndForceLeave(a, b, c);
    // The default bound (7 days): every client batch is kept.
    await write(a, 100);
    await waitFor(() => kept(a) >= 100, 'a to keep its batches');

    // Restarted with a bound the reaps are past already: pruned at the next compaction, and
    // the members are not forgotten (that is the operator's word only).
    await a.stop();
    const a2 = await Agent.start(
      { ...a.config, keepOwnOpsMs: 1_000, listen: ['/ip4/127.0.0.1/tcp/0'] },
      FAST_OPTIONS,
    );
    agents[0] = a2;
    await waitFor(
      () => [b, c].every((x) => Date.now() - (retired(a2, x.peerId)?.at ?? Infinity) > 1_000),
      'both reaps older than the bound',
    );
    await write(a2, 60);
    await waitFor(() => kept(a2) < 20, 'the batches pruned at a compaction past the bound');
    expect(a2.status().compaction.forgotten).toEqual([]);
  }, 120_000);
});
