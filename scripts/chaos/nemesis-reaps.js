// The nemesis's faults of two reaps at once (docs/chaos.md, "Mutual and opposite-order reaps"):
//
// - `mutual-reap`: a split in which each side reaps the other (force-leaves of every member of
//   the other side on each side, or, with --reap-after, their reapAfterMs timers), then the
//   heal. The side with more members (on a tie, the one holding the smallest peer id) keeps
//   its state; every member of the other side rebases and re-runs its writes beyond the cut
//   (docs/agent.md "Reaping"). The harness predicts the winner by that rule, and fails the run
//   if a member of the winning side rebases for the losers' (void) reaps.
// - `opposite-reaps`: two members cut off, each alone; two survivors, split apart for the
//   moment, force-leave them in opposite orders (x then y on one, y then x on the other), so
//   that each reap names the other's member, who cannot report: the reaps wait on each other
//   and complete together (src/core/reaping.ts `waitingOnEachOther`). Needs 4 agents.
//
// Each reaped member's part is a reap record (like a force-leave fault's) in `f.members`.
import { waitUntil } from './agents.js';
import { awaitRebase, beyondCut, isRebaseLine, logLines, logSize, writingUnder } from './nemesis-rebase.js';
import {
  REAP_WAIT_MS,
  TIMER_REAP_WAIT_MS,
  forceLeaveAt,
  reapedAt,
  showReaps,
  sleep,
} from './nemesis-leave.js';
import { agreedReaps, reportedSide } from './reap-cuts.js';

/**
 * The documented rule (docs/agent.md "Reaping", src/core/mutual-reap.ts `compareSides`),
 * written again here so that the harness checks the agents against the rule, not against
 * their own code: negative when side `a` (peer ids) wins over side `b`.
 */
export function compareSides(a, b) {
  if (a.length !== b.length) return b.length - a.length;
  const minA = [...a].sort()[0] ?? '';
  const minB = [...b].sort()[0] ?? '';
  return minA < minB ? -1 : minA > minB ? 1 : 0;
}

/**
 * The sides (agent indices) ranked, the winner first, by the documented rule (`compareSides`)
 * over the sides as the agents judge them: who reported on each side's new reaps of the others
 * (`rs`: each agent's reaps; src/core/mutual-reap.ts `sideOf`). A member reaped in an earlier
 * fault is left out of its side's later markers (src/agent/reaper.ts `initiate`), so its side
 * looks smaller to every agent alike and may lose where the whole group would have won
 * (docs/chaos.md, "Three-way splits and a joiner during a split"). `byGroups`: the ranking of
 * the whole groups, for the log.
 */
export function rankSides(nem, sides, rs, doneBefore) {
  const peer = (i) => nem.agents[i].peerId;
  const others = (k) => sides.filter((_, j) => j !== k).flat();
  const reported = sides.map((g, k) => reportedSide(nem.agents, rs?.[g[0]], others(k), doneBefore));
  const counted = reported.map((r, k) => (r.length > 0 ? r : sides[k]));
  const rank = (of) => sides.map((_, k) => k).sort((x, y) => compareSides(of[x].map(peer), of[y].map(peer)));
  return { ranked: rank(counted), byGroups: rank(sides), reported };
}

/** Logs the sides as the agents judge them, and whether their winner is the whole groups'. */
export function logSides(nem, sides, reported, ranked, byGroups) {
  const differs = ranked[0] !== byGroups[0];
  nem.log(
    `  sides by their reports: ${reported.map((g) => `a${g.join('+a')}`).join(' | ')}${differs ? `; the whole groups would rank a${sides[byGroups[0]].join('+a')} first, the reports rank a${sides[ranked[0]].join('+a')} first` : ''}`,
  );
}

/** Epochs reaped with a cut at any of agents `at` before the fault. */
export async function reapedBefore(nem, at) {
  const sets = await Promise.all(at.map((i) => reapedAt(nem, i)));
  return new Set(sets.flatMap((s) => [...s]));
}

