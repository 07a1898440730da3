// The documented remedy for two single nodes that refuse each other (docs/agent.md,
// "Divergence"): read out what only one of them holds, stop it, empty its data directory, start
// it again joining the other, and write again what it alone held. Emptied, the directory loses
// the identity key too (a new peer id); an operator may keep that file (the same peer id, say
// for allowPeers). Either way the restarted node must be accepted at once, take the other's
// state, and exchange new writes both ways. With the kept key it used to wait out the other's
// 60 s gater hold on its peer id (it timed out here at 30 s; accepted after 60.2 s): the first
// connection a refused peer opens to us is now let through to be judged (peer-refusals.ts).
import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Agent } from '../../src/agent/agent.js';
import { IDENTITY_FILE_NAME } from '../../src/net/identity.js';
import { inc, refusedBy, refusingPair, starter } from './diverged-pair.js';
import { incHits, stopAll, waitFor } from './helpers.js';

const agents: Agent[] = [];
afterEach(() => stopAll(agents.splice(0)));
const start = starter(agents);
const hits = (a: Agent): number | undefined => a.read('pn-counter', 'hits')?.value as number | undefined;

/** Set SMAC_REMEDY_TIMINGS=1 to print how long each step took (docs/agent.md quotes them). */
function timing(step: string, since: number): void {
  if (process.env.SMAC_REMEDY_TIMINGS)
    process.stdout.write(`remedy timing: ${step} ${Date.now() - since} ms\n`);
}

/**
 * What the operator does to `a` (docs/agent.md, "Divergence"): stops it and empties its data
 * directory, keeping its identity key when `keepIdentity`; then starts it again on that directory,
 * joining `b`. Returns the new agent and when it was started.
 */
async function restartEmpty(
  a: Agent,
  b: Agent,
  opts: Record<string, unknown>,
  keepIdentity: boolean,
): Promise<[Agent, number]> {
  const dataDir = a.config.dataDir;
  await a.stop();
  agents.splice(agents.indexOf(a), 1);
  for (const f of readdirSync(dataDir))
    if (!(keepIdentity && f === IDENTITY_FILE_NAME))
      rmSync(join(dataDir, f), { recursive: true, force: true });
  const restartedAt = Date.now();
  return [await start({ ...opts, dataDir, join: b.addresses() }), restartedAt];
}

/** `a2` and `b` accept each other, `a2` takes b's 60, and writes flow both ways. */
async function expectJoined(a2: Agent, b: Agent, held: number, restartedAt: number, label: string) {
  const bound = Number(process.env.SMAC_REMEDY_BOUND ?? 30_000);
  await waitFor(() => hits(a2) === 60, "the restarted node to take b's state (60)", bound);
  timing(`${label}: restart to state installed`, restartedAt);
  // Accepted: not refused, and each a member the other's stability waits for.
  await waitFor(
    () =>
      !refusedBy(b, a2) &&
      !refusedBy(a2, b) &&
      b.status().compaction.members.includes(a2.peerId) &&
      a2.status().compaction.members.includes(b.peerId),
    'each to accept the other as a member',
    bound,
  );
  timing(`${label}: restart to accepted`, restartedAt);
  expect(a2.status().counters.refusedDiverged).toBe(0);
  // What only the wiped node held is written again: a new write, after everything of b's.
  await incHits(a2, held);
  await waitFor(() => hits(b) === 120 && hits(a2) === 120, 'both to read 120', 30_000);
  await inc(b, 3);
  await inc(a2, 2);
  await waitFor(() => hits(b) === 125 && hits(a2) === 125, 'both to read 125', 30_000);
  timing(`${label}: restart to converged on new writes`, restartedAt);
  expect(refusedBy(b, a2)).toBe(false);
}

describe('the remedy for two single nodes that refuse each other', () => {
  const opts = { snapshotEveryEvents: 20, heartbeatIntervalMs: 100 };

  it('one restarted with an empty data directory (a new identity) joins the other, takes its state, and writes flow both ways', async () => {
    const [a, b] = await refusingPair(start, opts);
    // The operator reads out what only a holds, stops a, and empties its data directory.
    const held = hits(a) ?? 0;
    expect(held).toBe(60);
    const oldId = a.peerId;
    const [a2, restartedAt] = await restartEmpty(a, b, opts, false);
    expect(a2.peerId).not.toBe(oldId); // the key was in the emptied directory
    await expectJoined(a2, b, held, restartedAt, 'new identity');
    expect(a2.status().counters.divergedPulls).toBe(0);
    // The old peer id is never heard from again: it stays listed until REFUSAL_EXPIRES_MS after
    // it was last heard (peer-refusals.ts; test/agent/peer-refusals.test.ts drops it).
    expect(b.status().refused.map((r) => r.peerId)).toEqual([oldId]);
  }, 180_000);

  it('one restarted with an empty store that kept its identity key (say, for allowPeers) is accepted too', async () => {
    const [a, b] = await refusingPair(start, opts);
    const held = hits(a) ?? 0;
    const oldId = a.peerId;
    const [a2, restartedAt] = await restartEmpty(a, b, opts, true);
    expect(a2.peerId).toBe(oldId);
    await expectJoined(a2, b, held, restartedAt, 'same identity');
    // The refusal of the old store is lifted: the peer id is b's member now.
    expect(b.status().refused).toEqual([]);
  }, 180_000);
});
