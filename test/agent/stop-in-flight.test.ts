// Stopping agents while input is in flight (gossip, pulls and pushes from their peers, their own
// writes, hand-overs to peers that are stopping too) leaves no unhandled promise rejection
// (docs/chaos.md: "The agent is stopping; no new input is accepted" was seen unhandled).
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Agent } from '../../src/agent/agent.js';
import { hits, incHits, startCluster, stopAll, waitConnected, waitFor } from './helpers.js';

let agents: Agent[] = [];
afterEach(() => stopAll(agents.splice(0)));

const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown): void => {
  unhandled.push(reason);
};
beforeEach(() => {
  unhandled.length = 0;
  process.on('unhandledRejection', onUnhandled);
});
afterEach(() => {
  process.off('unhandledRejection', onUnhandled);
});

/**
 * Three agents; a and c write as fast as they can and b takes their events in by gossip and
 * pulls. `stopB` stops b mid-stream; then a and c stop at once, still writing.
 */
async function stopUnderInput(stopB: (b: Agent) => Promise<void>): Promise<void> {
  agents = await startCluster(3, { syncIntervalMs: 50 });
  await waitConnected(agents, 2);
  const [a, b, c] = agents as [Agent, Agent, Agent];
  let writing = true;
  const writers = Promise.all(
    [a, c].map(async (w) => {
      // Refused at once when stopped: wait a turn, or this loop would starve the event loop.
      while (writing) await incHits(w, 1).catch(() => new Promise((r) => setImmediate(r)));
    }),
  );
  await waitFor(() => hits(b) > 100, 'b to take in events');
  await stopB(b);
  await stopAll(agents.splice(0));
  writing = false;
  await writers;
  // A rejection left unhandled is reported after the microtasks of its turn.
  await new Promise((r) => setTimeout(r, 0));
}

describe('agents stopping under in-flight input', () => {
  it('leave no unhandled rejection', async () => {
    for (let round = 0; round < 3; round++) {
      await stopUnderInput(async (b) => {
        const own = Array.from({ length: 20 }, () => incHits(b, 1).catch(() => 0)); // b's writes in flight
        await b.stop();
        await Promise.all(own);
      });
    }
    expect(unhandled.map(String)).toEqual([]);
  });

  it('leave no unhandled rejection when one stops because its store failed', async () => {
    await stopUnderInput(async (b) => {
      // b's store fails at its next commit: the owner stops the agent (fail-stop).
      const store = (b as unknown as { store: { appendEvents: () => never } }).store;
      store.appendEvents = () => {
        throw new Error('disk gone');
      };
      await incHits(b, 1).catch(() => 0);
      await waitFor(() => b.stopping, 'b to stop on its failed store');
      await b.stop();
    });
    expect(unhandled.map(String)).toEqual([]);
  });
});
