// The nemesis's force-leave and reap-timer faults (docs/chaos.md): one member cut off while its
// client writes, reaped by the survivors (an operator's force-leave, or their reapAfterMs
// timers), then healed or restarted, and its rebase and re-run awaited.
import { waitUntil } from './agents.js';
import { statusClock } from './converge.js';
import { awaitRebase, beyondCut, logSize, writingUnder } from './nemesis-rebase.js';
import { agreedReaps } from './reap-cuts.js';

/**
 * How long the force-leave fault waits for the agreed cut. It waits for every survivor's
 * report: one just back from a store loss reported 36 s after the force-leave at load 50
 * (seed 7), once it had a peer's state.
 */
export const REAP_WAIT_MS = 60_000;
/**
 * A timer-driven reap comes reapAfterMs after the member was last heard, once it is also
 * declared dead: on a machine at load 25, a killed agent was suspected only after 41 s.
 */
export const TIMER_REAP_WAIT_MS = 90_000;

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Epochs already reaped with a cut at agent `i`: a fault's reaps are the ones new since. */
export async function reapedAt(nem, i) {
  return new Set((await nem.reapsAt(i)).filter((r) => r.cut !== undefined).map((r) => r.epoch));
}

/** Asks agent `by` to force-leave agent `t`; logs an answer other than ok. */
export async function forceLeaveAt(nem, by, t) {
  const peer = nem.agents[t].peerId;
  const r = await nem.apis[by].request('POST', `/v1/members/${encodeURIComponent(peer)}/force-leave`);
  if (r.outcome !== 'ok')
    nem.log(`  force-leave of a${t} at a${by} answered ${r.status} ${JSON.stringify(r.body)}`);
  return { by, target: t, status: r.status, body: r.body };
}

/**
 * Isolates `target` while its client keeps writing (so it holds writes nobody else has), has a
 * survivor force-leave it (POST /v1/members/<id>/force-leave) and waits, bounded, until every
 * survivor's /v1/status shows the reap of its epoch with a cut. Then it heals the link, or (a
 * seeded choice) kills the member, heals and restarts it, and waits, bounded, until the member
 * logged its rebase and, if it held writes beyond the cut, their re-run. The window from the
 * force-leave to the rebase counts as a store loss of the member for the checker: a write it
 * made after the rebase did not see what its reads saw before (its state may be a peer's).
 */
export async function forceLeave(nem, f, target, before) {
  const n = nem.agents.length;
  const a = nem.agents[target];
  const survivors = [...Array(n).keys()].filter((x) => x !== target);
  const by = survivors[nem.rng.int(0, survivors.length - 1)];
  // The coin is always drawn, so a seed makes the same other choices in either mode.
  const timer = f.kind === 'reap-timer';
  // A timer-driven reap always kills the member (below): alive and cut off for reapAfterMs,
  // it would reap every survivor on its own timer too (the mutual-reap fault does that).
  const restart = (nem.rng.chance(0.5) && nem.forceLeaveRestart) || timer;
  const peer = a.peerId;
  const logFrom = logSize(a);
  nem.net.isolate(target);
  const sideOf = {};
  for (let i = 0; i < n; i++) sideOf[i] = i === target ? `alone${i}` : 'br0';
  const cut = { start: Date.now(), end: 0, side: sideOf };
  f.start = cut.start;
  f.by = by;
  f.restart = restart;
  const doneBefore = await reapedAt(nem, by);
  // Let the member write beyond what the others hold before it is removed. A timer-driven
  // reap needs no request: the member writes for a while (well under reapAfterMs), is
  // killed, and each survivor reaps it once it was silent and not alive for reapAfterMs.
  // The window for the checker starts with the isolation.
  if (timer) {
    await sleep(Math.min(Math.floor(f.hold / 2), Math.floor(nem.reapAfterMs / 3)));
    await a.kill();
  } else await sleep(Math.floor(f.hold / 2));
  const leftAt = timer ? f.start : Date.now();
  if (!timer) {
    const r = await forceLeaveAt(nem, by, target);
    f.forceLeave = { status: r.status, body: r.body };
  }
  // Wait until every survivor computed the same cuts of the new reaps of the member's epochs:
  // all of them, since a reap covers every epoch of the member the survivors know (after an
  // unclean restart, its older epoch too; seed 6 reaped a2's at 2 and its current one).
  const waitMs = timer ? nem.reapAfterMs + TIMER_REAP_WAIT_MS : REAP_WAIT_MS;
  const agreed = await waitUntil(
    async () => agreedReaps(await Promise.all(survivors.map((i) => nem.reapsAt(i))), peer, doneBefore),
    'the agreed cut',
    waitMs,
    100,
  ).catch(() => undefined);
  const afterMs = Date.now() - leftAt;
  // The fault's reap: the epoch the member rebases from (below); until its line is seen, the
  // one it acknowledged writes beyond the cut of, else the last.
  f.reaps = agreed?.map((r) => ({ epoch: r.epoch, cut: r.cut, afterMs }));
  f.reap = f.reaps && (f.reaps.find((r) => beyondCut(nem, target, r) > 0) ?? f.reaps.at(-1));
  // The epoch the member wrote under then (its last acknowledged write's): one the survivors
  // never heard of (a store loss just before) is not reaped, and needs no rebase (seed 102).
  f.writingUnder = writingUnder(nem, target);
  if (!f.reap) await showReaps(nem, survivors, target);
  const who = timer ? `the survivors' timers (reapAfterMs ${nem.reapAfterMs})` : `a${by}`;
  nem.log(
    f.reap
      ? `  ${who} reaped a${target}: ${f.reaps.map((r) => `${r.epoch.slice(-16)} cut at ${r.cut}`).join(', ')} after ${afterMs} ms`
      : `  ${who} reaped a${target}: no agreed cut within ${waitMs} ms`,
  );
  // The rest of the hold: the member keeps writing beyond the cut.
  await sleep(Math.max(0, f.hold - (Date.now() - f.start)));
  f.compactions = nem.delta(before, await nem.compactions());
  if (restart && !timer) await a.kill();
  cut.end = Date.now();
  f.end = cut.end;
  nem.cuts.push(cut);
  nem.net.healAll();
  if (restart) await a.start();
  if (f.reap) await awaitRebase(nem, f, logFrom, leftAt);
}

/** Evidence when a cut was not agreed: what each of `at` shows of agent `target`'s reaps. */
export async function showReaps(nem, at, target) {
  const peer = nem.agents[target].peerId;
  for (const i of at) {
    const st = await nem.apis[i].get('/v1/status');
    const rs = (st?.compaction?.reaps ?? []).filter((x) => x.epoch.split('~')[0] === peer);
    const mine = Object.entries(st ? statusClock(st) : {}).filter(([o]) => o.split('~')[0] === peer);
    const compacted = Object.entries(st?.log?.compacted ?? {}).filter(([o]) => o.split('~')[0] === peer);
    nem.log(
      `  a${i} (${st?.peerId}) shows reaps of a${target}: ${JSON.stringify(rs)}; its clock of a${target}: ${JSON.stringify(mine)}, compacted: ${JSON.stringify(compacted)}, buffered ${st?.buffered}, force-leaves ${JSON.stringify(st?.compaction?.forceLeaves)}, all reaps ${JSON.stringify((st?.compaction?.reaps ?? []).map((x) => [x.epoch.slice(-16), x.cut, x.missing?.map((p) => p.slice(-5))]))}, peers ${JSON.stringify(st?.peers)}`,
    );
  }
}
