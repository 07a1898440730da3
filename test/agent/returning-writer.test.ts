// A returning writer must catch up (issue 7, "Repair can stall"). An agent cut off long enough
// to be reaped comes back behind its peer's compacted log, so it needs that peer's snapshot;
// and it keeps writing all along. Before the fix it pushed its unsent events, pulled again,
// found the new snapshot short of the events it had written meanwhile, and gave up — on every
// round, for as long as it kept writing.
import { afterEach, describe, expect, it } from 'vitest';
import { Agent } from '../../src/agent/agent.js';
import {
  FAST_OPTIONS,
  hits,
  incHits,
  stopAll,
  testConfig,
  waitConnected,
  waitConverged,
  waitFor,
} from './helpers.js';
import { retired } from './reap-setup.js';

let agents: Agent[] = [];
afterEach(() => stopAll(agents.splice(0)));

describe('a returning agent that keeps writing', () => {
  it('installs the snapshot it needs while it writes, and converges', async () => {
    // a reaps a silent member after 1 s and then compacts past it; r keeps its own log.
    const a = await Agent.start(
      testConfig({ snapshotEveryEvents: 20, heartbeatIntervalMs: 100, reapAfterMs: 1_000 }),
      FAST_OPTIONS,
    );
    const r = await Agent.start(testConfig({ heartbeatIntervalMs: 100, join: a.addresses() }), FAST_OPTIONS);
    agents = [a, r];
    await waitConnected(agents, 1);
    let acked = 0;
    for (let i = 0; i < 5; i++) {
      await incHits(a, 1);
      await incHits(r, 1);
      acked += 2;
    }
    await waitConverged(agents);

    await r.isolate(true);
    for (let i = 0; i < 10; i++, acked++) await incHits(r, 1); // unsent: r must push them first
    await waitFor(() => retired(a, r.peerId)?.reason === 'reaped', 'r reaped on a', 30_000);
    const aOrigin = a.status().origin;
    const behind = (): boolean => (a.status().log.compacted[aOrigin] ?? 0) > (r.clock().get(aOrigin) ?? 0);
    for (let i = 0; i < 2_000 && !behind(); i++, acked++) {
      await incHits(a, 1);
      if (i % 20 === 19) await new Promise((res) => setTimeout(res, 20));
    }
    await waitFor(behind, "a's log compacted past what r holds");

    // r comes back, and both never stop writing until r has caught up with where a was.
    const run = { writing: true };
    const keepWriting = async (x: Agent): Promise<void> => {
      while (run.writing) {
        await incHits(x, 1);
        acked++;
        await new Promise((res) => setImmediate(res));
      }
    };
    const target = a.clock().get(aOrigin) ?? 0;
    const writers = [keepWriting(r), keepWriting(a)];
    try {
      await r.isolate(false);
      await waitFor(
        () => (r.clock().get(aOrigin) ?? 0) >= target,
        'r to catch up with a while both keep writing',
        30_000,
      );
      expect(r.status().counters.snapshotsInstalled).toBeGreaterThanOrEqual(1);
    } finally {
      run.writing = false;
      await Promise.all(writers);
    }
    // A reaped r rebases: its writes beyond the agreed cut are re-run under a new epoch, after
    // it took a's state (docs/agent.md "Reaping"), so the count reaches `acked` once that is done.
    await waitFor(
      () => agents.every((x) => hits(x) === acked),
      'every acknowledged increment counted on both, re-run writes included',
      30_000,
    );
    await waitConverged(agents, 'convergence once they stopped writing', 30_000);

    // The events r kept on top of the snapshot are durable: a restart recovers them.
    const rOrigin = r.status().origin;
    const own = r.clock().get(rOrigin) ?? 0;
    await r.stop();
    const again = await Agent.start(r.config, FAST_OPTIONS);
    agents[1] = again;
    expect(again.clock().get(rOrigin) ?? 0).toBeGreaterThanOrEqual(own); // its leave adds one
    expect(again.clock().get(aOrigin)).toBe(a.clock().get(aOrigin));
    expect(hits(again)).toBe(acked);
  }, 120_000);
});
