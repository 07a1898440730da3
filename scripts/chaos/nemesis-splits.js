// The nemesis's split faults beyond one minority (docs/chaos.md, "Three-way splits and a
// joiner during a split"; issue 7: "A member that joined on the far side of a partition"):
//
// - `three-way-split`: the cluster cut into three groups at once (bridges br0, br1, br2), each
//   writing apart for the hold, then the heal.
// - `three-way-reap`: the same, and each side reaps every member of the two others (force-leaves
//   on one member of each side, the three sides at once; with --reap-after, their timers). The
//   side with more members (on a tie, the one holding the smallest peer id) keeps its state;
//   both other sides lose, their reaps of each other too (src/core/mutual-reap.ts), and every
//   member of theirs rebases onto the winners' state.
// - `join-during-split`: a split (a minority on br1), then a fresh agent started on one side,
//   joined to one member of that side only, writing; then the heal. It stays a member for the
//   rest of the run (later faults may pick it). Once per run: it takes the one spare slot.
//
// Needs 4 agents or more (the CI-sized run, 3 agents, is left as it was).
import { waitUntil } from './agents.js';
import { REAP_WAIT_MS, TIMER_REAP_WAIT_MS, showReaps, sleep } from './nemesis-leave.js';
import {
  fmt,
  healAndAwait,
  leaveEach,
  logSides,
  memberRecord,
  rankSides,
  reapedBefore,
  sidesAgreed,
} from './nemesis-reaps.js';
import { logSize } from './nemesis-rebase.js';

export const SPLIT_KINDS = ['three-way-split', 'three-way-reap', 'join-during-split'];

/** How long the joiner may take to acknowledge its first write on its side of the split. */
const JOIN_WRITE_WAIT_MS = 60_000;
/** How long, after the heal, the run waits for every agent to list the joiner as a peer. */
const JOIN_KNOWN_WAIT_MS = 60_000;

const BRIDGES = ['br0', 'br1', 'br2'];

/** Three non-empty groups of the agents, seeded: a shuffle cut at two points. */
function threeGroups(nem) {
  const order = [...nem.agents.keys()];
  for (let i = order.length - 1; i > 0; i--) {
    const j = nem.rng.int(0, i);
    [order[i], order[j]] = [order[j], order[i]];
  }
  const a = nem.rng.int(1, order.length - 2);
  const b = nem.rng.int(a + 1, order.length - 1);
  return [order.slice(0, a), order.slice(a, b), order.slice(b)];
}

/** Cuts the network into `groups` (the first stays on br0) and records the cut. */
function cutInto(nem, groups) {
  groups.forEach((g, k) => {
    if (k > 0) nem.net.split(g, BRIDGES[k]);
  });
  const side = {};
  groups.forEach((g, k) => {
    for (const i of g) side[i] = BRIDGES[k];
  });
  return { start: Date.now(), end: 0, side };
}

/** A three-way split; with `reap`, each side reaps the other two; then the heal (and rebases). */
export async function threeWaySplit(nem, f, before, reap) {
  const groups = threeGroups(nem);
  const all = groups.flat().sort((x, y) => x - y);
  const by = groups.map((g) => g[nem.rng.int(0, g.length - 1)]);
  const timer = reap && nem.reapAfterMs !== undefined;
  const logFrom = nem.agents.map((a) => logSize(a));
  const doneBefore = reap ? await reapedBefore(nem, all) : new Set();
  const cut = cutInto(nem, groups);
  f.start = cut.start;
  f.targets = all;
  f.sides = groups;
  f.timer = timer;
  nem.log(`  sides ${groups.map((g) => `a${g.join('+a')}`).join(' | ')}`);
  if (!reap) {
    await sleep(f.hold);
    await nem.endCut(f, cut, before);
    return;
  }
  // The sides write apart for a while; then one member of each side force-leaves every member
  // of the two other sides, back to back, the three sides at once (or their timers do).
  if (!timer) await sleep(Math.floor(f.hold / 2));
  const leftAt = Date.now();
  const others = (k) => groups.filter((_, j) => j !== k).flat();
  if (!timer)
    f.forceLeaves = (await Promise.all(groups.map((_, k) => leaveEach(nem, by[k], others(k))))).flat();
  const waitMs = timer ? nem.reapAfterMs + TIMER_REAP_WAIT_MS : REAP_WAIT_MS;
  const { agreed, last, rs: lastRs } = await sidesAgreed(nem, groups, doneBefore, waitMs);
  const afterMs = Date.now() - leftAt;
  const { ranked, byGroups, reported } = rankSides(nem, groups, agreed ? lastRs : undefined, doneBefore);
  const w = ranked[0];
  f.winners = groups[w];
  f.losers = ranked.slice(1).flatMap((k) => groups[k]);
  if (agreed) {
    f.mutual = true;
    const theirs = (k, m) => agreed[k][others(k).indexOf(m)];
    f.members = f.losers.map((t) => memberRecord(nem, f, t, theirs(w, t), afterMs));
    f.voided = ranked
      .slice(1)
      .flatMap((k) => others(k).flatMap((m) => theirs(k, m).map((r) => ({ epoch: r.epoch, cut: r.cut }))));
    f.winnersLogFrom = Object.fromEntries(f.winners.map((i) => [i, logFrom[i]]));
    f.reportedSides = reported;
    logSides(nem, groups, reported, ranked, byGroups);
    const shown = (k) =>
      others(k)
        .map((m) => `a${m} (${fmt(theirs(k, m))})`)
        .join(', ');
    nem.log(
      `  each side reaped the two others after ${afterMs} ms; winners a${f.winners.join('+a')} reaped ${shown(w)}; ${ranked
        .slice(1)
        .map((k) => `losers a${groups[k].join('+a')} reaped ${shown(k)}`)
        .join('; ')}`,
    );
  } else {
    f.members = [];
    nem.log(
      `  the sides did not all agree their reaps within ${waitMs} ms (agreed per side and member: ${JSON.stringify(last?.map((s) => s.map(Boolean)))})`,
    );
    nem.log(`  force-leaves: ${JSON.stringify(f.forceLeaves ?? [])}`);
    for (const g of groups) await showReaps(nem, all, g[0]);
  }
  await healAndAwait(nem, f, before, cut, logFrom, leftAt, true);
}

