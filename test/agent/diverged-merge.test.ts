// Two single nodes that each compacted alone, joined later (docs/agent.md "Divergence"): each
// holds events the other lacks that only its own snapshot holds. With `divergedPeers: 'merge'`
// (the default) each joins the other's snapshot into its state (src/core/replica/merge.ts)
// instead of refusing it: both then hold both histories and keep converging.
import { afterEach, describe, expect, it } from 'vitest';
import type { Agent } from '../../src/agent/agent.js';
import { ApiMetrics } from '../../src/api/metrics.js';
import { inc, refusingPair, starter } from './diverged-pair.js';
import { converged, stopAll, waitFor } from './helpers.js';

const agents: Agent[] = [];
afterEach(() => stopAll(agents.splice(0)));
const start = starter(agents);
const hits = (a: Agent): unknown => a.read('pn-counter', 'hits')?.value;

/** Set SMAC_MERGE_TIMINGS=1 to print how long the merge took (docs/agent.md quotes them). */
function timing(step: string, since: number): void {
  if (process.env.SMAC_MERGE_TIMINGS)
    process.stdout.write(`merge timing: ${step} ${Date.now() - since} ms\n`);
}

/** Some writes of other types, concurrent with the other single node's on the same keys. */
async function others(a: Agent, tag: string): Promise<void> {
  await a.write([
    { type: 'aw-set', key: 'set', op: { kind: 'add', value: tag } },
    { type: 'lww-register', key: 'reg', op: { kind: 'set', value: tag } },
    { type: 'mv-register', key: 'mv', op: { kind: 'set', value: tag } },
    {
      type: 'or-map',
      key: 'map',
      op: { kind: 'update', field: tag, type: 'ew-flag', op: { kind: 'enable' } },
    },
  ]);
}

/** Two single nodes that compacted 60 increments and some other writes each, alone. */
async function divergedPair(opts: Record<string, unknown>): Promise<[Agent, Agent]> {
  const a = await start(opts);
  const b = await start(opts);
  await others(a, 'a');
  await others(b, 'b');
  await inc(a, 60);
  await inc(b, 60);
  await waitFor(
    () => a.status().counters.compactions > 0 && b.status().counters.compactions > 0,
    'both single nodes to compact',
  );
  expect(hits(a)).toBe(60);
  expect(hits(b)).toBe(60);
  return [a, b];
}

describe('two single nodes joined after both compacted, merging', () => {
  it('each merges the other: both read 120, hold the same state, and keep converging', async () => {
    const opts = { snapshotEveryEvents: 20, heartbeatIntervalMs: 100 };
    const [a, b] = await divergedPair(opts);
    const connectedAt = Date.now();
    await a.connect(b.addresses()[0] ?? '');
    await waitFor(() => hits(a) === 120 && hits(b) === 120, 'both to read 120', 45_000);
    timing('connect to both reading 120', connectedAt);
    await waitFor(() => converged([a, b]), 'identical clocks and state', 30_000);
    timing('connect to identical clocks and state', connectedAt);
    expect(a.read('aw-set', 'set')?.value).toEqual(['a', 'b']);
    expect(a.read('mv-register', 'mv')?.value).toEqual(['a', 'b']);
    expect(a.read('or-map', 'map')?.value).toEqual({ a: true, b: true });
    for (const x of [a, b]) {
      expect(x.status().refused).toEqual([]);
      expect(x.status().counters.refusedDiverged).toBe(0);
    }
    expect(a.status().counters.peersMerged + b.status().counters.peersMerged).toBeGreaterThan(0);
    const text = await new ApiMetrics().render(a.status().counters.peersMerged > 0 ? a.status() : b.status());
    expect(text).toMatch(/smac_peers_merged_total [1-9]/);
    // Later writes on either side reach the other, through compactions of the pair.
    await inc(a, 30);
    await inc(b, 30);
    await waitFor(() => hits(a) === 180 && hits(b) === 180, 'both to read 180', 45_000);
    await waitFor(() => converged([a, b]), 'identical clocks and state after later writes', 30_000);
    // The merge was persisted: restarted on its data directory, b still holds both histories.
    const dataDir = b.config.dataDir;
    await b.stop();
    agents.splice(agents.indexOf(b), 1);
    const b2 = await start({ ...opts, dataDir, join: a.addresses() });
    expect(hits(b2)).toBe(180);
    await inc(a, 1);
    await waitFor(() => hits(b2) === 181 && converged([a, b2]), 'the restarted b to converge on 181', 45_000);
  }, 150_000);

  it('a merged pair and a third single node that compacted alone: all three converge', async () => {
    const opts = { snapshotEveryEvents: 20, heartbeatIntervalMs: 100 };
    const [a, b] = await divergedPair(opts);
    const c = await start(opts);
    await inc(c, 60);
    await waitFor(() => c.status().counters.compactions > 0, 'c to compact alone');
    await a.connect(b.addresses()[0] ?? '');
    await waitFor(() => hits(a) === 120 && hits(b) === 120, 'the pair to read 120', 45_000);
    await c.connect(b.addresses()[0] ?? '');
    await waitFor(() => [a, b, c].every((x) => hits(x) === 180), 'all three to read 180', 60_000);
    await waitFor(() => converged([a, b, c]), 'identical clocks and state', 30_000);
    await inc(c, 5);
    await waitFor(() => [a, b, c].every((x) => hits(x) === 185), 'all three to read 185', 45_000);
  }, 180_000);

  it("with divergedPeers 'refuse' on one side, both refuse as before", async () => {
    // refusingPair waits until each refuses the other.
    const opts = { snapshotEveryEvents: 20, heartbeatIntervalMs: 100 };
    const [a, b] = await refusingPair(
      start,
      { ...opts, divergedPeers: 'refuse' },
      { ...opts, divergedPeers: 'merge' },
    );
    expect(hits(a)).toBe(60);
    expect(hits(b)).toBe(60);
    expect(a.status().counters.peersMerged + b.status().counters.peersMerged).toBe(0);
  }, 120_000);
});
