/**
 * What holds the stable frontier back (status `compaction.blockers`; stability-view.ts): per
 * member, whether it has no usable report or a report behind our clock, and how many of our
 * events it pins in the log.
 */
import { type ReadonlyVectorClock, vcGet } from '../core/clock/vector-clock.js';
import type { StabilityTracker } from '../core/stability.js';

export interface Blocker {
  readonly peerId: string;
  /**
   * `no-report`: no usable heartbeat clock yet; `behind`: its last report lacks our events;
   * `no-member-yet`: the agent expects peers and has reached none (compaction.ts), `peerId` is
   * then `(none yet)` and `pinnedEvents` the whole log.
   */
  readonly reason: 'no-report' | 'behind' | 'no-member-yet';
  /** Events in our clock that its last usable report does not cover (what it pins in the log). */
  readonly pinnedEvents: number;
  /** ms since we last heard from it (heartbeat), or undefined if never (since start). */
  readonly silentForMs: number | undefined;
}

/**
 * Members whose reports in `tracker` keep the frontier below `localVc`, most pinned first;
 * `silentFor` tells how long each has been silent.
 */
export function blockersOf(
  tracker: StabilityTracker,
  localVc: ReadonlyVectorClock,
  members: readonly string[],
  silentFor: (peer: string) => number | undefined,
): Blocker[] {
  const out: Blocker[] = [];
  for (const id of members) {
    const report = tracker.usableReport(id, localVc);
    const silentForMs = silentFor(id);
    if (!report) {
      out.push({ peerId: id, reason: 'no-report', pinnedEvents: countEvents(localVc), silentForMs });
      continue;
    }
    const pinned = lag(localVc, report);
    if (pinned > 0) out.push({ peerId: id, reason: 'behind', pinnedEvents: pinned, silentForMs });
  }
  return out.sort((a, b) => b.pinnedEvents - a.pinnedEvents || a.peerId.localeCompare(b.peerId));
}

function lag(mine: ReadonlyVectorClock, theirs: ReadonlyVectorClock): number {
  let n = 0;
  for (const [id, seq] of mine) n += Math.max(0, seq - vcGet(theirs, id));
  return n;
}

function countEvents(vc: ReadonlyVectorClock): number {
  let n = 0;
  for (const [, seq] of vc) n += seq;
  return n;
}