/**
 * A split (a seeded minority on br1), then a fresh agent started on one side, joined to one
 * member of that side only, writing; then the heal. `nem.addAgent(index, joinTo)` (run.js)
 * starts it with its own client and adds both to the run.
 */
export async function joinDuringSplit(nem, f, before) {
  const n = nem.agents.length;
  const j = n;
  const majority = [...Array(n).keys()];
  const minority = [];
  const size = nem.rng.int(1, Math.floor(n / 2));
  while (minority.length < size) minority.push(majority.splice(nem.rng.int(0, majority.length - 1), 1)[0]);
  const onMinority = nem.rng.chance(0.5);
  const side = onMinority ? minority : majority;
  const via = side[nem.rng.int(0, side.length - 1)];
  nem.net.split(minority);
  if (onMinority) nem.net.split([j]);
  const sideOf = {};
  for (let i = 0; i <= n; i++) sideOf[i] = minority.includes(i) || (i === j && onMinority) ? 'br1' : 'br0';
  const cut = { start: Date.now(), end: 0, side: sideOf };
  f.start = cut.start;
  f.targets = [j];
  f.sides = [majority, minority];
  f.via = via;
  nem.log(
    `  sides a${majority.join('+a')} | a${minority.join('+a')}; a${j} joins a${via} on the ${onMinority ? 'minority' : 'majority'}`,
  );
  // A fresh agent: its data directory is new, its only join address is `via`.
  const startedAt = Date.now();
  await nem.addAgent(j, [via]);
  const joiner = nem.agents[j];
  nem.log(`  a${j} (${joiner.peerId}) up after ${Date.now() - startedAt} ms`);
  const wrote = () => nem.history.ops.some((o) => o.agent === j && o.outcome === 'ok');
  await waitUntil(wrote, `a${j}'s first acknowledged write`, JOIN_WRITE_WAIT_MS, 100).catch(() => false);
  await sleep(f.hold);
  await nem.endCut(f, cut, before);
  f.acked = nem.history.ops.filter((o) => o.agent === j && o.outcome === 'ok' && o.end <= f.end).length;
  f.joined = f.acked > 0;
  // Restarted later, it joins everyone, as the others do.
  joiner.joinTo = undefined;
  // Evidence, not a check (convergence is): how long until every agent heard the joiner.
  const healedAt = Date.now();
  const known = await waitUntil(
    async () => {
      const ss = await Promise.all(nem.apis.map((api) => api.get('/v1/status')));
      return ss.every(
        (s, i) =>
          i === j || s?.peers?.some((p) => p.peerId === joiner.peerId && p.lastHeartbeatAgoMs !== undefined),
      );
    },
    `every agent lists a${j}`,
    JOIN_KNOWN_WAIT_MS,
    200,
  ).catch(() => false);
  nem.log(
    `  a${j} acknowledged ${f.acked} writes during the split; ${known ? `every agent listed it ${Date.now() - healedAt} ms after the heal` : `not every agent listed it within ${JOIN_KNOWN_WAIT_MS} ms of the heal`}`,
  );
}

/** What the run checks of these faults: each happened as meant at least once. */
export function splitFaultFailures(nem) {
  const failures = [];
  const faults = nem.faults;
  if (nem.kinds.includes('three-way-reap') && !faults.some((f) => f.kind === 'three-way-reap' && f.mutual))
    failures.push('no three-way-reap fault had each side reap the two others');
  if (
    nem.kinds.includes('join-during-split') &&
    !faults.some((f) => f.kind === 'join-during-split' && f.joined)
  )
    failures.push('no join-during-split fault had the joiner acknowledge a write during the split');
  return failures;
}
