// A new joiner whose first pull from its join peer stalls (issue 7: test/agent/losing-joiner.test.ts
// once waited more than 30 s for j's first state). A joiner takes its first snapshot only from a
// join peer (snapshot-source.ts); the other members it meets meanwhile serve snapshots it
// refuses. Automatic pulls avoided the stalled join peer for 6 × syncStallMs (30 s) while its
// heartbeats kept coming, and went every round to a member whose snapshot was refused again.
// Here a's first answer to the joiner never comes: the joiner must pull from a again rather
// than from b alone (pull-peers.ts).
import { afterEach, describe, expect, it } from 'vitest';
import { Agent } from '../../src/agent/agent.js';
import {
  FAST_MEMBERSHIP,
  hits,
  incHits,
  quiet,
  startFastCluster,
  stopAll,
  testConfig,
  waitFor,
  waitMembersKnown,
} from './helpers.js';

let agents: Agent[] = [];
afterEach(async () => {
  await stopAll(agents);
  agents = [];
});

interface SyncOpts {
  source: { header: () => Promise<unknown> };
  onRequest: (vc: unknown, from: { toString(): string }) => void;
}

/** `x` never answers the first sync request of a peer outside `known` (its stream hangs). */
function hangFirstPullOfNewcomer(x: Agent, known: ReadonlySet<string>): () => boolean {
  const opts = (x as unknown as { sync: { ctx: { opts: SyncOpts } } }).sync.ctx.opts;
  const { source, onRequest } = opts;
  const header = source.header.bind(source);
  let next = false;
  let hung = false;
  opts.onRequest = (vc, from) => {
    next = !hung && !known.has(from.toString());
    onRequest(vc, from);
  };
  source.header = () => {
    if (!next) return header();
    next = false;
    hung = true;
    return new Promise(() => undefined);
  };
  return () => hung;
}

describe('a joiner whose first pull from its join peer stalls', () => {
  it(
    'pulls from the join peer again, not only from a member whose snapshots it refuses',
    { timeout: 240_000 },
    async () => {
      const opts = { snapshotEveryEvents: 20, heartbeatIntervalMs: 100 };
      agents = await startFastCluster(2, opts);
      await waitMembersKnown(agents);
      const [a, b] = agents as [Agent, Agent];
      let acked = 0;
      for (let i = 0; i < 30; i++) for (const x of agents) acked += await incHits(x, 1);
      // Both compacted: a joiner needs a snapshot.
      await waitFor(
        () => agents.every((x) => hits(x) === acked && x.status().counters.compactions > 0),
        'every write everywhere, and a compaction on each',
        60_000,
      );
      const hung = hangFirstPullOfNewcomer(a, new Set([a.peerId, b.peerId]));
      const j = await Agent.start(testConfig({ ...opts, join: a.addresses() }), {
        logger: quiet,
        membership: FAST_MEMBERSHIP,
      });
      agents.push(j);
      await waitFor(() => hits(j) === acked, 'j to take the state', 120_000).catch((e: unknown) => {
        console.log(JSON.stringify(j.status().counters), JSON.stringify(j.status().peers));
        throw e;
      });
      const c = j.status().counters;
      expect(hung()).toBe(true);
      expect(c.syncsStalled).toBeGreaterThanOrEqual(1);
      // j met b and refused its snapshot (the case this test is about)...
      expect(c.rejectedSnapshots).toBeGreaterThanOrEqual(1);
      // ...but did not keep pulling from b alone while a was avoided: a round every 300 ms for
      // the 30 s a was avoided refused about a hundred (163 in one run before the fix).
      expect(c.rejectedSnapshots).toBeLessThanOrEqual(20);
    },
  );
});
