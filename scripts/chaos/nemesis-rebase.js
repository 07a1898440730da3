// What the nemesis reads of a reaped member's rebase (docs/chaos.md): the member's own JSON log
// lines (`our epoch was reaped…` with {reaped, cut, held, origin, rerun}, then `re-ran our
// writes beyond the cut`), the window they span, counted as a store loss of the member for the
// checker, and the reaps no fault asked for. Each function takes the Nemesis (nemesis.js) first.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { waitUntil } from './agents.js';

const REBASE_WAIT_MS = 30_000;
/** How long a fault waits for a re-run: one durable write after another (about 10 a second). */
export const RERUN_WAIT_MS = (n) => Math.min(60_000, 15_000 + 250 * n);

/** The size of agent `a`'s log now: lines after it are the fault's. */
export function logSize(a) {
  try {
    return readFileSync(join(a.dir, 'agent.log')).length;
  } catch {
    return 0;
  }
}

/** The agent's JSON log lines written since byte `from`. */
export function logLines(a, from) {
  let text;
  try {
    text = readFileSync(join(a.dir, 'agent.log')).subarray(from).toString('utf8');
  } catch {
    return [];
  }
  const out = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      out.push(JSON.parse(line));
    } catch {
      // a line being written
    }
  }
  return out;
}

/**
 * Whether log line `l` is a rebase's first line (of a reap of `epochs`, a Set, if given). A
 * rebase from another member's epoch held beyond its cut (`handedOver`) names ours as
 * `abandoned`: when ours was reaped too, it is the rebase for that reap as well.
 */
export function isRebaseLine(l, epochs) {
  if (typeof l.rerun !== 'number' || !('cut' in l)) return false;
  return epochs === undefined || epochs.has(l.reaped) || ('handedOver' in l && epochs.has(l.abandoned));
}

/** The reap of `reaps` a rebase line is for (see isRebaseLine). */
export function reapOfLine(reaps, l) {
  return reaps.find((r) => r.epoch === l.reaped) ?? reaps.find((r) => r.epoch === l.abandoned);
}

/**
 * After the heal: waits (bounded) for the rebase of the member of reap record `rec` (targets[0],
 * with `reaps`: its epochs with their agreed cuts) and then, bounded, for the end of its re-run
 * (`atCut`: only a rebase line at one of those cuts counts).
 * The window from `leftAt` (its removal) to that end counts as a store loss of the member:
 * a write it made after the rebase did not see what its reads saw before (its state may now be
 * a peer's); open-ended until the end is seen (settleRebases may close it later).
 */
export async function awaitRebase(nem, rec, logFrom, leftAt, atCut = false) {
  const t = rec.targets[0];
  const a = nem.agents[t];
  const epochs = new Set(rec.reaps.map((r) => r.epoch));
  // With three sides (`atCut`) a loser may first take another loser's side for the winner and
  // rebase at its cut, then again at the winner's (docs/agent.md "a lower cut"): the line that
  // counts is the one at the cut the winners agreed.
  const atItsCut = (l) => !atCut || rec.reaps.some((r) => reapOfLine([r], l) && r.cut === l.cut);
  const started = () => logLines(a, logFrom).find((l) => isRebaseLine(l, epochs) && atItsCut(l));
  const start = await waitUntil(started, 'the rebase', REBASE_WAIT_MS, 200).catch(() => undefined);
  if (start) rec.reap = reapOfLine(rec.reaps, start);
  const window = [leftAt, Infinity];
  a.storeLosses.push(window);
  if (!start) {
    nem.log(`  a${t} logged no rebase within ${REBASE_WAIT_MS} ms`);
    return;
  }
  rec.rerunUnfinished = { ...start, logFrom, window };
  if (await settleRebase(nem, rec, RERUN_WAIT_MS(start.rerun))) {
    const r = rec.rebase;
    nem.log(
      `  a${t} rebased onto ${r.origin.slice(-16)}: held ${r.held}, cut ${r.cut}, re-ran ${r.rerun} writes in ${r.done - r.time} ms`,
    );
  } else
    nem.log(
      `  a${t} started its rebase (held ${start.held}, cut ${start.cut}, ${start.rerun} writes to re-run) but logged no end of the re-run within ${RERUN_WAIT_MS(start.rerun)} ms; looked for again before the check`,
    );
}

/**
 * Waits (bounded) for the end of a started re-run: the member's log line after its rebase
 * line. On a loaded machine a re-run of a hundred writes can take a minute; the fault goes on
 * meanwhile, and the run looks again before its check (settleRebases).
 */
export async function settleRebase(nem, rec, timeoutMs) {
  const start = rec.rerunUnfinished;
  const a = nem.agents[rec.targets[0]];
  const done = await waitUntil(
    () =>
      start.rerun === 0
        ? { time: start.time }
        : logLines(a, start.logFrom).find(
            (l) => l.time >= start.time && typeof l.rerun === 'number' && !('cut' in l),
          ),
    'the re-run',
    timeoutMs,
    200,
  ).catch(() => undefined);
  if (!done) return false;
  rec.rebase = rebaseRecord(start, done);
  start.window[1] = Math.max(done.time, Date.now());
  delete rec.rerunUnfinished;
  return true;
}

