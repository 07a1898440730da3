/**
 * Helpers for the tests of two single nodes that refuse each other (diverged-singles.test.ts,
 * diverged-remedy.test.ts).
 */
import { Agent } from '../../src/agent/agent.js';
import { incHits, quiet, testConfig, waitFor } from './helpers.js';

/** `n` events of +1 each (compaction counts events, not increments). */
export async function inc(a: Agent, n: number): Promise<void> {
  for (let i = 0; i < n; i++) await incHits(a, 1);
}

/** Starts agents, each pushed to `agents` (for afterEach to stop). */
export function starter(agents: Agent[]): (opts: Record<string, unknown>) => Promise<Agent> {
  return async (opts) => {
    const a = await Agent.start(testConfig(opts), { logger: quiet });
    agents.push(a);
    return a;
  };
}

export const refusedBy = (a: Agent, b: Agent): boolean =>
  a.status().refused.some((r) => r.peerId === b.peerId && r.reason === 'diverged');

/**
 * Two single nodes that compacted 60 writes each alone, joined, until each refuses the other
 * (set to refuse diverged peers rather than merge them).
 */
export async function refusingPair(
  start: (opts: Record<string, unknown>) => Promise<Agent>,
  opts: Record<string, unknown>,
  optsB: Record<string, unknown> = opts,
): Promise<[Agent, Agent]> {
  const a = await start({ divergedPeers: 'refuse', ...opts });
  const b = await start({ divergedPeers: 'refuse', ...optsB });
  await inc(a, 60);
  await inc(b, 60);
  await waitFor(
    () => a.status().counters.compactions > 0 && b.status().counters.compactions > 0,
    'both single nodes to compact',
  );
  await a.connect(b.addresses()[0] ?? '');
  await waitFor(() => refusedBy(a, b) && refusedBy(b, a), 'both agents to refuse the other', 45_000);
  return [a, b];
}
