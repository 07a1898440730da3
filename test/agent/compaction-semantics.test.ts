// Issue 7, "Documented semantics broken by compaction", end to end: three in-process agents, c
// split off with a real cut (split.ts), snapshotEveryEvents 20 so that a compacts during the
// cut. rw-set: a added x, everyone saw it; c, cut off, adds x while a removes it: after the heal
// x is absent everywhere (remove wins). pn-counter: c deletes the counter it saw at 5 while a
// adds 3: after the heal it reads 3 everywhere (the delete resets only what it saw). As
// observed before the fix (stability over the members heard from in the last three heartbeats),
// a folded its remove and its +3 during the cut, and after the heal x was present everywhere and
// the counter read 8. The agent has no hook to swap the stability rule: the mutation below puts
// the old rule back by replacing the compactor's `stabilityMembers` on a and b, and shows both
// wrong answers (test/core/compaction-semantics.test.ts runs the same mutation in the simulation).
import { afterEach, describe, expect, it } from 'vitest';
import type { Agent } from '../../src/agent/agent.js';
import type { Compactor } from '../../src/agent/compaction.js';
import {
  hits,
  incHits,
  startCluster,
  stopAll,
  waitConnected,
  waitConverged,
  waitFor,
  waitMembersKnown,
} from './helpers.js';
import { heal, split } from './split.js';

const rw = (kind: 'add' | 'remove') => ({ type: 'rw-set', key: 's', op: { kind, value: 'x' } });
const counter = (op: object) => ({ type: 'pn-counter', key: 'n', op });

let agents: Agent[] = [];
afterEach(() => stopAll(agents.splice(0)));

const HEARTBEAT_MS = 100;
const CUT_MS = 10 * HEARTBEAT_MS;

/**
 * The stability rule before issue 7, put back on `x` (the mutation): only the members heard from
 * in the last three heartbeat intervals count.
 */
function useOldRule(x: Agent): void {
  const compactor: Compactor = x.compactor;
  compactor.stabilityMembers = () =>
    [...x.heartbeats.heardFrom()].filter(([, h]) => Date.now() - h.at <= 3 * HEARTBEAT_MS).map(([id]) => id);
}

interface Outcome {
  readonly s: unknown[];
  readonly n: unknown[];
  readonly hits: number[];
  readonly acked: number;
}

/**
 * a adds x and 5, everyone sees them; c is split off and adds x and deletes the counter while a
 * removes x and adds 3; a's side keeps writing until a compacted at least twice after the cut
 * lasted CUT_MS (ten heartbeats, far past the old window); heal and converge.
 */
async function scenario(oldRule: boolean): Promise<Outcome> {
  agents = await startCluster(3, { snapshotEveryEvents: 20, heartbeatIntervalMs: HEARTBEAT_MS });
  await waitConnected(agents, 2);
  await waitMembersKnown(agents);
  const [a, b, c] = agents as [Agent, Agent, Agent];
  if (oldRule) for (const x of [a, b]) useOldRule(x);
  await a.write([rw('add'), counter({ kind: 'increment', by: 5 })]);
  await waitFor(() => agents.every((x) => x.read('pn-counter', 'n')?.value === 5), 'x and 5 everywhere');
  expect(c.read('rw-set', 's')?.value).toEqual(['x']);

  await split([[a, b], [c]]);
  const cutAt = Date.now();
  // c's ops are one event: c does not compact during the cut, as in the observed runs.
  await c.write([rw('add'), counter({ kind: 'delete' })]);
  await a.write([rw('remove'), counter({ kind: 'increment', by: 3 })]);
  // Keep writing on a's side (bounded) until a took snapshots well into the cut.
  let late: number | undefined;
  const compactedLate = () => {
    const n = a.status().counters.compactions;
    if (late === undefined && Date.now() - cutAt >= CUT_MS) late = n;
    return late !== undefined && n >= late + 2;
  };
  let acked = 0;
  for (let i = 0; i < 5_000 && !compactedLate(); i++) {
    acked += await incHits(i % 2 ? a : b, 1);
    if (i % 20 === 19) await new Promise((r) => setTimeout(r, 20));
  }
  await waitFor(compactedLate, 'a to compact during the cut');
  expect(c.connectedPeers()).toEqual([]);
  // With the rule as landed, c, cut off, holds a's remove and +3 back from compaction at a.
  if (!oldRule) expect(a.status().compaction.blockedBy.map((m) => m.peerId)).toContain(c.peerId);

  await heal(agents);
  await waitConverged(agents, 'convergence after the heal', 45_000);
  return {
    s: agents.map((x) => x.read('rw-set', 's')?.value),
    n: agents.map((x) => x.read('pn-counter', 'n')?.value),
    hits: agents.map(hits),
    acked,
  };
}

describe('compaction during a cut keeps the documented semantics (issue 7)', () => {
  it('remove wins over an add made on the far side; a counter delete resets only what it saw', async () => {
    const r = await scenario(false);
    expect(r.s).toEqual([[], [], []]);
    expect(r.n).toEqual([3, 3, 3]);
    expect(r.hits).toEqual([r.acked, r.acked, r.acked]);
  }, 150_000);
});

describe('mutation: stability over the members heard from in the last three heartbeats', () => {
  it('a folds its remove and its +3 during the cut: x is present and the counter reads 8 everywhere', async () => {
    const r = await scenario(true);
    expect(r.s).toEqual([['x'], ['x'], ['x']]);
    expect(r.n).toEqual([8, 8, 8]);
  }, 150_000);
});
