/**
 * Snapshot exchange (DESIGN.md "Snapshots and compaction"; docs/agent.md "Snapshots from
 * peers"): the snapshot this agent serves, with the signed head of every clock entry, and the
 * installation of a peer's snapshot once its bytes decode, its clock is proven and its state
 * validates. Runs inside the owner's drain (the only code that mutates the replica).
 */
import type { Logger } from 'pino';
import { type VectorClock, vcGet, vcLeq, vcToRecord } from '../core/clock/vector-clock.js';
import { encodeSnapshot } from '../core/codec/index.js';
import { Replica } from '../core/replica.js';
import { prunedSnapshot, withRetiredCuts } from '../core/retired-epochs.js';
import { isVoidAgainst, sideOf } from '../core/mutual-reap.js';
import { peerOfOrigin } from '../core/origin.js';
import {
  headsFor,
  openPeerSnapshot,
  type ProvenSnapshot,
  SnapshotRefusal,
  SnapshotRefused,
} from '../net/snapshot-proof.js';
import { readTrustedEnvelope } from '../net/envelope.js';
import type { StoredEvent, Store } from '../store/store.js';

/** A store failure inside the owner: the agent stops rather than run ahead of its durable state. */
export class StoreFailStop extends Error {
  override readonly name = 'StoreFailStop';
  constructor(message: string, cause: unknown) {
    super(message, { cause });
  }
}

export interface SnapshotExchangeDeps {
  readonly replica: Replica;
  readonly store: Store;
  readonly log: Logger;
  readonly counters: { rejectedSnapshots: number; snapshotsInstalled: number };
  /** Called after a snapshot was installed (the compactor restarts its count). */
  readonly installed: () => void;
  /**
   * Called when a snapshot lacks events we hold because the peer's state retires our own epoch
   * below them (src/agent/rebase.ts): pushing them would not help, every replica refuses them.
   */
  readonly ownEpochCut?: (epoch: string, cut: number, side: readonly string[]) => void;
  /**
   * Called when the peer's state retires another member's epoch at a cut below what we hold
   * (we took it past the cut: a member that joined the losing side of a mutual reap, or joined
   * mid-reap): we rebase from that epoch (rebase.ts `rebaseFromForeign`).
   */
  readonly foreignEpochCut?: (
    epoch: string,
    cut: number,
    side: readonly string[],
    also: ReadonlyMap<string, number>,
  ) => void;
  /** A reaped member an operator forgot: we do not rebase for a reap its side agreed. */
  readonly forgotten?: (peer: string) => boolean;
  /**
   * A rebase that emptied our store is under way (rebase.ts): only a state that retires its
   * epoch `epoch` at `cut` may be taken, not the state of another member to be given up (the
   * other side of a mutual reap, that has not rebased yet).
   */
  readonly rebasingFrom?: () => { readonly epoch: string; readonly cut: number } | undefined;
}

/**
 * Installs a peer's snapshot. Refused (counted, logged, SnapshotRefused thrown, nothing
 * changed) when it does not decode, its clock is not proven by signed heads, or its state does
 * not validate. False when it lacks events we hold (push them first). A store failure after the
 * replica took it throws StoreFailStop.
 *
 * `keepNewer` (after we pushed our events to the peer): a snapshot that lacks events we hold —
 * our own written while the push and the pull ran, or others' that reached us meanwhile — is
 * installed anyway when our log still holds every one of them: they are re-applied on top of
 * it, in log order, and stay in the log. So a returning agent that keeps writing catches up.
 */