/** Agent `by` force-leaves each of `targets`, one after the other (each once answered). */
export async function leaveEach(nem, by, targets) {
  const out = [];
  for (const t of targets) out.push(await forceLeaveAt(nem, by, t));
  return out;
}

/** The reap record of member `t` for agreed reaps `agreed` (epochs with cuts). */
export function memberRecord(nem, f, t, agreed, afterMs) {
  const reaps = agreed.map((r) => ({ epoch: r.epoch, cut: r.cut, afterMs }));
  return {
    kind: f.kind,
    targets: [t],
    start: f.start,
    end: 0,
    reaps,
    reap: reaps.find((r) => beyondCut(nem, t, r) > 0) ?? reaps.at(-1),
    writingUnder: writingUnder(nem, t),
  };
}

/**
 * The rest of the hold, then the heal (`cut` ends), then, for every reaped member, its rebase
 * and re-run (bounded), all at once. The window from `leftAt` counts as a store loss of each.
 */
export async function healAndAwait(nem, f, before, cut, logFrom, leftAt, atCut = false) {
  await sleep(Math.max(0, f.hold - (Date.now() - f.start)));
  await nem.endCut(f, cut, before);
  for (const m of f.members) m.end = f.end;
  await Promise.all(f.members.map((m) => awaitRebase(nem, m, logFrom[m.targets[0]], leftAt, atCut)));
}

export const fmt = (rs) => rs.map((r) => `${r.epoch.slice(-16)} cut at ${r.cut}`).join(', ');

/**
 * Waits (bounded) until each of `sides` (agent indices) agreed its reaps, new since
 * `doneBefore`, of every member of the other sides: `agreed[k][j]` are side k's reaps of the
 * j-th member of the others (in side order). `last`: the same at the last poll, with undefined
 * where a side has not agreed; `rs`: each agent's reaps then (by index).
 */
export async function sidesAgreed(nem, sides, doneBefore, waitMs) {
  const others = (k) => sides.filter((_, j) => j !== k).flat();
  const peer = (i) => nem.agents[i].peerId;
  let last;
  let rs = [];
  const agreed = await waitUntil(
    async () => {
      const now = [];
      const at = sides.flat();
      (await Promise.all(at.map((i) => nem.reapsAt(i)))).forEach((r, k) => (now[at[k]] = r));
      rs = now;
      last = sides.map((side, k) =>
        others(k).map((m) =>
          agreedReaps(
            side.map((i) => now[i]),
            peer(m),
            doneBefore,
          ),
        ),
      );
      return last.every((side) => side.every(Boolean)) ? last : undefined;
    },
    `each side agreed its reaps of the other${sides.length > 2 ? 's' : ''}`,
    waitMs,
    200,
  ).catch(() => undefined);
  return { agreed, last, rs };
}

