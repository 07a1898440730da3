/**
 * Agreed reaping of a dead epoch (issue 7, "Reaping is one cut the cluster agrees on"; the
 * model is Akka Distributed Data's pruning of a removed node). Pure: no I/O, no clock.
 *
 * Agents decide to reap on their own timers (reapAfterMs, force-leave, the log bound), and a
 * dead member's last events may have reached only some of them. So refusing its events cannot
 * be a local decision: it would let one agent compact past events another still delivers, and
 * the replicas would fork (test/core/reaping.test.ts shows the fork of the old local rule).
 * Instead the epoch is retired at one cut that every replica computes alike from CRDT state:
 *
 * - **Marker.** The member that decides to reap epoch E adds to the add-wins set
 *   `_sys/reaps/<E>` its report `{ node, seq, members }`: its peer id, the highest seq of E it
 *   holds, and the members it expects to report (its membership view, without E's peer), with
 *   `retired`: the retired epochs of named members (reaped once, back under a new epoch).
 * - **Reports.** Every member named by a marker that sees it adds its own report
 *   `{ node, seq }`. Only a member writes its own report (ownership.ts, from wire version 3).
 *   Two members that reap E concurrently both write markers: their reports merge, and the
 *   participants are the union of the members every marker names.
 * - **Limit.** Once a marker for E is in a replica's state, the replica accepts E's events only
 *   up to the highest seq a participant reported so far (`limit`), or reports it has received
 *   but not yet delivered (`reportsIn`: a report causally follows the events it reports, so
 *   they must be accepted first); anything above is refused, counted, and neither delivered
 *   nor buffered. A participant reports what it holds at that point, so no participant ever
 *   delivers past the final cut, and each fetches (normal anti-entropy) up to the highest
 *   report it has seen.
 * - **Cut.** Once every participant has reported, E is retired at `cut` = the highest report
 *   of a participant. Every replica computes the same cut from the same reports, whatever the
 *   order it learned them in. Stability stops waiting for E once the replica holds E up to the
 *   cut (src/agent/reaper.ts); nothing of E beyond the cut is ever accepted, everywhere alike.
 * - **Past the cut.** A replica that delivered E beyond the cut (E's own member, back after the
 *   reap; or a member no marker named that heard from E directly) is *past the cut*: its state
 *   holds effects no other replica will ever apply. It must take a peer's snapshot and write
 *   under a new epoch (docs/agent.md, "Reaping").
 *
 * A marker is never withdrawn: a reap that races the member's return still completes, and the
 * member re-runs what it wrote beyond the cut. That is the only rule that is deterministic
 * everywhere: "cancel the reap if the member is alive" would depend on who heard it when.
 */
import { isRecord, type Json } from './json.js';
import { voidEpochs } from './mutual-reap.js';
import { peerOfOrigin } from './origin.js';
import type { ReportTags } from './retired-epochs.js';

/** Key prefix of the per-epoch report sets (aw-set): `_sys/reaps/<epoch origin>`. */
export const SYS_REAPS_PREFIX = '_sys/reaps/';

/** Code of the `rejected` effect for an event of a reaped epoch beyond its limit. */
export const REAPED = 'REAPED';

/** One member's report on epoch E: the highest seq of E it held when it reported. */
export interface ReapReport {
  readonly node: string;
  readonly seq: number;
  /** Present on a marker: the members its writer expects to report. */
  readonly members?: readonly string[];
  /**
   * On a marker: the retired epochs of named members that its writer knew when it wrote it (a
   * member reaped once and back under a new epoch). Their retirement excuses nobody from this
   * reap (`reapStateOf`): the member writes its report under the new epoch.
   */
  readonly retired?: readonly string[];
}

/** Where the reap of one epoch stands, as every replica holding the same reports computes it. */
export interface ReapState {
  readonly epoch: string;
  /** Every member some marker names (the epoch's own peer excluded), sorted. */
  readonly participants: readonly string[];
  /** Highest reported seq per reporter (participants and others). */
  readonly reports: ReadonlyMap<string, number>;
  /** Participants that have not reported yet, sorted. */
  readonly missing: readonly string[];
  /** Participants not waited for, because an epoch of theirs was retired (`reapStatesOf`). */
  readonly excused: readonly string[];
  /** Highest seq a participant reported so far: the epoch's events are accepted up to here. */
  readonly limit: number;
  /** Set once every participant has reported: the highest participant report. */
  readonly cut: number | undefined;
  /**
   * Per reporter, the epochs (origins) of the events that added its reports, sorted: the epoch
   * it wrote them under (mutual-reap.ts `isMutual`). Absent when the caller gave no tags.
   */
  readonly reportedUnder?: ReadonlyMap<string, readonly string[]>;
  /**
   * The retired epochs its markers list (`ReapReport.retired`): their members came back under
   * new epochs and report under those, so neither a cut of those epochs nor a cycle of their
   * reaps excuses them from this reap. Absent when none.
   */
  readonly known?: readonly string[];
}

