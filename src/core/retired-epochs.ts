/**
 * Retired epochs, pruned from the clocks a replica shows (issue 7, "Origin epochs": "retired
 * epochs are pruned from clocks once reaped"). Pure: no I/O, no clock.
 *
 * An epoch is *retired* once its agreed reap has a cut (reaping.ts): every replica computes the
 * same cut from the same reports, and nothing of the epoch beyond the cut is ever accepted. A
 * replica that holds a retired epoch exactly up to its cut keeps the epoch out of every clock it
 * shows or sends (status, heartbeats, sync requests, snapshots): one entry per reaped epoch no
 * longer stays in them forever. Internally the replica still counts the epoch as delivered up to
 * the cut (one number per retired epoch), so its events up to the cut are duplicates and the rest
 * are refused, exactly as before.
 *
 * The hazard: a receiver must tell "pruned at the cut" from "never had any of it". Read as zero,
 * a pruned entry makes a sync server resend (or re-serve a snapshot for) the whole epoch and
 * holds the epoch's dots out of stability; read as the cut, an entry that is genuinely zero (a
 * member that never received the epoch and does not know the reap yet) would never be repaired.
 * So a clock lacking a retired epoch counts it at the cut only with proof that its sender holds
 * the epoch up to the cut: the clock covers the *witness*, an event that carried a participant's
 * report of the cut. That report causally follows the epoch's events up to the cut (its writer
 * held them), so any replica that delivered the witness delivered them too. A clock that does
 * not cover the witness reads the missing entry as zero, which is always safe (at worst some
 * events are resent, and they are duplicates). The witness's own origin may be retired too, so
 * the expansion runs to a fixpoint.
 *
 * Snapshots carry their retired epochs with the cuts explicitly (snapshot-codec.ts, format 3),
 * so an installer does not need a witness for them; the installer checks them against the
 * snapshot's own state (the same reports).
 */
import {
  compareDots,
  type Dot,
  type ReadonlyVectorClock,
  type ReplicaId,
  type VectorClock,
  vcGet,
} from './clock/vector-clock.js';
import type { ReapState } from './reaping.js';

/** One retired epoch: its agreed cut, and an event that proves a clock holds the epoch to it. */
export interface RetiredEpoch {
  readonly cut: number;
  /** A tag of a participant's report of `cut`: covering it implies holding the epoch to the cut. */
  readonly witness: Dot;
}

/** The report elements of an epoch's set: each value with the dots of the events that added it. */
export type ReportTags = (
  epoch: ReplicaId,
) => Iterable<{ readonly value: unknown; readonly tags: readonly Dot[] }>;

export class RetiredEpochs {
  static readonly EMPTY = new RetiredEpochs(new Map());

  private constructor(private readonly byEpoch: ReadonlyMap<ReplicaId, RetiredEpoch>) {}

  /**
   * The retired epochs among `states` (those with a cut above zero: a cut of zero leaves nothing
   * in any clock), each with its witness: the smallest tag of a participant's report of the cut,
   * the same on every replica that holds the same tags.
   */
  static of(states: Iterable<ReapState>, tags: ReportTags): RetiredEpochs {
    const out = new Map<ReplicaId, RetiredEpoch>();
    for (const s of states) {
      if (s.cut === undefined || s.cut === 0) continue;
      let witness: Dot | undefined;
      for (const { value, tags: dots } of tags(s.epoch)) {
        const r = value as { node?: unknown; seq?: unknown } | null;
        if (typeof r?.node !== 'string' || r.seq !== s.cut || !s.participants.includes(r.node)) continue;
        for (const d of dots) if (!witness || compareDots(d, witness) < 0) witness = d;
      }
      if (witness) out.set(s.epoch, { cut: s.cut, witness });
    }
    return new RetiredEpochs(out);
  }

  get size(): number {
    return this.byEpoch.size;
  }

  get(epoch: ReplicaId): RetiredEpoch | undefined {
    return this.byEpoch.get(epoch);
  }

  /** Retired epoch -> cut, sorted by epoch. */
  cuts(): VectorClock {
    return new Map([...this.byEpoch].sort(([a], [b]) => (a < b ? -1 : 1)).map(([e, r]) => [e, r.cut]));
  }

  /**
   * `vc` without the retired epochs it holds exactly up to their cut. An entry below the cut
   * (not caught up yet) or beyond it (past the cut: the replica must rebase) stays.
   */
  prune(vc: ReadonlyVectorClock): VectorClock {
    const out: VectorClock = new Map();
    for (const [o, n] of vc) if (this.byEpoch.get(o)?.cut !== n) out.set(o, n);
    return out;
  }

  /**
   * `vc` without the retired epochs it holds exactly at their cut *and* can prove to hold (it
   * covers the witness), so that `expand` gives back exactly `vc`: the form for a clock that may
   * come back to us, such as an API cursor (an entry `expand` could not restore stays).
   */
  pruneRecoverable(vc: ReadonlyVectorClock): VectorClock {
    const out = this.prune(vc);
    const back = this.expand(out);
    for (const [o, n] of vc) if (!out.has(o) && back.get(o) !== n) out.set(o, n);
    return out;
  }

  /**
   * A received clock with the retired epochs it lacks counted at their cut, where it covers
   * their witness (see the module comment); others stay absent (zero).
   */
  expand(vc: ReadonlyVectorClock): VectorClock {
    const out: VectorClock = new Map(vc);
    for (let grew = true; grew;) {
      grew = false;
      for (const [epoch, r] of this.byEpoch) {
        if (out.has(epoch) || vcGet(out, r.witness.origin) < r.witness.seq) continue;
        out.set(epoch, r.cut);
        grew = true;
      }
    }
    return out;
  }
}

/**
 * A snapshot's full clock from its pruned clock and its retired cuts (snapshot-codec.ts format
 * 3). The two must not overlap.
 */
export function withRetiredCuts(vc: ReadonlyVectorClock, retired: ReadonlyVectorClock): VectorClock {
  const out: VectorClock = new Map(vc);
  for (const [e, cut] of retired) out.set(e, Math.max(cut, vcGet(vc, e)));
  return out;
}

/**
 * `snap` (a replica's snapshot, whole clock) in the pruned form peers that read wire version 4
 * take (snapshot-codec.ts format 3): the clock as `shown` (Replica.shownClock) and the epochs
 * left out of it with their cuts.
 */
export function prunedSnapshot<S extends { readonly vc: ReadonlyVectorClock }>(
  snap: S,
  shown: VectorClock,
): S & { vc: VectorClock; retired: VectorClock } {
  const retired = new Map([...snap.vc].filter(([o]) => !shown.has(o)));
  return { ...snap, vc: shown, retired };
}