/** A split in which each side reaps the other; then the heal and the losing side's rebases. */
export async function mutualReap(nem, f, before) {
  const n = nem.agents.length;
  const all = [...Array(n).keys()];
  const majority = [...all];
  const minority = [];
  const size = nem.rng.int(1, Math.floor(n / 2));
  while (minority.length < size) minority.push(majority.splice(nem.rng.int(0, majority.length - 1), 1)[0]);
  const byMajority = majority[nem.rng.int(0, majority.length - 1)];
  const byMinority = minority[nem.rng.int(0, minority.length - 1)];
  const timer = nem.reapAfterMs !== undefined;
  const logFrom = nem.agents.map((a) => logSize(a));
  const doneBefore = await reapedBefore(nem, all);
  nem.net.split(minority);
  const sideOf = {};
  for (const i of all) sideOf[i] = minority.includes(i) ? 'br1' : 'br0';
  const cut = { start: Date.now(), end: 0, side: sideOf };
  f.start = cut.start;
  f.targets = minority;
  f.sides = [majority, minority];
  f.timer = timer;
  // Both sides write apart for a while; then each reaps the other: by force-leaves of every
  // member of the other side (back to back on one member of each side, both sides at once),
  // or by the timers of every member, once the other side was silent for reapAfterMs.
  if (!timer) await sleep(Math.floor(f.hold / 2));
  const leftAt = Date.now();
  if (!timer)
    f.forceLeaves = (
      await Promise.all([leaveEach(nem, byMajority, minority), leaveEach(nem, byMinority, majority)])
    ).flat();
  const waitMs = timer ? nem.reapAfterMs + TIMER_REAP_WAIT_MS : REAP_WAIT_MS;
  const { agreed, last, rs: lastRs } = await sidesAgreed(nem, [majority, minority], doneBefore, waitMs);
  const afterMs = Date.now() - leftAt;
  const sides = [majority, minority];
  const { ranked, byGroups, reported } = rankSides(nem, sides, agreed ? lastRs : undefined, doneBefore);
  const [winners, losers] = ranked.map((k) => sides[k]);
  f.winners = winners;
  f.losers = losers;
  if (agreed) {
    f.mutual = true;
    const [byWinners, byLosers] = ranked.map((k) => agreed[k]);
    f.members = losers.map((t, k) => memberRecord(nem, f, t, byWinners[k], afterMs));
    f.voided = byLosers.flat().map((r) => ({ epoch: r.epoch, cut: r.cut }));
    f.winnersLogFrom = Object.fromEntries(winners.map((i) => [i, logFrom[i]]));
    f.reportedSides = reported;
    logSides(nem, sides, reported, ranked, byGroups);
    nem.log(
      `  each side reaped the other after ${afterMs} ms; winners a${winners.join('+a')} reaped ${f.members.map((m) => `a${m.targets[0]} (${fmt(m.reaps)})`).join(', ')}; losers a${losers.join('+a')} reaped ${byLosers.map((rs, k) => `a${winners[k]} (${fmt(rs)})`).join(', ')}`,
    );
  } else {
    f.members = [];
    nem.log(
      `  the sides did not both agree their reaps within ${waitMs} ms (agreed per member: majority ${JSON.stringify(last?.[0]?.map(Boolean))}, minority ${JSON.stringify(last?.[1]?.map(Boolean))})`,
    );
    nem.log(`  force-leaves: ${JSON.stringify(f.forceLeaves ?? [])}`);
    await showReaps(nem, all, minority[0]);
    await showReaps(nem, all, majority[0]);
  }
  await healAndAwait(nem, f, before, cut, logFrom, leftAt);
}

