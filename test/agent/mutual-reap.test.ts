// Both sides of a long split reap each other (issue 7; docs/chaos.md "Open"). Each side agrees a
// cut retiring the other side's epochs; on heal, every member sees its own epoch reaped, so each
// rebased: emptied its store and waited for a peer's state, but every peer was reaped in its view
// too, and nobody held a state not to be given up. The rule (src/core/mutual-reap.ts): of two
// reaps whose sides reaped each other, the one with more remaining members wins (ties: the
// smallest member id); the losing side's reap of the winners is void, so the winners keep their
// state and only the losers rebase, re-running their writes beyond the cut.
import { afterEach, describe, expect, it } from 'vitest';
import type { Agent } from '../../src/agent/agent.js';
import { hits, incHits, startFastCluster, stopAll, waitFor, waitMembersKnown } from './helpers.js';
import { heal, split } from './split.js';

let agents: Agent[] = [];
afterEach(async () => {
  await stopAll(agents);
  agents = [];
});

const OPTS = { snapshotEveryEvents: 20, heartbeatIntervalMs: 100 };
const retired = (a: Agent, peer: string) => a.status().compaction.retired[peer];
const state = (a: Agent) => JSON.stringify(a.list().filter((o) => !o.key.startsWith('_sys/')));

/** Counts the times `a` empties its store to rebase. */
function countEmptied(a: Agent): { n: number } {
  const store = (a as unknown as { store: { resetForRebase(): void } }).store;
  const reset = store.resetForRebase.bind(store);
  const seen = { n: 0 };
  store.resetForRebase = () => {
    seen.n++;
    reset();
  };
  return seen;
}

describe('a mutual reap across a long split', () => {
  it('keeps one side’s state, rebases the other, and loses no acknowledged write (2|2)', async () => {
    agents = await startFastCluster(4, OPTS);
    await waitMembersKnown(agents);
    const [a, b, c, d] = agents as [Agent, Agent, Agent, Agent];
    const emptied = agents.map(countEmptied);
    let acked = 0;
    for (const x of agents) acked += await incHits(x, 1);
    await waitFor(() => agents.every((x) => hits(x) === acked), 'the first writes everywhere');
    const origins = agents.map((x) => x.status().origin);

    await split([
      [a, b],
      [c, d],
    ]);
    // Writes on both sides, past several compactions.
    for (let i = 0; i < 30; i++) for (const x of agents) acked += await incHits(x, 1 + (i % 3));
    // Each side reaps the other (an operator's force-leave on each side, as a long split with
    // reapAfterMs would).
    expect(a.forceLeave(c.peerId)).toBe(true);
    expect(a.forceLeave(d.peerId)).toBe(true);
    expect(c.forceLeave(a.peerId)).toBe(true);
    expect(c.forceLeave(b.peerId)).toBe(true);
    await waitFor(
      () =>
        [a, b].every((x) => retired(x, c.peerId) && retired(x, d.peerId)) &&
        [c, d].every((x) => retired(x, a.peerId) && retired(x, b.peerId)),
      'each side to retire the other',
      30_000,
    ).catch((e: unknown) => {
      for (const x of agents) console.log(x.peerId.slice(-6), JSON.stringify(x.status().compaction.reaps));
      throw e;
    });
    for (let i = 0; i < 10; i++) for (const x of agents) acked += await incHits(x, 1);

    await heal(agents);
    await waitFor(
      () => agents.every((x) => hits(x) === acked) && agents.every((x) => state(x) === state(a)),
      'every replica equal, with every acknowledged write',
      90_000,
    ).catch((e: unknown) => {
      for (const [i, x] of agents.entries()) {
        const st = x.status();
        console.log(
          'abcd'[i],
          x.peerId.slice(-4),
          origins[i]!.slice(-4),
          st.origin.slice(-4),
          hits(x),
          acked,
          'emptied',
          emptied[i]!.n,
          JSON.stringify(st.counters),
          JSON.stringify(
            st.compaction.reaps.map((r) => [
              r.epoch.slice(-4),
              r.cut,
              r.participants.map((p) => p.slice(-4)),
            ]),
          ),
          JSON.stringify(st.compaction.retired),
        );
      }
      throw e;
    });
    // Exactly one side kept its state (its epochs too); the other rebased.
    const kept = [0, 1].filter((i) => emptied[i]!.n === 0 && agents[i]!.status().origin === origins[i]);
    const keptOther = [2, 3].filter((i) => emptied[i]!.n === 0 && agents[i]!.status().origin === origins[i]);
    expect(kept.length === 2 || keptOther.length === 2).toBe(true);
    expect(kept.length + keptOther.length).toBe(2);
  }, 150_000);
});
