// Agreed reaping with real agents (issue 7, "Reaping is one cut the cluster agrees on, and a
// reaped member that comes back loses nothing it acknowledged"). Before it, an agent that
// force-left or reaped a member stopped waiting for it at once, on its own, even while another
// agent still held events of that member it lacked (test/core/reaping.test.ts shows the fork).
import { afterEach, describe, expect, it } from 'vitest';
import { Agent } from '../../src/agent/agent.js';
import type { ReapStatus } from '../../src/agent/reaper.js';
import { vcToRecord } from '../../src/core/clock/vector-clock.js';
import {
  FAST_OPTIONS,
  hits,
  listenOf,
  startFastCluster,
  stopAll,
  testConfig,
  waitConnected,
  waitFor,
} from './helpers.js';
import { REAP_OPTS, retired } from './reap-setup.js';

let agents: Agent[] = [];
afterEach(() => stopAll(agents.splice(0)));

const inc = (a: Agent, by = 1) =>
  a.write([{ type: 'pn-counter', key: 'hits', op: { kind: 'increment', by } }]);
// (Read as possibly absent: the same test ran, failing, against the agent before agreed reaping.)
const reapOf = (a: Agent, epoch: string) =>
  (a.status().compaction.reaps as ReapStatus[] | undefined)?.find((r) => r.epoch === epoch);
const cutOf = (a: Agent, epoch: string) => reapOf(a, epoch)?.cut;
const state = (a: Agent) => JSON.stringify(a.list().filter((o) => !o.key.startsWith('_sys/')));

/** a, b, c connected; c wrote 5 events everyone has. `epoch`: c's origin. */
async function cluster(): Promise<{ a: Agent; b: Agent; c: Agent; epoch: string }> {
  agents = await startFastCluster(3, REAP_OPTS);
  await waitConnected(agents, 2);
  const [a, b, c] = agents as [Agent, Agent, Agent];
  for (let i = 0; i < 5; i++) await inc(c);
  await waitFor(() => agents.every((x) => hits(x) === 5), 'c’s first writes everywhere');
  return { a, b, c, epoch: c.status().origin };
}

/** As `cluster`, then c wrote 10 more events that reached only b, and died. */
async function lastEventsOnlyAtB(): Promise<{ a: Agent; b: Agent; c: Agent; epoch: string }> {
  const { a, b, c, epoch } = await cluster();
  await a.isolate(true);
  await waitFor(() => a.connectedPeers().length === 0, 'a cut off');
  for (let i = 0; i < 10; i++) await inc(c);
  await waitFor(() => hits(b) === 15, 'c’s last writes at b');
  await c.isolate(true); // c dies
  return { a, b, c, epoch };
}

/** Where each agent stands, for a failed wait: origin, counter, clock, retired cuts, reaps, sync. */
function diagnosis(): string {
  return agents
    .map((x, i) => {
      const s = x.status();
      const reaps = s.compaction.reaps.map(
        (r) => `${r.epoch}:${String(r.cut ?? `open(${r.missing.join(',')})`)}`,
      );
      return JSON.stringify({
        agent: 'abcdefgh'[i],
        origin: s.origin,
        counter: hits(x),
        clock: vcToRecord(x.clock()),
        retired: s.retired,
        reaps,
        forceLeaves: s.compaction.forceLeaves.length,
        buffered: s.buffered,
        syncs: [s.counters.syncsStarted, s.counters.syncsFailed, s.counters.snapshotsInstalled],
        rejectedSnapshots: s.counters.rejectedSnapshots,
      });
    })
    .join(' ');
}

/** Waits until c writes under a new epoch and all replicas are identical with `acked`; the cut. */
async function rebasedAndIdentical(c: Agent, epoch: string, acked: number): Promise<number> {
  const [a, b] = agents as [Agent, Agent];
  await waitFor(() => c.status().origin !== epoch, 'c to write under a new epoch', 30_000);
  const t0 = Date.now();
  await waitFor(
    () => agents.every((x) => hits(x) === acked) && state(a) === state(b) && state(b) === state(c),
    'every replica identical, with every acknowledged write',
    60_000,
  ).catch((e: unknown) => {
    throw new Error(`${String(e)}; acknowledged ${String(acked)}; ${diagnosis()}`);
  });
  if (process.env.SMAC_REAP_TIMINGS) console.log(`identical ${Date.now() - t0} ms after the new epoch`);
  return reapOf(a, epoch)?.cut ?? 0;
}