/** Two reaps started in opposite orders on two survivors, of two members cut off alone. */
export async function oppositeReaps(nem, f, before) {
  const n = nem.agents.length;
  // x and y: two members never reaped before when there are two (see Nemesis.plan), else any.
  const reaped = new Set(nem.reapRecords().map((m) => m.targets[0]));
  const fresh = [...Array(n).keys()].filter((i) => !reaped.has(i));
  const pool = fresh.length >= 2 ? fresh : [...Array(n).keys()];
  const take = (from) => from.splice(nem.rng.int(0, from.length - 1), 1)[0];
  const x = take(pool);
  const y = take(pool);
  const rest = [...Array(n).keys()].filter((i) => i !== x && i !== y);
  const a = take(rest);
  const b = take(rest);
  const survivors = [...Array(n).keys()].filter((i) => i !== x && i !== y);
  const logFrom = nem.agents.map((ag) => logSize(ag));
  const doneBefore = await reapedBefore(nem, survivors);
  const peer = (i) => nem.agents[i].peerId;
  // x and y each alone; b apart from a (and the rest) while the reaps start, so that neither
  // survivor's marker reaches the other before both are written: a's marker of x names y, and
  // b's of y names x.
  nem.net.isolate(x);
  nem.net.isolate(y);
  nem.net.split([b]);
  const sides = (bSide) => {
    const side = {};
    for (let i = 0; i < n; i++) side[i] = i === x || i === y ? `alone${i}` : i === b ? bSide : 'br0';
    return side;
  };
  const apart = { start: Date.now(), end: 0, side: sides('br1') };
  f.start = apart.start;
  f.targets = [x, y];
  f.by = [a, b];
  await sleep(Math.floor(f.hold / 2));
  const leftAt = Date.now();
  f.forceLeaves = (await Promise.all([leaveEach(nem, a, [x, y]), leaveEach(nem, b, [y, x])])).flat();
  apart.end = Date.now();
  nem.cuts.push(apart);
  nem.net.rejoin([b]);
  const cut = { start: apart.end, end: 0, side: sides('br0') };
  let last;
  const agreed = await waitUntil(
    async () => {
      const rs = await Promise.all(survivors.map((i) => nem.reapsAt(i)));
      last = rs;
      const both = [x, y].map((t) => agreedReaps(rs, peer(t), doneBefore));
      return both.every(Boolean) ? both : undefined;
    },
    'the agreed cuts of both members',
    REAP_WAIT_MS,
    200,
  ).catch(() => undefined);
  const afterMs = Date.now() - leftAt;
  if (agreed) {
    f.members = [x, y].map((t, k) => memberRecord(nem, f, t, agreed[k], afterMs));
    // The reaps waited on each other: x's named y and y's named x (in a survivor's status).
    const shown = last[0] ?? [];
    const names = (t, other) =>
      shown.some((r) => r.epoch.split('~')[0] === peer(t) && (r.participants ?? []).includes(peer(other)));
    f.crossed = names(x, y) && names(y, x);
    if (!f.crossed)
      nem.log(
        `  their reaps at a${survivors[0]}: ${JSON.stringify(shown.filter((r) => [x, y].some((t) => r.epoch.split('~')[0] === peer(t))).map((r) => ({ epoch: r.epoch.slice(-16), cut: r.cut, participants: r.participants?.map((p) => p.slice(-5)), excused: r.excused?.map((p) => p.slice(-5)) })))}; x a${x} ${peer(x).slice(-5)}, y a${y} ${peer(y).slice(-5)}`,
      );
    nem.log(
      `  a${a} (x then y) and a${b} (y then x) reaped a${x} (${fmt(f.members[0].reaps)}) and a${y} (${fmt(f.members[1].reaps)}) after ${afterMs} ms; ${f.crossed ? 'each reap named the other member' : 'the reaps did not name each other'}`,
    );
  } else {
    f.members = [];
    nem.log(`  no agreed cuts of a${x} and a${y} within ${REAP_WAIT_MS} ms`);
    await showReaps(nem, survivors, x);
    await showReaps(nem, survivors, y);
  }
  await healAndAwait(nem, f, before, cut, logFrom, leftAt);
}

/**
 * What the run checks of these faults: each happened as meant at least once (each side of a
 * split reaped the other; two reaps named each other's member), and no member of a mutual
 * reap's winning side rebased for the losers' reaps of it, which are void.
 */
export function reapFaultFailures(nem) {
  const failures = [];
  const faults = nem.faults;
  if (nem.kinds.includes('mutual-reap') && !faults.some((f) => f.kind === 'mutual-reap' && f.mutual))
    failures.push('no mutual-reap fault had each side of its split reap the other');
  if (nem.kinds.includes('opposite-reaps') && !faults.some((f) => f.kind === 'opposite-reaps' && f.crossed))
    failures.push('no opposite-reaps fault had two reaps name each other’s member');
  for (const f of faults.filter((x) => x.voided?.length > 0)) {
    // A rebase line for the void reap: its epoch at its cut (a later fault may reap the epoch
    // again, at another cut).
    const voided = new Set(f.voided.map((r) => r.epoch));
    const isVoid = (l) =>
      isRebaseLine(l, voided) &&
      f.voided.some((r) => l.cut === r.cut && (l.reaped === r.epoch || l.abandoned === r.epoch));
    for (const [i, from] of Object.entries(f.winnersLogFrom)) {
      const line = logLines(nem.agents[i], from).find(isVoid);
      if (line)
        failures.push(
          `a${i} won the mutual reap (sides a${f.winners.join('+a')} | a${f.losers.join('+a')}) but rebased for the losers' reap of it: ${JSON.stringify(line)}`,
        );
    }
  }
  return failures;
}