export function reapKey(epoch: string): string {
  return SYS_REAPS_PREFIX + epoch;
}

/** The epoch origin a reaps key is about, or undefined for any other key. */
export function epochOfReapKey(key: string): string | undefined {
  if (!key.startsWith(SYS_REAPS_PREFIX)) return undefined;
  const epoch = key.slice(SYS_REAPS_PREFIX.length);
  return epoch.length > 0 ? epoch : undefined;
}

/** The local op that adds `report` to epoch `epoch`'s set (a system write). */
export function reportOp(epoch: string, report: ReapReport): unknown {
  const value: Record<string, Json> = { node: report.node, seq: report.seq };
  if (report.members) value.members = [...new Set(report.members)].sort();
  if (report.members && report.retired?.length) value.retired = [...new Set(report.retired)].sort();
  return { type: 'aw-set', key: reapKey(epoch), op: { kind: 'add', value } };
}

/** Parses one set element; undefined for an element that is not a well-formed report. */
export function parseReport(v: unknown): ReapReport | undefined {
  if (!isRecord(v)) return undefined;
  const { node, seq, members } = v;
  if (typeof node !== 'string' || node.length === 0) return undefined;
  if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 0) return undefined;
  if (members === undefined) return { node, seq };
  const names = strings(members);
  if (!names) return undefined;
  // A malformed `retired` is read as none, as a release from before it reads every marker.
  const retired = strings(v.retired);
  return retired?.length ? { node, seq, members: names, retired } : { node, seq, members: names };
}

function strings(v: unknown): string[] | undefined {
  if (!Array.isArray(v)) return undefined;
  const out = v.filter((m): m is string => typeof m === 'string');
  return out.length === v.length ? out : undefined;
}

/**
 * The reap state of `epoch` from the value of its report set (an aw-set's array of elements),
 * or undefined while no marker is in it (plain reports alone start nothing). Malformed
 * elements are ignored, alike everywhere. A report of the epoch's own peer never counts.
 *
 * `excused`: participants no longer waited for, because an epoch of theirs was itself retired
 * (`reapStatesOf`): a participant that died mid-reap would otherwise hold the reap open for ever.
 * That is deterministic too: the participant's report on this epoch is one of its own events,
 * so it is either within its own cut (every replica that knows that cut has it) or beyond it
 * (refused everywhere); a report it made still counts. The epochs a marker lists as `retired`
 * are not passed as excuses: the participant came back under a new epoch before the marker was
 * written, and reports under that one (accepted everywhere, as long as it is not retired).
 */
export function reapStateOf(
  epoch: string,
  elements: unknown,
  excused: (peer: string, known: ReadonlySet<string>) => boolean = () => false,
  tags?: ReportTags,
): ReapState | undefined {
  if (!Array.isArray(elements)) return undefined;
  const dead = peerOfOrigin(epoch);
  const participants = new Set<string>();
  const reports = new Map<string, number>();
  const known = new Set<string>();
  let marked = false;
  for (const raw of elements) {
    const r = parseReport(raw);
    if (!r || r.node === dead) continue;
    reports.set(r.node, Math.max(r.seq, reports.get(r.node) ?? 0));
    if (r.members) {
      marked = true;
      participants.add(r.node);
      for (const m of r.members) if (m !== dead) participants.add(m);
      for (const e of r.retired ?? []) known.add(e);
    }
  }
  if (!marked) return undefined;
  const sorted = [...participants].sort();
  const excusedNow = sorted.filter((p) => !reports.has(p) && excused(p, known));
  const missing = sorted.filter((p) => !reports.has(p) && !excused(p, known));
  let limit = 0;
  for (const p of sorted) limit = Math.max(limit, reports.get(p) ?? 0);
  const cut = missing.length === 0 ? limit : undefined;
  const s = {
    epoch,
    participants: sorted,
    reports,
    missing,
    excused: excusedNow,
    limit,
    cut,
    ...(known.size > 0 ? { known: [...known].sort() } : {}),
  };
  return tags ? { ...s, reportedUnder: reportedUnder(epoch, tags) } : s;
}

/** Per reporter on `epoch`, the origins of the events that added its reports, sorted. */
function reportedUnder(epoch: string, tags: ReportTags): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const { value, tags: dots } of tags(epoch)) {
    const r = parseReport(value);
    if (!r || r.node === peerOfOrigin(epoch)) continue;
    const under = out.get(r.node) ?? [];
    for (const d of dots) if (!under.includes(d.origin)) under.push(d.origin);
    out.set(r.node, under.sort());
  }
  return out;
}

/**
 * The reap states of every epoch from its report set, with participants excused once an epoch
 * of theirs is retired, or once their open reaps wait only on each other (`waitingOnEachOther`),
 * to a fixpoint: excusing one may complete another's reap.
 */
