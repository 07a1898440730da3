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
import { firmlyStands, sideOf, standingOf } from '../core/mutual-reap.js';
import { reapSummary } from './reap-summary.js';
import { peerOfOrigin } from '../core/origin.js';
import type { ReapState } from '../core/reaping.js';
import {
  headsFor,
  openPeerSnapshot,
  type PeerSnapshotInput,
  peerSnapshotBytes,
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
  readonly counters: { rejectedSnapshots: number; snapshotsInstalled: number; peersMerged?: number };
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
  readonly rebasingFrom?: () =>
    { readonly epoch: string; readonly cut: number; readonly side?: readonly string[] } | undefined;
  /** Called after a diverged peer's snapshot was merged and persisted. */
  readonly merged?: (peer: string) => void;
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
 *
 * `merge` (the peer's id, when it is a diverged peer we may merge: heartbeats.ts): when some of
 * the events the snapshot lacks are no longer in our log (we folded them), the snapshot is
 * joined into our state instead (src/core/replica/merge.ts) and the result persisted.
 */
export function installPeerSnapshot(
  d: SnapshotExchangeDeps,
  input: PeerSnapshotInput,
  opts: { keepNewer?: boolean; nowMs?: number; merge?: string } = {},
): boolean {
  let snap: ProvenSnapshot;
  let vc: VectorClock;
  let keep: StoredEvent[] = [];
  let merged = false;
  let bytes: Uint8Array | undefined; // what the store keeps: encoded again from a streamed snapshot
  try {
    snap = openPeerSnapshot(input);
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
      if (keep.length === lacking) {
        bytes = peerSnapshotBytes(input);
        const events = keep.map((e) => readTrustedEnvelope(e.bytes).event);
        d.replica.installKeeping(snap, events, opts.nowMs ?? Date.now()); // validates before changing
      } else if (opts.merge !== undefined) {
        // Some of them we folded away: a diverged peer we merge (docs/agent.md "Divergence").
        d.replica.merge(snap); // validates before changing
        merged = true;
      } else return false;
    } else {
      bytes = peerSnapshotBytes(input);
      d.replica.install(snap); // validates the whole keyspace before it changes anything
    }
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
  if (merged) {
    persistMerge(d, snap, vc, opts.merge ?? '');
    return true;
  }
  try {
    d.store.installSnapshot({ vc, bytes: bytes ?? peerSnapshotBytes(input), heads: snap.proof, keep });
  } catch (e) {
    throw new StoreFailStop('the store failed to install a snapshot; stopping the agent', e);
  }
  d.installed();
  d.counters.snapshotsInstalled++;
  d.log.info({ clock: vcToRecord(snap.vc), keptEvents: keep.length }, 'installed a snapshot from a peer');
  return true;
}

/** The stable code of the line an agent logs when it merged a diverged peer's state. */
export const PEER_MERGED_DIVERGED = 'PEER_MERGED_DIVERGED';

/**
 * After `replica.merge` took a diverged peer's snapshot: persists the joined state as a new
 * snapshot that replaces the log (every logged event is in it), with the peer's signed heads
 * for the origins it holds further than we did, so that the snapshots we serve still prove
 * their whole clock (src/net/snapshot-proof.ts). A store failure stops the agent: on restart
 * it recovers its state from before the merge, and merges again when it meets the peer.
 */
function persistMerge(
  d: SnapshotExchangeDeps,
  snap: ProvenSnapshot,
  peerVc: VectorClock,
  peer: string,
): void {
  const state = d.replica.snapshotRows(); // encoded row by row below
  try {
    d.store.installSnapshot({
      vc: state.vc,
      bytes: encodeSnapshot(state),
      heads: snap.proof.filter((h) => (d.store.head(h.origin)?.seq ?? 0) < h.seq),
      keep: [],
    });
  } catch (e) {
    throw new StoreFailStop('the store failed to persist a merged snapshot; stopping the agent', e);
  }
  d.installed();
  d.merged?.(peer);
  if (d.counters.peersMerged !== undefined) d.counters.peersMerged++;
  d.log.warn(
    { code: PEER_MERGED_DIVERGED, peer, peerClock: vcToRecord(peerVc), clock: vcToRecord(state.vc) },
    `merged the state of peer ${peer}, whose history diverged from ours (each had folded events the other lacked): both histories now hold here as concurrent (docs/agent.md, "Divergence")`,
  );
}

/**
 * The clock a peer's snapshot proves by its signed heads, or undefined when it does not decode
 * or does not prove it (snapshot-source.ts reads it to tell a reaped peer that rebased).
 */
export function provenClock(input: PeerSnapshotInput): VectorClock | undefined {
  try {
    return openPeerSnapshot(input).vc;
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
    // Sides of a split reaped each other: rebase only for the reap of the side that wins, judged
    // on our records and theirs (mutual-reap.ts); while the winner is undecided, keep our state.
    // Another member's epoch: only for a reap whose side's other reaps stand too (a side that
    // loses or is undecided elsewhere may give up its state, and no state to take would come).
    const records = [...d.replica.reaps(), ...probe.reaps()];
    // The epochs either state holds: members reaped by both sides that all write under an epoch
    // nobody reaped no longer hold a conflict undecided (mutual-reap.ts `judge`).
    const origins = [...d.replica.clock().keys(), ...probe.clock().keys()];
    let standing = standingOf(reap, records, origins);
    if (!own && standing === 'stands' && !firmlyStands(reap, records, origins)) standing = 'undecided';
    if (standing !== 'stands') {
      d.log.warn(
        { epoch, cut, theirs: sideOf(reap), standing },
        standing === 'void'
          ? 'a peer’s state reaps an epoch we hold in a mutual reap our side won: its reap is void, we keep our state'
          : 'a peer’s state reaps an epoch we hold in a mutual reap whose winner is not known yet: we keep our state for now',
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
    const key = `${epoch}@${String(cut)}`;
    if (key !== lastNoticed)
      d.log.error(
        { epoch, cut, held, ours: reapSummary(d.replica.reaps()), theirs: reapSummary(probe.reaps()) },
        'a peer’s state retires an epoch we hold beyond its cut, and the reap stands: rebasing (the reap records judged)',
      );
    lastNoticed = key;
    if (own) d.ownEpochCut(epoch, cut, sideOf(reap));
    else d.foreignEpochCut?.(epoch, cut, sideOf(reap), pastCutsIn(probe, ahead));
    return true;
  }
  return false;
}

/** The last epoch and cut noticeOwnCut logged (the same snapshot comes again until the rebase). */
let lastNoticed = '';

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
  let reap: ReapState | undefined;
  let probe: Replica;
  try {
    probe = Replica.fromSnapshot({ id: `${d.replica.id}-probe` }, snap);
    reap = probe.reapOf(rebasing.epoch);
  } catch {
    return; // a state that does not validate is refused when installed
  }
  const cut = reap?.cut;
  // Three sides or more may retire our epoch at one cut: take only the state of the side whose
  // reap we rebase for (the winner's), not a loser's that is to be given up too.
  const side = rebasing.side ?? [];
  const theirs = reap ? sideOf(reap) : [];
  // A lower cut that stands (the side we took for the winner lost): rebase again from there
  // (rebase.ts), and take this state then.
  if (
    reap &&
    cut !== undefined &&
    cut < rebasing.cut &&
    peerOfOrigin(rebasing.epoch) === peerOfOrigin(d.replica.id)
  ) {
    const origins = [...d.replica.clock().keys(), ...probe.clock().keys()];
    if (standingOf(reap, [...d.replica.reaps(), ...probe.reaps()], origins) === 'stands')
      d.ownEpochCut?.(rebasing.epoch, cut, theirs);
  }
  if (cut !== rebasing.cut || (side.length > 0 && !theirs.some((m) => side.includes(m))))
    throw new SnapshotRefused(
      SnapshotRefusal.PastCut,
      `The peer's state does not retire our reaped epoch ${rebasing.epoch} at ${String(rebasing.cut)} by the reap we rebase for: it is not a state to rebase on.`,
      { epoch: rebasing.epoch, cut: rebasing.cut, theirs: cut ?? null, side: theirs },
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
  // Rows of the live state, encoded at once (no await until the bytes are made): a consistent
  // cut, without its JSON value whole.
  const full = d.replica.snapshotRows();
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
