// Which reaps a force-leave (or reap-timer) fault brought about, from the survivors' statuses,
// and what the run checks of their rebases.

/**
 * The reaps of `peer`'s epochs new since `doneBefore` (a Set of epochs), once every survivor
 * shows the same ones, each with the same cut: sorted by epoch, or undefined while some survivor
 * shows none, a cut is still open, or two survivors differ. A reap covers every epoch of the
 * member its initiator knows (src/agent/reaper.ts): after an unclean restart, its older epoch
 * too, whose cut may come before the current one's.
 *
 * @param {{ epoch: string, cut?: number }[][]} perSurvivor `compaction.reaps` of each survivor
 * @param {string} peer
 * @param {Set<string>} doneBefore
 * @returns {{ epoch: string, cut: number }[] | undefined}
 */
export function agreedReaps(perSurvivor, peer, doneBefore) {
  const fresh = perSurvivor.map((rs) =>
    rs
      .filter((x) => x.epoch.split('~')[0] === peer && !doneBefore.has(x.epoch))
      .map((x) => ({ epoch: x.epoch, cut: x.cut }))
      .sort((a, b) => a.epoch.localeCompare(b.epoch)),
  );
  const first = fresh[0];
  if (!first || first.length === 0) return undefined;
  if (fresh.some((rs) => rs.some((x) => x.cut === undefined))) return undefined;
  const key = JSON.stringify(first);
  return fresh.every((rs) => JSON.stringify(rs) === key) ? first : undefined;
}

/**
 * The agents (indices) that reported on the reaps, new since `doneBefore`, of the members
 * `of` (indices into `agents`), in the reaps `rs` one agent shows: a side as the agents' judge
 * counts it (src/core/mutual-reap.ts `sideOf`: participants that reported).
 */
export function reportedSide(agents, rs, of, doneBefore) {
  const peers = new Set(of.map((m) => agents[m].peerId));
  const reporters = new Set();
  for (const r of rs ?? []) {
    if (!peers.has(r.epoch.split('~')[0]) || doneBefore.has(r.epoch)) continue;
    const out = new Set([...(r.missing ?? []), ...(r.excused ?? [])]);
    for (const p of r.participants ?? []) if (!out.has(p)) reporters.add(p);
  }
  return agents.flatMap((a, i) => (reporters.has(a.peerId) ? [i] : []));
}

/**
 * What the run checks of each reap's rebase (docs/chaos.md, "The rebase, batch by batch"): the
 * member logged its rebase and the end of its re-run, and re-ran every write it acknowledged
 * beyond the cut, none twice (an unknown one, a kill mid-write, may be among them or not).
 *
 * @param {import('./nemesis.js').ReapRecord[]} faults the reap faults and the unplanned reaps
 * @param {import('./checker.js').ChaosOp[]} ops the history's ops
 * @param {{ kind: string, targets: number[], start: number }[]} [all] every fault of the run
 * @returns {string[]} one failure per reap that broke a rule
 */
export function rebaseFailures(faults, ops, all = []) {
  const failures = [];
  for (const f of faults) {
    if (!f.reap) continue;
    const who = `a${f.targets[0]}`;
    if (!f.rebase && !f.rerunUnfinished && !rebaseNeeded(f, ops)) continue;
    // A store loss of the member during its re-run threw the pending writes away (seed 4): the
    // fault made them unknown, and no end of the re-run can come.
    const since = f.rerunUnfinished?.time;
    if (
      since !== undefined &&
      all.some((x) => x.kind === 'store-loss' && x.targets[0] === f.targets[0] && x.start >= since)
    )
      continue;
    if (!f.rebase) {
      failures.push(
        f.rerunUnfinished
          ? `${who} was reaped at ${f.reap.cut} and started its rebase (held ${f.rerunUnfinished.held}, ${f.rerunUnfinished.rerun} writes to re-run) but never logged the end of the re-run`
          : `${who} was reaped at ${f.reap.cut} but logged no rebase`,
      );
      continue;
    }
    const beyond = ops.filter(
      (o) =>
        o.agent === f.targets[0] &&
        ((o.origin === f.reap.epoch && o.seq > f.reap.cut) ||
          (f.rebase.abandoned !== undefined && o.origin === f.rebase.abandoned)),
    ).length;
    const maybe = ops.filter(
      (o) => o.agent === f.targets[0] && o.outcome === 'unknown' && o.start < f.end,
    ).length;
    if (f.rebase.rerun < beyond || f.rebase.rerun > beyond + maybe)
      failures.push(
        `${who} re-ran ${f.rebase.rerun} writes beyond the cut ${f.reap.cut}, but acknowledged ${beyond} there (and ${maybe} unknown)`,
      );
  }
  return failures;
}

/**
 * Whether a reap must show its member's rebase. Not when the member acknowledged nothing beyond
 * any reaped epoch's cut that it still held (a store loss throws away what no other agent held,
 * and the fault makes those writes unknown; an unknown op beyond the cut in its store would have
 * made it rebase and log it), and either no fault asked for the reap or the member was writing under
 * an epoch the reap did not name: one the survivors never heard of, taken at a restart after a
 * store loss (seed 102). Its own current epoch reaped, a member always rebases, even at cut =
 * held (src/agent/rebase.ts), since its next write would fall beyond the cut.
 */
function rebaseNeeded(f, ops) {
  const reaps = f.reaps ?? [f.reap];
  const t = f.targets[0];
  const beyond = ops.some(
    (o) =>
      o.agent === t &&
      o.outcome === 'ok' &&
      !o.lostWithStore &&
      reaps.some((r) => o.origin === r.epoch && o.seq > r.cut),
  );
  if (beyond) return true;
  if (f.unplanned) return false;
  return f.writingUnder === undefined || reaps.some((r) => r.epoch === f.writingUnder);
}