export function reapStatesOf(sets: ReadonlyMap<string, unknown>, tags?: ReportTags): Map<string, ReapState> {
  const states = fixpoint(sets, tags);
  // A mutual reap (the sides of a split reaped each other): the losing sides' reaps are void,
  // as if their records were not there (mutual-reap.ts). Decided on the states before voiding,
  // so from the records alone; then computed again without the void ones.
  const voided = voidEpochs(states.values());
  if (voided.size === 0) return states;
  return fixpoint(new Map([...sets].filter(([epoch]) => !voided.has(epoch))), tags);
}

function fixpoint(sets: ReadonlyMap<string, unknown>, tags?: ReportTags): Map<string, ReapState> {
  // Excusing only completes reaps, never reopens one: iterate to the least fixpoint.
  const retired = new Set<string>(); // epochs with a cut
  const retiredOf = new Map<string, string[]>(); // the same, per member
  const cycle = new Set<string>(); // epochs of reaps waiting on each other
  // A retired epoch a marker lists (`known`) excuses nobody from that reap (`reapStateOf`), nor
  // does a cycle of its reap: its member came back under a new epoch and reports under that.
  const excused = (p: string, known: ReadonlySet<string>) =>
    [...cycle].some((e) => peerOfOrigin(e) === p && !known.has(e)) ||
    (retiredOf.get(p) ?? []).some((e) => !known.has(e));
  for (;;) {
    const states = new Map<string, ReapState>();
    for (const [epoch, elements] of sets) {
      const s = reapStateOf(epoch, elements, excused, tags);
      if (s) states.set(epoch, s);
    }
    const before = retired.size + cycle.size;
    for (const s of states.values()) {
      if (s.cut === undefined || retired.has(s.epoch)) continue;
      retired.add(s.epoch);
      const member = peerOfOrigin(s.epoch);
      retiredOf.set(member, [...(retiredOf.get(member) ?? []), s.epoch]);
    }
    if (retired.size + cycle.size === before) {
      const members = waitingOnEachOther(states.values());
      for (const s of states.values())
        if (s.cut === undefined && members.has(peerOfOrigin(s.epoch))) cycle.add(s.epoch);
    }
    if (retired.size + cycle.size === before) return states;
  }
}

/**
 * The members of open reaps that wait only on each other (two operators force-leaving two down
 * members in opposite orders: the marker for x's epoch names y, the marker for y's names x, and
 * neither can ever report). The greatest set S of open reaps whose every missing participant is
 * the member of a reap in S (and has no open reap outside S); its members are excused, so every
 * reap in S completes at once. Empty when there is no such set.
 *
 * As deterministic as excusing a retired participant: x's report on y's epoch is one of x's own
 * events. Had x made it within the cut its reap is given (the highest report of a participant
 * that did report), that participant held it when it reported, so every replica holding that
 * report holds x's report too (causal delivery), and x would not be missing. So x's report is
 * beyond its cut: refused everywhere, it never counts. Decided from the reports alone.
 */
export function waitingOnEachOther(states: Iterable<ReapState>): Set<string> {
  const open = [...states].filter((s) => s.cut === undefined);
  let cycle = open;
  for (;;) {
    const outside = new Set(open.filter((s) => !cycle.includes(s)).map((s) => peerOfOrigin(s.epoch)));
    const members = new Set(cycle.map((s) => peerOfOrigin(s.epoch)).filter((p) => !outside.has(p)));
    // A missing member waits on the cycle only through an epoch of its that the reap's markers
    // do not list as retired before (a member back under a new epoch reports under that one).
    const kept = cycle.filter((s) =>
      s.missing.every(
        (p) =>
          members.has(p) &&
          cycle.some((c) => peerOfOrigin(c.epoch) === p && !(s.known ?? []).includes(c.epoch)),
      ),
    );
    if (kept.length === cycle.length) return kept.length > 0 ? members : new Set();
    cycle = kept;
  }
}

/**
 * The reports an event carries in its own name (`node` = its writer's peer id), read from its
 * raw ops before it is delivered: `[epoch, report]` pairs. A report causally follows the
 * epoch's events it reports, so a replica whose limit is lower must accept those events before
 * the report can be delivered; the signed report is the evidence that they are within the cut
 * (replica/delivery.ts keeps these as pending reports).
 */
export function reportsIn(ops: readonly unknown[], writer: string): [string, ReapReport][] {
  const out: [string, ReapReport][] = [];
  for (const op of ops) {
    if (!isRecord(op) || op.t !== 'aw-set' || typeof op.f !== 'string') continue;
    const epoch = epochOfReapKey(op.f);
    if (epoch === undefined || !isRecord(op.o)) continue;
    const r = parseReport(op.o.a);
    if (r?.node === writer && r.node !== peerOfOrigin(epoch)) out.push([epoch, r]);
  }
  return out;
}
