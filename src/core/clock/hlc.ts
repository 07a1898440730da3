/**
 * Hybrid logical clock (Kulkarni et al., "Logical Physical Clocks", 2014). A timestamp is
 * (wall ms, logical counter): it stays close to physical time, and it never goes backwards
 * across local events or across received events. LWW-registers order writes by
 * (HLC, origin).
 *
 * Clock hygiene (DESIGN.md): a remote timestamp more than `maxDriftMs` ahead of our physical
 * clock does not drag our clock along. The remote event is still applied (convergence needs
 * it); only our clock refuses to follow, and the caller is told so it can warn and count.
 * Physical time is an input (`nowMs`): this module reads no clock.
 */
import { ErrorCode, fail } from '../errors.js';
import { isRecord } from '../json.js';
import { isCount } from './vector-clock.js';

export interface Hlc {
  /** Milliseconds since the Unix epoch, as the source's physical clock (or a later HLC) saw it. */
  readonly wall: number;
  /** Tie-breaking counter among timestamps with the same wall time. */
  readonly logical: number;
}

export const HLC_ZERO: Hlc = Object.freeze({ wall: 0, logical: 0 });

export function compareHlc(a: Hlc, b: Hlc): number {
  if (a.wall !== b.wall) return a.wall < b.wall ? -1 : 1;
  return a.logical - b.logical;
}

/** The timestamp of a new local event at physical time `nowMs`. */
export function hlcTick(local: Hlc, nowMs: number): Hlc {
  if (nowMs > local.wall) return { wall: nowMs, logical: 0 };
  return { wall: local.wall, logical: local.logical + 1 };
}

export interface HlcReceive {
  readonly clock: Hlc;
  /** Set when the remote timestamp was ahead of `nowMs` by more than the allowed drift. */
  readonly driftMs?: number;
}

/** Merges a received timestamp into the local clock, refusing to follow one that drifted too far. */
export function hlcReceive(local: Hlc, remote: Hlc, nowMs: number, maxDriftMs: number): HlcReceive {
  const ahead = remote.wall - nowMs;
  if (ahead > maxDriftMs) {
    // Keep our own clock monotone and near physical time; report the offender.
    return { clock: hlcTick(local, nowMs), driftMs: ahead };
  }
  const wall = Math.max(local.wall, remote.wall, nowMs);
  let logical: number;
  if (wall === local.wall && wall === remote.wall) logical = Math.max(local.logical, remote.logical) + 1;
  else if (wall === local.wall) logical = local.logical + 1;
  else if (wall === remote.wall) logical = remote.logical + 1;
  else logical = 0;
  return { clock: { wall, logical } };
}

export function parseHlc(v: unknown): Hlc {
  if (!isRecord(v) || !isCount(v.wall) || !isCount(v.logical)) {
    fail(
      ErrorCode.InvalidArgument,
      'A hybrid logical clock must be { wall, logical } of non-negative integers.',
    );
  }
  return { wall: v.wall, logical: v.logical };
}
