/**
 * A short account of reap records for the log (a rebase says which records it acted on: the
 * nemesis reads them when a member rebases for a reap the others judge void).
 */
import type { ReapState } from '../core/reaping.js';

const short = (id: string) => id.slice(-10);

/** Each record as epoch (shortened), cut, reporters, excused, and the epochs reported under. */
export function reapSummary(states: Iterable<ReapState>): string[] {
  const out: string[] = [];
  for (const s of states) {
    const reports = [...s.reports.keys()].map(short).join(',');
    const excused = s.excused.map(short).join(',');
    const under = [...(s.reportedUnder ?? new Map<string, readonly string[]>())]
      .map(([p, es]) => `${short(p)}:${es.map((e) => e.slice(-5)).join('/')}`)
      .join(',');
    out.push(
      `${s.epoch.slice(-16)} cut=${String(s.cut)} reported=${reports} excused=${excused} missing=${s.missing.map(short).join(',')} under=${under}`,
    );
  }
  return out;
}
