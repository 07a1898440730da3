// A restarted agent whose peers hold it reaped (issue 7; docs/chaos.md "A restarted agent whose
// peers hold it reaped"): it must learn its cut and rebase, and must not reap the live peers on
// its own timer, reapAfterMs after its start.
import { afterEach, describe, expect, it } from 'vitest';
import { Agent } from '../../src/agent/agent.js';
import { peerOfOrigin } from '../../src/core/origin.js';
import { Store } from '../../src/store/store.js';
import {
  FAST_OPTIONS,
  hits,
  incHits,
  startFastCluster,
  stopAll,
  waitFor,
  waitMembersKnown,
} from './helpers.js';
import { REAP_OPTS, retired } from './reap-setup.js';

let agents: Agent[] = [];
afterEach(() => stopAll(agents.splice(0)));

const REAP_AFTER_MS = 3_000;
const OPTS = { ...REAP_OPTS, reapAfterMs: REAP_AFTER_MS };
/** Peers some reap at `a` is about (a marker for an epoch of theirs is in its state). */
const reapedPeers = (a: Agent) => new Set(a.status().compaction.reaps.map((r) => peerOfOrigin(r.epoch)));

/** Marks `dataDir`'s store as not stopped cleanly: the next start takes a new epoch (epoch.ts). */
function uncleanStop(dataDir: string): void {
  const store = Store.open({ dataDir, sync: 'normal' });
  store.setMetaSynced('run-state', 'running');
  store.close();
}

describe('a restarted agent whose peers reaped it', () => {
  it.each([
    ['a clean stop', false],
    ['a crash (a new epoch at restart)', true],
  ])(
    'after %s, rebases, and reaps none of the live peers reapAfterMs after its start',
    async (_, crash) => {
      agents = await startFastCluster(3, OPTS);
      await waitMembersKnown(agents);
      const [a, b, c] = agents as [Agent, Agent, Agent];
      let acked = 0;
      for (const x of agents) acked += await incHits(x, 1);
      await waitFor(() => agents.every((x) => hits(x) === acked), 'the first writes everywhere');
      const epoch = c.status().origin;
      const config = c.config;
      // c writes beyond the cut to come (nobody else gets these), then goes down.
      await c.isolate(true);
      for (let i = 0; i < 5; i++) acked += await incHits(c, 10);
      await c.stop();
      if (crash) uncleanStop(config.dataDir);
      agents = [a, b];
      await waitFor(
        () => [a, b].every((x) => retired(x, c.peerId) !== undefined),
        'a and b to reap c on their timers',
        30_000,
      );
      for (let i = 0; i < 30; i++) acked += await incHits(i % 2 ? a : b, 1);

      const back = await Agent.start(config, FAST_OPTIONS);
      agents.push(back);
      const started = Date.now();
      const restartedAs = back.status().origin;
      await waitFor(
        () => ![epoch, restartedAs].includes(back.status().origin),
        'c to rebase under a new epoch',
        30_000,
      );
      acked += await incHits(back, 100);
      // Twice reapAfterMs after its start, everyone agrees and nobody reaped a or b.
      await waitFor(
        () =>
          Date.now() - started > 2 * REAP_AFTER_MS &&
          agents.every((x) => hits(x) === acked) &&
          [a, b].every((x) => retired(x, c.peerId) === undefined),
        'every write everywhere, c a member again',
        30_000,
      );
      for (const x of agents) {
        expect(reapedPeers(x).has(a.peerId), `a reaped at ${x.peerId}`).toBe(false);
        expect(reapedPeers(x).has(b.peerId), `b reaped at ${x.peerId}`).toBe(false);
      }
      expect(back.status().counters.reaps).toBe(0);
    },
    120_000,
  );
});