export function installPeerSnapshot(
  d: SnapshotExchangeDeps,
  bytes: Uint8Array,
  opts: { keepNewer?: boolean; nowMs?: number } = {},
): boolean {
  let snap: ProvenSnapshot;
  let vc: VectorClock;
  let keep: StoredEvent[] = [];
  try {
    snap = openPeerSnapshot(bytes);
    // The clock it covers: the proven one, plus the retired epochs up to their cuts (format 3;
    // the replica checks them against the snapshot's own reap reports when it installs it).
    vc = withRetiredCuts(snap.vc, snap.retired ?? new Map());
    const mine = d.replica.clock();
    // Our own epoch was reaped below what we hold: never keep those events; rebase instead.
    if (!vcLeq(mine, vc) && noticeOwnCut(d, snap, vc)) return false;
    refusePastCut(d, snap, vc);
    if (vcLeq(vc, mine)) return true; // nothing new in it
    if (!vcLeq(mine, vc)) {
      if (opts.keepNewer !== true) return false;
      keep = [...d.store.eventsSince(vc)];
      // Every event the snapshot lacks must still be in our log (not compacted away).
      let lacking = 0;
      for (const [origin, seq] of mine) lacking += Math.max(0, seq - vcGet(vc, origin));
      if (keep.length !== lacking) return false;
      const events = keep.map((e) => readTrustedEnvelope(e.bytes).event);
      d.replica.installKeeping(snap, events, opts.nowMs ?? Date.now()); // validates before changing
    } else d.replica.install(snap); // validates the whole keyspace before it changes anything
  } catch (e) {
    const refused =
      e instanceof SnapshotRefused
        ? e
        : new SnapshotRefused(
            SnapshotRefusal.Malformed,
            `The peer's snapshot holds state that does not validate: ${e instanceof Error ? e.message : String(e)}`,
            undefined,
            { cause: e },
          );
    d.counters.rejectedSnapshots++;
    d.log.warn({ code: refused.code, details: refused.details }, refused.message);
    throw refused;
  }
  try {
    d.store.installSnapshot({ vc, bytes, heads: snap.proof, keep });
  } catch (e) {
    throw new StoreFailStop('the store failed to install a snapshot; stopping the agent', e);
  }
  d.installed();
  d.counters.snapshotsInstalled++;
  d.log.info({ clock: vcToRecord(snap.vc), keptEvents: keep.length }, 'installed a snapshot from a peer');
  return true;
}

/**
 * The clock a peer's snapshot proves by its signed heads, or undefined when it does not decode
 * or does not prove it (snapshot-source.ts reads it to tell a reaped peer that rebased).
 */
export function provenClock(bytes: Uint8Array): VectorClock | undefined {
  try {
    return openPeerSnapshot(bytes).vc;
  } catch {
    return undefined;
  }
}

/**
 * A returning member whose epoch was reaped, and whose peers compacted the reports away, learns
 * the cut only from a peer's snapshot, which it cannot install while it holds events beyond the
 * cut: read the cut from the snapshot's state and hand it to the rebase. The same for another
 * member's epoch we hold beyond a cut the snapshot's state agreed: a member that joined the
 * losing side of a mutual reap took that side's epochs past the winners' cut (and its own reap
 * of the winners, which is void, would refuse their snapshot below). True when it did.
 */
function noticeOwnCut(d: SnapshotExchangeDeps, snap: ProvenSnapshot, vc: VectorClock): boolean {
  if (!d.ownEpochCut) return false;
  const self = peerOfOrigin(d.replica.id);
  // Another member's epoch only matters when the snapshot holds an epoch beyond a cut our state
  // agreed (refusePastCut would refuse it): otherwise no probe is built for it.
  const foreign = d.foreignEpochCut !== undefined && holdsPastOurCut(d, vc);
  const ahead = [...d.replica.clock()].filter(
    ([origin, held]) => held > (vc.get(origin) ?? 0) && (foreign || peerOfOrigin(origin) === self),
  );
  if (ahead.length === 0) return false;
  let probe: Replica;
  try {
    probe = Replica.fromSnapshot({ id: `${d.replica.id}-probe` }, snap);
  } catch {
    return false; // a state that does not validate is refused below when installed, never used
  }
  // Our current epoch or an older one of ours reaped while we were down (rebase.ts) first.
  ahead.sort(([a], [b]) => Number(peerOfOrigin(b) === self) - Number(peerOfOrigin(a) === self));
  for (const [epoch, held] of ahead) {
    const own = peerOfOrigin(epoch) === self;
    const reap = probe.reapOf(epoch);
    const cut = reap?.cut;
    if (reap === undefined || cut === undefined || held <= cut) continue;
    // Both sides of a split reaped each other: rebase only if their reap wins (mutual-reap.ts).
    if (isVoidAgainst(reap, d.replica.reaps())) {
      d.log.warn(
        { epoch, cut, theirs: sideOf(reap) },
        'a peer’s state reaps an epoch we hold in a mutual reap our side won: its reap is void, we keep our state',
      );
      continue;
    }
    const forgotten = sideOf(reap).filter((p) => d.forgotten?.(p) === true);
    if (forgotten.length > 0) {
      d.log.error(
        { epoch, cut, forgotten },
        'a peer’s state reaps an epoch we hold, agreed by members an operator forgot: we keep our state and stay apart from them (docs/agent.md, "Forgetting a reaped member")',
      );
      continue;
    }
    if (own) d.ownEpochCut(epoch, cut, sideOf(reap));
    else d.foreignEpochCut?.(epoch, cut, sideOf(reap), pastCutsIn(probe, ahead));
    return true;
  }
  return false;
}