describe('agreed reaping', () => {
  it('a force-left member whose last events reached only b is retired at the cut b reports, on a and b alike', async () => {
    const { a, b, c, epoch } = await lastEventsOnlyAtB();
    const last = b.clock().get(epoch) ?? 0;
    expect(a.clock().get(epoch) ?? 0).toBeLessThan(last);
    expect(a.forceLeave(c.peerId)).toBe(true);
    // a alone cannot decide: b, which a still counts as a member, has not reported.
    await new Promise((r) => setTimeout(r, 500));
    expect(retired(a, c.peerId)).toBeUndefined();
    expect(reapOf(a, epoch)).toMatchObject({ limit: a.clock().get(epoch), cut: undefined });
    await a.isolate(false);
    await waitFor(
      () => [a, b].every((x) => retired(x, c.peerId) !== undefined),
      'a and b to retire c at the agreed cut',
      30_000,
    );
    for (const x of [a, b]) {
      expect(reapOf(x, epoch)?.cut).toBe(last);
      expect(x.clock().get(epoch)).toBe(last);
      expect(hits(x)).toBe(15);
    }
    expect(retired(a, c.peerId)?.reason).toBe('force-left');
    expect(retired(b, c.peerId)?.reason).toBe('reaped');
    await waitFor(() => state(a) === state(b), 'a and b identical');
    // c comes back: nothing of its old epoch beyond the cut can be accepted any more, so it
    // moves to a new epoch (rebasing, if its own services wrote while it was cut off), and
    // writes again.
    await c.isolate(false);
    await waitFor(() => c.status().origin !== epoch, 'c to write under a new epoch', 30_000);
    await inc(c, 100);
    await waitFor(() => agents.every((x) => hits(x) === 115), 'c’s new write everywhere', 30_000);
    await waitFor(() => state(a) === state(c), 'a and c identical');
  }, 90_000);

  it('two members reaping the same member concurrently agree on one cut', async () => {
    const { a, b, c, epoch } = await lastEventsOnlyAtB();
    const last = b.clock().get(epoch) ?? 0;
    // Both decide while apart: two markers, each with its writer's report.
    expect(a.forceLeave(c.peerId)).toBe(true);
    expect(b.forceLeave(c.peerId)).toBe(true);
    await waitFor(() => reapOf(a, epoch) !== undefined && reapOf(b, epoch) !== undefined, 'both markers');
    await a.isolate(false);
    await waitFor(
      () => [a, b].every((x) => reapOf(x, epoch)?.cut !== undefined && retired(x, c.peerId) !== undefined),
      'both to retire c',
      30_000,
    );
    for (const x of [a, b]) {
      expect(reapOf(x, epoch)).toMatchObject({ cut: last, missing: [] });
      expect(retired(x, c.peerId)?.reason).toBe('force-left');
    }
    await waitFor(() => state(a) === state(b), 'a and b identical');
    expect(hits(a)).toBe(15);
  }, 90_000);

  it('once retired, the epoch leaves the clocks agents show and send; a new joiner installs the cut from a snapshot', async () => {
    const { a, b, c, epoch } = await cluster();
    await c.isolate(true);
    expect(a.forceLeave(c.peerId)).toBe(true);
    await waitFor(() => [a, b].every((x) => retired(x, c.peerId) !== undefined), 'c reaped', 30_000);
    const cut = reapOf(a, epoch)?.cut ?? 0;
    expect(cut).toBeGreaterThanOrEqual(5);
    for (const x of [a, b]) {
      expect(x.clock().get(epoch)).toBe(cut); // still covered up to the cut
      expect(x.status().clock[epoch]).toBeUndefined(); // but no longer shown nor sent
    }
    // Heartbeats and sync requests now carry clocks without c: each reads the other's as
    // holding c up to the cut (no lag, nothing to repair).
    await waitFor(
      () => [a, b].every((x) => x.status().peers.every((p) => p.peerId === c.peerId || p.lag === 0)),
      'no lag between a and b',
    );
    // Enough writes for both to compact, then a joiner whose first snapshot is pruned.
    for (let i = 0; i < 30; i++) await inc(a);
    await waitFor(() => hits(b) === 35, 'a’s writes at b');
    const d = await Agent.start(testConfig({ ...REAP_OPTS, join: a.addresses() }), FAST_OPTIONS);
    agents.push(d);
    await waitFor(() => hits(d) === 35 && state(d) === state(a), 'd caught up', 30_000);
    expect(d.status().counters.snapshotsInstalled).toBeGreaterThan(0);
    expect(d.clock().get(epoch)).toBe(cut);
    expect(d.status().clock[epoch]).toBeUndefined();
    expect(d.status().retired[epoch]).toBe(cut);
    await inc(d, 100);
    await waitFor(() => [a, b, d].every((x) => hits(x) === 135), 'd’s write everywhere', 30_000);
    for (const x of [a, b, d]) expect(x.status().clock[epoch]).toBeUndefined();
  }, 90_000);

  it('the retired cut survives a restart; the member’s write beyond it arrives only as a re-run', async () => {
    const { a, b, c, epoch } = await lastEventsOnlyAtB();
    await inc(c, 100); // c, cut off, writes beyond what anyone holds
    await a.isolate(false);
    expect(a.forceLeave(c.peerId)).toBe(true);
    await waitFor(() => [a, b].every((x) => reapOf(x, epoch)?.cut !== undefined), 'the cut', 30_000);
    const cut = reapOf(a, epoch)?.cut;
    // Restarted on the same address: c, which joined through it, finds it again when it returns.
    const listen = listenOf(a);
    await a.stop();
    const config = { ...a.config, listen, join: b.addresses() };
    const again = await Agent.start(config, FAST_OPTIONS);
    agents[0] = again;
    expect(reapOf(again, epoch)?.cut).toBe(cut);
    expect(again.clock().get(epoch)).toBe(cut);
    // c comes back: its write beyond the cut is never applied as the old event (the clock stays
    // at the cut), but re-run by c under a new epoch.
    await c.isolate(false);
    await waitFor(() => [again, b, c].every((x) => hits(x) === 115), 'the re-run write everywhere', 30_000);
    expect(again.clock().get(epoch)).toBe(cut);
  }, 90_000);

  it('a reaped member that comes back rebases: new epoch, peer state, its acknowledged writes re-run', async () => {
    const { a, b, c, epoch } = await cluster();
    await c.isolate(true);
    let acked = 5;
    let lastSeq = 0;
    for (const by of [10, 20, 30]) {
      lastSeq = (await inc(c, by)).seq; // acknowledged by c, seen by nobody else
      acked += by;
    }
    expect(a.forceLeave(c.peerId)).toBe(true);
    await waitFor(() => [a, b].every((x) => retired(x, c.peerId) !== undefined), 'c reaped', 30_000);
    await c.isolate(false);
    const cut = await rebasedAndIdentical(c, epoch, acked);
    expect(lastSeq - cut).toBe(3); // the three writes were beyond the cut, and were re-run
    for (const x of agents) expect(x.clock().get(epoch)).toBe(cut);
  }, 90_000);

  it('a reaped member that returns after the others compacted the reap away learns the cut from a snapshot', async () => {
    const { a, b, c, epoch } = await cluster();
    await c.isolate(true);
    let acked = 5;
    for (const by of [10, 20, 30]) {
      await inc(c, by);
      acked += by;
    }
    expect(a.forceLeave(c.peerId)).toBe(true);
    await waitFor(() => [a, b].every((x) => retired(x, c.peerId) !== undefined), 'c reaped', 30_000);
    // Write until both have compacted since: the markers and reports are then only in snapshots.
    const since = [a, b].map((x) => x.status().counters.compactions);
    for (
      let i = 0;
      i < 2_000 && [a, b].some((x, j) => x.status().counters.compactions < since[j]! + 2);
      i++
    ) {
      await inc(a);
      acked += 1;
      if (i % 20 === 19) await new Promise((r) => setTimeout(r, 20));
    }
    await waitFor(() => hits(b) === hits(a), 'a’s writes at b');
    await c.isolate(false);
    const cut = await rebasedAndIdentical(c, epoch, acked);
    expect(c.status().counters.snapshotsInstalled).toBeGreaterThan(0);
    for (const x of agents) expect(x.clock().get(epoch)).toBe(cut);
  }, 120_000);

  // Once stuck in a full-suite CI run (session 7): a's pending force-leave reaped the epoch c
  // had just moved to, before c got a peer's state, and c's rebase waited for ever for a state
  // none could give (docs/chaos.md "Fixed: a reap racing the member's return stuck once";
  // test/agent/rebase-reaped-again.test.ts).
  it(
    'a reap racing the member’s return: the cut holds, and what c wrote beyond it is re-run',
    { timeout: 90_000 },
    async () => {
      const { a, c, epoch } = await cluster();
      // a decides c is gone while a is cut off: its marker reaches the others only later.
      await a.isolate(true);
      await waitFor(() => a.connectedPeers().length === 0, 'a cut off');
      expect(a.forceLeave(c.peerId)).toBe(true);
      // c keeps writing (acknowledged) while the marker travels and the reports are collected.
      let acked = 5;
      let lastOld = 0; // c's last seq under the reaped epoch
      // It writes until the cut is known (bounded), so that it is writing when b reports: what
      // it writes under the old epoch between b's report and its own rebase is beyond the cut.
      const writer = (async () => {
        for (let i = 1; i <= 400 && reapOf(a, epoch)?.cut === undefined; i++) {
          const r = await inc(c, 1);
          if (r.origin === epoch) lastOld = r.seq;
          acked += 1;
          await new Promise((r) => setTimeout(r, 25));
        }
      })();
      await new Promise((r) => setTimeout(r, 300));
      await a.isolate(false);
      await writer;
      await waitFor(() => reapOf(a, epoch)?.cut !== undefined, 'the cut', 30_000);
      const cut = await rebasedAndIdentical(c, epoch, acked);
      for (const x of agents) {
        expect(reapOf(x, epoch)?.cut).toBe(cut);
        expect(x.clock().get(epoch)).toBe(cut);
      }
      // How many epochs of c were reaped: a's force-leave is done once it sees the cut agreed,
      // but c's writes under its new epoch made while it waited for a peer's state depend on
      // nothing, and may reach a before the report that completes the cut; a then reaps that
      // epoch too (docs/agent.md "A force-leave covers the member whatever epoch it is in").
      const reapedOfC = a.status().compaction.reaps.filter((r) => r.epoch.startsWith(`${c.peerId}~`)).length;
      console.log(`epochs of c reaped: ${String(reapedOfC)}`);
      // Whether c went on writing under its old epoch after the others had reported depends on
      // timing (it failed as an assertion 2 runs in 5 here: the reports came after c's last old
      // write). The invariants above hold either way; the run says which case it covered.
      console.log(
        lastOld > cut
          ? `race covered: c wrote up to ${lastOld} under the reaped epoch, past the cut ${cut}`
          : `race not covered this run: c's last old write ${lastOld} is within the cut ${cut}`,
      );
    },
  );

  it('a member that joined mid-reap and got c’s events beyond the cut from c rebases: its writes before count once, those after are re-run', async () => {
    const { a, b, c, epoch } = await cluster();
    // a and b go quiet; j joins through c (a's address is down for now), unknown to a and b.
    await a.isolate(true);
    await b.isolate(true);
    await waitFor(() => c.connectedPeers().length === 0, 'c alone');
    const j = await Agent.start(
      testConfig({ ...REAP_OPTS, join: [...c.addresses(), ...a.addresses()] }),
      FAST_OPTIONS,
    );
    agents.push(j);
    await waitFor(() => hits(j) === 5, 'j took c’s state', 30_000);
    const before = 1000;
    await inc(j, before); // depends on nothing beyond the cut: must count once
    await inc(c, 10); // reaches j only: beyond the cut a and b will agree on
    await waitFor(() => hits(j) === 1015, 'c’s last write at j');
    const after = 100;
    await inc(j, after); // depends on it: must be re-run
    const jOrigin = j.status().origin;
    // j goes quiet, c dies; a and b reap c without j (a's marker names a and b only).
    await j.isolate(true);
    await c.isolate(true);
    await a.isolate(false);
    await b.isolate(false);
    await waitConnected([a, b], 1);
    expect(a.forceLeave(c.peerId)).toBe(true);
    await waitFor(() => [a, b].every((x) => cutOf(x, epoch) !== undefined), 'the cut', 30_000);
    const cut = cutOf(a, epoch) ?? 0;
    expect(cut).toBe(a.clock().get(epoch));
    expect(j.clock().get(epoch) ?? 0).toBeGreaterThan(cut);
    // j comes back: it learns the cut below what it delivered.
    await j.isolate(false);
    await waitFor(() => j.status().origin !== jOrigin, 'j to rebase under a new epoch', 30_000);
    const acked = 5 + before + after;
    await waitFor(
      () => [a, b, j].every((x) => hits(x) === acked) && state(a) === state(j) && state(b) === state(j),
      'a, b and j identical, with every acknowledged write of j once and c’s write beyond the cut nowhere',
      45_000,
    );
    expect(j.clock().get(epoch)).toBe(cut);
    expect(j.status().clock[epoch]).toBeUndefined(); // retired, and pruned from its clock too
  }, 120_000);
});
