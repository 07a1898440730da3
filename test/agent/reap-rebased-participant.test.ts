// A member reaped once and back under a new epoch is named by later reaps (docs/agent.md
// "Reaping"; the rule at the level of the replica: test/core/reaping-rebased-participant.test.ts).
// b is force-left and comes back as a new epoch; later c's last writes reach b only, c dies, and a
// force-leaves c. The reap must wait for b's report: before, a's marker named only a (b had a
// finished reap of its old epoch in the state), the cut was agreed where a stopped hearing c, and
// c's writes that b held were lost everywhere (b, past the cut, rebased from c's epoch).
import { afterEach, describe, expect, it } from 'vitest';
import type { Agent } from '../../src/agent/agent.js';
import { hits, incHits, stopAll, waitFor } from './helpers.js';
import { reapOf, retired, threeMembersCWrote } from './reap-setup.js';

const agents: Agent[] = [];
afterEach(() => stopAll(agents.splice(0)));

const state = (a: Agent) => JSON.stringify(a.list().filter((o) => !o.key.startsWith('_sys/')));

/** Where each agent stands, for a failed wait. */
function diagnosis(): string {
  return agents
    .map((x) => {
      const s = x.status();
      const reaps = s.compaction.reaps.map(
        (r) => `${r.epoch}:${String(r.cut ?? `open(${r.missing.join(',')})`)}[${r.participants.join(',')}]`,
      );
      return JSON.stringify({ origin: s.origin, hits: hits(x), reaps, members: s.compaction.members });
    })
    .join(' ');
}

describe('a reap after a member came back under a new epoch', () => {
  it('names it, waits for its report, and keeps the dead member’s writes only it held', async () => {
    const { a, b, c, epoch: cEpoch } = await threeMembersCWrote(agents);
    let acked = hits(a);
    // b is force-left while cut off, and comes back under a new epoch.
    const bOld = b.status().origin;
    await b.isolate(true);
    expect(a.forceLeave(b.peerId)).toBe(true);
    await waitFor(() => [a, c].every((x) => retired(x, b.peerId) !== undefined), 'b reaped', 30_000);
    await b.isolate(false);
    await waitFor(() => b.status().origin !== bOld, 'b to write under a new epoch', 30_000);
    const bNew = b.status().origin;
    acked += await incHits(b, 1);
    await waitFor(
      () =>
        [a, c].every((x) => x.status().compaction.members.includes(b.peerId) && x.clock().has(bNew)) &&
        agents.every((x) => hits(x) === acked),
      'b a member again, under its new epoch',
      30_000,
    ).catch((e: unknown) => {
      throw new Error(`${String(e)}; ${diagnosis()}`);
    });
    // a is cut off; c writes 10 more that reach b only, and dies.
    await a.isolate(true);
    await waitFor(() => a.connectedPeers().length === 0, 'a cut off');
    for (let i = 0; i < 10; i++) acked += await incHits(c, 1);
    await waitFor(() => hits(b) === acked, 'c’s last writes at b');
    await c.isolate(true);
    const last = b.clock().get(cEpoch) ?? 0;
    expect(a.clock().get(cEpoch) ?? 0).toBeLessThan(last);
    expect(a.forceLeave(c.peerId)).toBe(true);
    await waitFor(() => reapOf(a, cEpoch) !== undefined, 'a’s marker');
    expect(reapOf(a, cEpoch)?.participants).toEqual([a.peerId, b.peerId].sort());
    await a.isolate(false);
    await waitFor(
      () => [a, b].every((x) => reapOf(x, cEpoch)?.cut !== undefined && retired(x, c.peerId) !== undefined),
      'a and b to retire c',
      30_000,
    ).catch((e: unknown) => {
      throw new Error(`${String(e)}; ${diagnosis()}`);
    });
    for (const x of [a, b]) expect(reapOf(x, cEpoch)?.cut).toBe(last);
    await waitFor(
      () => [a, b].every((x) => hits(x) === acked) && state(a) === state(b),
      'a and b identical, with every acknowledged write',
      30_000,
    ).catch((e: unknown) => {
      throw new Error(`${String(e)}; acknowledged ${String(acked)}; ${diagnosis()}`);
    });
    // b held nothing beyond the cut: no rebase from c's epoch.
    expect(b.status().origin).toBe(bNew);
  }, 120_000);
});