/** The epochs among `held` that `probe`'s state retires at a cut below what we hold. */
function pastCutsIn(probe: Replica, held: readonly (readonly [string, number])[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const [epoch, n] of held) {
    const cut = probe.reapOf(epoch)?.cut;
    if (cut !== undefined && n > cut) out.set(epoch, cut);
  }
  return out;
}

/** Whether `vc` holds an epoch beyond a cut our state agreed. */
function holdsPastOurCut(d: SnapshotExchangeDeps, vc: VectorClock): boolean {
  for (const [origin, seq] of vc) {
    const cut = d.replica.reapOf(origin)?.cut;
    if (cut !== undefined && seq > cut) return true;
  }
  return false;
}

/**
 * Refuses a snapshot that holds an epoch beyond a cut our state agreed (its effects apply
 * nowhere: a member that has not rebased yet, such as the losing side of a mutual reap), or,
 * while a rebase that emptied our store waits for a state, one that does not retire our old
 * epoch at the cut (it would be another state to be given up).
 */
function refusePastCut(d: SnapshotExchangeDeps, snap: ProvenSnapshot, vc: VectorClock): void {
  for (const [origin, seq] of vc) {
    const cut = d.replica.reapOf(origin)?.cut;
    if (cut !== undefined && seq > cut)
      throw new SnapshotRefused(
        SnapshotRefusal.PastCut,
        `The peer's snapshot holds epoch ${origin} up to ${String(seq)}, beyond its agreed cut ${String(cut)}.`,
        { epoch: origin, seq, cut },
      );
  }
  const rebasing = d.rebasingFrom?.();
  if (rebasing === undefined) return;
  let cut: number | undefined;
  try {
    cut = Replica.fromSnapshot({ id: `${d.replica.id}-probe` }, snap).reapOf(rebasing.epoch)?.cut;
  } catch {
    return; // a state that does not validate is refused when installed
  }
  if (cut !== rebasing.cut)
    throw new SnapshotRefused(
      SnapshotRefusal.PastCut,
      `The peer's state does not retire our reaped epoch ${rebasing.epoch} at ${String(rebasing.cut)}: it is not a state to rebase on.`,
      { epoch: rebasing.epoch, cut: rebasing.cut, theirs: cut ?? null },
    );
}

/**
 * The snapshot sync serves: our state and clock, with the signed head of every clock entry
 * (format v2). `proven: false` serves format v1, without heads, for a member of a release that
 * reads only v1 (it installs it as it always did; releases that read v2 refuse a v1 snapshot
 * that claims a clock). `pruned` (for a peer that reads wire version 4) serves format 3: the
 * clock without the retired epochs we hold up to their cut, which are listed with their cuts
 * instead and need no head. `vc` is always the whole clock the snapshot covers.
 */
export function servedSnapshot(
  d: Pick<SnapshotExchangeDeps, 'replica' | 'store' | 'log'>,
  opts: { proven: boolean; pruned?: boolean } = { proven: true },
): {
  bytes: Uint8Array;
  vc: VectorClock;
} {
  const full = d.replica.snapshot();
  if (!opts.proven) return { bytes: encodeSnapshot(full), vc: full.vc };
  const snap = opts.pruned === true ? prunedSnapshot(full, d.replica.shownClock()) : full;
  const { heads, missing } = headsFor(snap.vc, (origin) => d.store.head(origin));
  if (missing.length > 0) {
    d.log.warn(
      { origins: missing.slice(0, 8), missing: missing.length },
      'serving a snapshot without the signed heads of some origins (compacted before this release); peers will refuse it',
    );
  }
  return { bytes: encodeSnapshot({ ...snap, heads }), vc: full.vc };
}