/** Before the check: waits (bounded, in all) for every re-run not seen to end yet. */
export async function settleRebases(nem, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  for (const rec of nem.reapRecords().filter((x) => x.rerunUnfinished)) {
    const ok = await settleRebase(nem, rec, Math.max(0, deadline - Date.now()));
    nem.log(
      ok
        ? `  a${rec.targets[0]}'s re-run of ${rec.rebase.rerun} writes ended ${rec.rebase.done - rec.rebase.time} ms after its rebase`
        : `  a${rec.targets[0]}'s re-run still not ended`,
    );
  }
}

/**
 * Agreed reaps that no fault asked for, as records shaped like those faults' (`unplanned:
 * true`): the member's rebase and re-run from its log, and their window as a store loss of the
 * member (from the rebase line, where its state was reset).
 */
export function unplannedReaps(nem, reaps) {
  const planned = new Set(
    nem.reapRecords().flatMap((f) => (f.reaps ?? (f.reap ? [f.reap] : [])).map((r) => r.epoch)),
  );
  const out = [];
  for (const r of reaps) {
    if (r.cut === undefined || planned.has(r.epoch)) continue;
    const target = nem.agents.findIndex((a) => a.peerId === r.epoch.split('~')[0]);
    if (target < 0) continue;
    const a = nem.agents[target];
    const lines = logLines(a, 0);
    const start = lines.find((l) => isRebaseLine(l, new Set([r.epoch])));
    const f = {
      kind: 'unplanned-reap',
      unplanned: true,
      targets: [target],
      reap: { epoch: r.epoch, cut: r.cut },
      beyond: beyondCut(nem, target, r),
      end: start ? start.time : Infinity,
    };
    if (start) {
      const done =
        start.rerun === 0
          ? start
          : lines.find((l) => l.time >= start.time && typeof l.rerun === 'number' && !('cut' in l));
      const window = [start.time, done ? done.time : Infinity];
      a.storeLosses.push(window);
      if (done) f.rebase = rebaseRecord(start, done);
      else f.rerunUnfinished = { ...start, window };
    }
    out.push(f);
  }
  return out;
}

/**
 * Every rebase from another member's epoch the agents logged (`handedOver` in the line; src/agent/
 * rebase.ts `rebaseFromForeign`): the member's own epoch it abandoned was handed over up to
 * `handedOver`, and its client writes beyond that were re-run under the new epoch. Seed 34: a
 * loser of a three-way reap rebased, re-ran 148 writes under a new epoch, then rebased from a
 * foreign epoch abandoning that one (`handedOver 0, rerun 203`: the 148 and its 55 client
 * writes since), and the checker took those 55 for lost. For the checker: a re-run range
 * (`rerunOnly`, not a reap); the window from the line to the end of its re-run counts as a
 * store loss of the member, as for any rebase. Each agent's whole log is read.
 */
export function foreignRebases(nem) {
  const out = [];
  for (const a of nem.agents) {
    const lines = logLines(a, 0);
    for (const l of lines) {
      if (!('handedOver' in l) || typeof l.abandoned !== 'string' || typeof l.rerun !== 'number') continue;
      const done =
        l.rerun === 0
          ? l
          : lines.find((d) => d.time >= l.time && typeof d.rerun === 'number' && !('cut' in d));
      a.storeLosses.push([l.time, done ? done.time : Infinity]);
      out.push({ epoch: l.abandoned, cut: l.handedOver, rerunOnly: true, rerunDone: done?.time });
    }
  }
  return out;
}

/** How many writes agent `target` acknowledged under `reap.epoch` beyond `reap.cut`. */
export function beyondCut(nem, target, reap) {
  return nem.history.ops.filter(
    (o) => o.agent === target && o.outcome === 'ok' && o.origin === reap.epoch && o.seq > reap.cut,
  ).length;
}

/** The epoch agent `target` acknowledged its last write under, so far. */
export function writingUnder(nem, target) {
  return nem.history.ops.findLast((o) => o.agent === target && o.outcome === 'ok')?.origin;
}

/**
 * A fault's rebase record from the member's rebase log line (`start`) and the line that ended
 * its re-run (`done`).
 */
function rebaseRecord(start, done) {
  return {
    cut: start.cut,
    held: start.held,
    origin: start.origin,
    rerun: start.rerun,
    // Rebased from an older epoch after an unclean restart: the epoch written under since then
    // is re-run too (src/agent/rebase.ts), and never applied anywhere. (A rebase from another
    // member's epoch names ours `abandoned` too, but hands it over up to `handedOver`.)
    abandoned: 'handedOver' in start ? undefined : start.abandoned,
    time: start.time,
    done: done.time,
  };
}
