/**
 * A reaped member that comes back loses nothing it acknowledged (issue 7; the reap protocol is
 * src/core/reaping.ts, the trade-offs docs/agent.md "Reaping").
 *
 * Once this agent's own epoch is retired at a cut (every replica computed it from the reports),
 * every replica refuses the epoch's events beyond the cut, now and later, so nothing more can be
 * written under it. The agent *rebases*:
 *
 * 1. It moves the client batches of its own writes beyond the cut (store own-ops table, saved
 *    with each write; rebase-ops.ts) into a pending record (rebase-pending.ts), synced, before
 *    anything changes, and drops them from the table.
 * 2. It takes a new epoch (epoch.ts).
 * 3. If it holds nothing beyond the cut, its state is everyone's: the replica goes on under the
 *    new epoch from its own snapshot. Otherwise its state holds effects no other replica will
 *    apply, so it empties its store and replica and takes a peer's state by anti-entropy, as a
 *    new member does (a snapshot if the peer compacted, then the events), until it holds its
 *    old epoch up to the cut.
 * 4. It re-runs the pending batches, in their original order, as new local writes against the
 *    state it now holds, and drops the pending record.
 *
 * The semantic shift (docs/semantics.md "Reaping"): a re-run write is a new operation, causally
 * later than everything in the state it is re-run against, not concurrent with it as the
 * original was. A remove or an overwrite therefore now also covers what others wrote meanwhile;
 * counters and adds are unaffected. Replaying the stored downstream ops instead would be wrong:
 * their observed contexts name dots of the state before the snapshot.
 *
 * Two more cases (docs/agent.md "Reaping"): a member no marker named that delivered a reaped
 * epoch beyond its cut straight from the reaped member rebases *from that foreign epoch*
 * (rebaseFromForeign: its own events from before that point are kept, its client writes since
 * re-run); and the epoch it rebased from may be retired again at a *lower cut* (lowerCut()).
 * Whenever the store is emptied, the events of our own epochs that are neither retired nor
 * re-run are carried across it and delivered again before the re-runs (rebase-carry.ts).
 *
 * A crash between 1 and 4 leaves the pending record: the next start resumes at 3's wait and 4.
 * The record shrinks after each re-run batch, so only the batch in flight at a crash may run
 * twice (the re-run is at-least-once per batch).
 */
import type { Logger } from 'pino';
import { vcGet } from '../core/clock/vector-clock.js';
import { Replica, type ReplicaConfig } from '../core/replica.js';
import type { Store } from '../store/store.js';
import { takeNewEpoch } from './epoch.js';
import { sideOf } from '../core/mutual-reap.js';
import { peerOfOrigin } from '../core/origin.js';
import { type Pending, PendingRecord, remembered } from './rebase-pending.js';
import { batchesToRerun, dropMoved, recordOwnEpochs } from './rebase-ops.js';
import { foreignPoint } from './rebase-foreign.js';
import { carriedEvents, deliverCarried } from './rebase-carry.js';
import { reapSummary } from './reap-summary.js';

export interface RebaseDeps {
  readonly peerId: string;
  readonly store: Store;
  readonly log: Logger;
  readonly config: Omit<ReplicaConfig, 'id'>;
  readonly replica: () => Replica;
  /** Replaces the agent's replica (between drains: the owner runs synchronously). */
  readonly setReplica: (r: Replica) => void;
  /** After the store was emptied: the compactor counts snapshots from here. */
  readonly installed: () => void;
  /** One anti-entropy round with some connected peer. */
  readonly syncOnce: () => Promise<void>;
  /** A client write (not a system one), acknowledged once durable. */
  readonly write: (ops: readonly unknown[]) => Promise<unknown>;
  readonly stopping: () => boolean;
  /**
   * Pushes our own events (origin `self`) up to `upTo` to the connected peers, before the store
   * is emptied (a rebase from a foreign epoch: they may be held nowhere else).
   */
  readonly handOver?: (self: string, upTo: number) => Promise<void>;
  /** The members we know now (before the store is emptied: what we remember of them). */
  readonly members?: () => readonly string[];
  /**
   * Delivers envelopes again as a peer's (verified, in causal order): the events a rebase
   * carried across the emptied store (rebase-carry.ts). Resolves once applied or buffered.
   */
  readonly redeliver?: (envelopes: readonly Uint8Array[]) => Promise<void>;
}

export class Rebaser {
  private running = false;
  /** Rebases done since start (status and tests). */
  count = 0;
  private readonly pending: PendingRecord;
  /**
   * The epoch a running rebase moved to, reaped below what we wrote under it before the rebase
   * got a peer's state (ownEpochCut): finish() starts over from it.
   */
  private superseded: { epoch: string; cut: number; side: readonly string[] } | undefined;

  constructor(private readonly deps: RebaseDeps) {
    this.pending = new PendingRecord(deps.store);
  }

  /**
   * Called every heartbeat step, from maintain(), inside the owner's drain: starts a rebase if
   * our own epoch was reaped, after the drain. Events the drain prepared before maintain() are
   * committed only when it ends; emptying the store here would get them appended to the
   * emptied store (the reaped epoch beyond the cut again, and others' events with no snapshot
   * below them), and leave them out of the re-run.
   */
  check(): void {
    if (this.running) return;
    const r = this.deps.replica();
    // An older epoch of ours first: a rebase from another member's epoch would take a state
    // that retires ours too, below what we hold, and re-run none of ours between the cuts.
    const own = (epoch: string) => Number(peerOfOrigin(epoch) === this.deps.peerId);
    for (const p of [...r.pastCut()].sort((x, y) => own(y.epoch) - own(x.epoch))) {
      if (p.epoch === r.id) continue;
      if (peerOfOrigin(p.epoch) === this.deps.peerId) {
        // An older epoch of our own, reaped while we were down: an unclean restart took a new
        // epoch before we heard of the cut. Our current epoch's events depend on the old one's
        // beyond the cut, so no replica will ever apply them either: rebase from the old epoch
        // and re-run the client writes of both (rebase()).
        this.start(p.epoch, p.cut);
        return;
      }
      // A member no marker named that heard from the reaped member directly: our state holds
      // effects no other replica applies. Rebase from that epoch (rebaseFromForeign()).
      this.deps.log.error(
        p,
        'this agent delivered events of a reaped epoch beyond its agreed cut; taking a peer’s state under a new epoch',
      );
      this.start(p.epoch, p.cut);
      return;
    }
    const cut = r.reapOf(r.id)?.cut;
    if (cut === undefined) return;
    this.start(r.id, cut);
  }

  /** Starts a rebase from our epoch `own` after the owner's drain (see check()). */
  private start(own: string, cut: number): void {
    const current = this.deps.replica().id;
    this.deps.log.error(
      { epoch: own, cut, reaps: reapSummary(this.deps.replica().reaps()) },
      'our state retires an epoch we hold beyond its cut: rebasing (the reap records it holds)',
    );
    this.running = true; // no second start before this one runs
    setTimeout(() => {
      this.running = false;
      if (current !== this.deps.replica().id) return;
      this.run(() =>
        peerOfOrigin(own) === this.deps.peerId ? this.rebase(own, cut) : this.rebaseFromForeign(own, cut),
      );
    }, 0);
  }

  /**
   * A peer's snapshot retires our epoch `epoch` at `cut` below what we hold (snapshot-exchange.ts):
   * the reports themselves may be compacted away, so this is how we learn the cut.
   */
  ownEpochCut(epoch: string, cut: number, side: readonly string[] = []): void {
    // Called from inside the owner's drain: rebase after it, not in the middle of it.
    setTimeout(() => {
      if (peerOfOrigin(epoch) !== this.deps.peerId) return;
      if (!this.running) {
        this.run(() => this.rebase(epoch, cut, side));
        return;
      }
      // A rebase is under way, and the epoch it moved to is reaped too (a pending force-leave
      // reaps each new epoch of ours that reaches it: docs/agent.md). While it waits for a state,
      // every peer's state now retires that epoch below what we wrote under it meanwhile, so none
      // can be installed: finish() starts over from that epoch instead of waiting for ever. The
      // same when the epoch it rebases from is retired at a lower cut (the side whose state it
      // waits for lost to another: docs/agent.md "a lower cut"): that state will not come.
      const awaited = this.pending.awaitingState();
      if (epoch === this.deps.replica().id || (awaited?.epoch === epoch && cut < awaited.cut))
        this.superseded = { epoch, cut, side };
    }, 0);
  }

  /**
   * A peer's snapshot retires another member's epoch `epoch` at `cut` below what we hold, and our
   * state does not know that reap (snapshot-exchange.ts): a member that joined the losing side of
   * a mutual reap holds that side's epochs past the winners' cut. `side`: the members that
   * agreed it, to take the state from.
   */
  foreignEpochCut(
    epoch: string,
    cut: number,
    side: readonly string[],
    also: ReadonlyMap<string, number> = new Map(),
  ): void {
    const current = this.deps.replica().id;
    setTimeout(() => {
      if (this.running || peerOfOrigin(epoch) === this.deps.peerId) return;
      if (current !== this.deps.replica().id) return;
      this.run(() => this.rebaseFromForeign(epoch, cut, side, also));
    }, 0);
  }

  /** At start: finishes a rebase a crash interrupted. */
  resume(): void {
    if (this.running || this.pending.get() === undefined) return;
    this.run(() => this.finish());
  }

  private run(fn: () => Promise<void>): void {
    this.running = true;
    fn()
      .catch((e: unknown) => {
        this.deps.log.error({ err: e }, 'rebase failed; it resumes at the next start');
      })
      .finally(() => {
        this.running = false;
      });
  }

  /**
   * `side`: the members that agreed the cut (mutual-reap.ts `sideOf`). They hold a state that
   * retires our epoch there, so they are among those we take it from, even where our own state
   * held them reaped (the other side of a mutual reap, which our side lost).
   */
  private async rebase(own: string, cut: number, side: readonly string[] = []): Promise<void> {
    const { store, log } = this.deps;
    const old = this.deps.replica();
    const reap = old.reapOf(own);
    const agreed = [...side, ...(reap ? sideOf(reap) : [])];
    // A rebase that emptied the store and waits for a state holding `own` up to its cut: we
    // hold the epoch up to there, whatever the replica took of it yet.
    const awaited = this.pending.awaitingState();
    const held = Math.max(vcGet(old.clock(), own), awaited?.epoch === own ? awaited.cut : 0);
    this.superseded = undefined;
    // A rebase that never got its state (finish() starts over from the epoch it moved to) keeps
    // its batches in order with ours (rebase-ops.ts). Rebasing from an older epoch of ours (an
    // unclean restart took a new one before we heard of the cut, or a lower cut of an epoch we
    // rebased from already): what we wrote under the later ones depends on the old epoch's
    // events beyond the cut, so it is re-run too, after them.
    const before = this.pending.get();
    const rerun =
      held > cut
        ? batchesToRerun(store, own, cut, old.id, before)
        : { ops: [...(before?.ops ?? [])], moved: {}, last: before?.last ?? own };
    const { ops } = rerun;
    // The store is emptied: our older epochs' events go across it (rebase-carry.ts).
    const carry =
      held > cut
        ? [
            ...(before?.carry ?? []),
            ...carriedEvents(store, this.deps.peerId, old, (e) => rerun.moved[e], own),
          ]
        : [...(before?.carry ?? [])];
    const pending: Pending = {
      from: own,
      cut,
      ops,
      moved: rerun.moved,
      last: rerun.last,
      ...(held > cut ? remembered(this.deps.peerId, this.deps.members?.() ?? [], agreed) : {}),
      ...(carry.length > 0 ? { carry } : {}),
    };
    this.pending.set(pending);
    dropMoved(store, pending.moved);
    const { origin } = takeNewEpoch(store, this.deps.peerId, log);
    recordOwnEpochs(store, [own, old.id, origin]);
    if (held > cut) {
      store.resetForRebase();
      this.deps.setReplica(new Replica({ ...this.deps.config, id: origin }));
      this.deps.installed();
    } else {
      this.deps.setReplica(Replica.fromSnapshot({ ...this.deps.config, id: origin }, old.snapshot()));
    }
    this.count++;
    log.error(
      // `abandoned`: the epoch we wrote under since an unclean restart, re-run along with `own`.
      {
        reaped: own,
        cut,
        held,
        origin,
        rerun: ops.length,
        carried: carry.length,
        ...(own !== old.id ? { abandoned: old.id } : {}),
      },
      held > cut
        ? 'our epoch was reaped below what we wrote: taking a peer’s state and re-running our writes beyond the cut under a new epoch'
        : 'our epoch was reaped: writing under a new epoch',
    );
    await this.finish();
  }

  /**
   * Rebases from a foreign epoch `epoch` that we hold beyond its cut (see the module comment).
   * Our own events from before we delivered its first event beyond the cut are handed over
   * first; the client writes we made after it are re-run.
   */
  private async rebaseFromForeign(
    epoch: string,
    cut: number,
    side: readonly string[] = [],
    also: ReadonlyMap<string, number> = new Map(),
  ): Promise<void> {
    const { store, log } = this.deps;
    const self = this.deps.replica().id;
    const { first, safe, ownCut } = foreignPoint(this.deps, epoch, cut, also);
    await this.deps.handOver?.(self, safe);
    if (this.deps.stopping() || this.deps.replica().id !== self) return;
    // From here on synchronous (as rebase()): no write of ours may slip in between.
    const old = this.deps.replica();
    const held = vcGet(old.clock(), epoch);
    // Our client writes made after we delivered the epoch beyond its cut; ours before stay kept,
    // should our own epoch be retired below them later.
    const before = this.pending.get();
    const rerun =
      first === undefined
        ? { ops: [], moved: {}, last: self }
        : batchesToRerun(store, first.origin, first.seq - 1, self, before);
    const { ops } = rerun;
    const moved: Readonly<Record<string, number>> = rerun.moved;
    const carry = [...(before?.carry ?? []), ...carriedEvents(store, this.deps.peerId, old, (e) => moved[e])];
    const reap = old.reapOf(epoch);
    const agreed = [...side, ...(reap ? sideOf(reap) : [])];
    const pending: Pending = {
      from: epoch,
      cut,
      ops,
      moved: rerun.moved,
      last: rerun.last,
      ...remembered(this.deps.peerId, this.deps.members?.() ?? [], agreed),
      ...(carry.length > 0 ? { carry } : {}),
    };
    this.pending.set(pending);
    dropMoved(store, pending.moved);
    const { origin } = takeNewEpoch(store, this.deps.peerId, log);
    recordOwnEpochs(store, [self, origin]);
    store.resetForRebase();
    this.deps.setReplica(new Replica({ ...this.deps.config, id: origin }));
    this.deps.installed();
    this.count++;
    log.error(
      {
        reaped: epoch,
        cut,
        held,
        origin,
        abandoned: self,
        ...(ownCut !== undefined ? { ownCut } : {}),
        handedOver: safe,
        carried: carry.length,
        rerun: ops.length,
      },
      'we delivered a reaped epoch beyond its cut: took a new epoch and a peer’s state, re-running our writes made since',
    );
    await this.finish();
  }

  /** Waits until the state holds the reaped epoch up to the cut, then re-runs the batches. */
  private async finish(): Promise<void> {
    let p = this.pending.get();
    if (!p) return;
    dropMoved(this.deps.store, p.moved); // again: a crash may have come before
    while (vcGet(this.deps.replica().clock(), p.from) < p.cut) {
      if (this.deps.stopping()) return;
      const next = this.superseded;
      const now = this.deps.replica();
      if (next?.epoch === p.from && next.cut < p.cut) return this.lowerCut(p, next.cut, next.side);
      if (next?.epoch === now.id && vcGet(now.clock(), now.id) > next.cut)
        return this.rebase(next.epoch, next.cut, next.side);
      await this.deps.syncOnce();
      await new Promise((r) => setTimeout(r, 100));
    }
    this.superseded = undefined; // reaped after we got the state: check() sees it in the state
    if ((p.carry?.length ?? 0) > 0) {
      if (!(await deliverCarried(this.deps, p.carry ?? []))) return;
      p = { ...p, carry: [] };
      this.pending.set(p);
    }
    for (let i = 0; i < p.ops.length; i++) {
      if (this.deps.stopping()) return;
      await this.deps.write(JSON.parse(p.ops[i] ?? '[]') as unknown[]);
      // What is left, so that a crash or a failed write re-runs only the batch in flight.
      const left: Pending = { ...p, ops: p.ops.slice(i + 1) };
      this.pending.set(left);
    }
    this.pending.clear();
    if (p.ops.length > 0) this.deps.log.warn({ rerun: p.ops.length }, 're-ran our writes beyond the cut');
  }

  /**
   * While we wait for a state that holds `p.from` up to `p.cut`, `p.from` is retired at a lower
   * `cut`, agreed by `side`: the side we took for the winner lost, and its state will not come.
   * When nothing of `p.from` beyond the lower cut reached our emptied store, what we wrote since
   * depends on nothing refused: we keep our epoch, and wait for a state of `side` instead,
   * re-running `p.from`'s batches between the cuts before `p`'s. Otherwise we rebase again.
   */
  private async lowerCut(p: Pending, cut: number, side: readonly string[]): Promise<void> {
    this.superseded = undefined;
    if (vcGet(this.deps.replica().clock(), p.from) > cut) return this.rebase(p.from, cut, side);
    const { store, log } = this.deps;
    const between = store.ownOpsSince(p.from, cut).map((o) => o.ops);
    const members = [...new Set([...(p.members ?? []), ...side])].sort();
    const next: Pending = {
      ...p,
      cut,
      ops: [...between, ...p.ops],
      moved: { ...p.moved, [p.from]: cut },
      members,
      side: [...new Set(side)].sort(),
    };
    this.pending.set(next);
    dropMoved(store, next.moved);
    log.error(
      { reaped: p.from, cut, was: p.cut, rerun: next.ops.length },
      'the epoch we rebase from was retired at a lower cut: waiting for the winners’ state, and re-running our writes beyond that cut',
    );
    return this.finish();
  }

  /**
   * While a rebase that emptied the store is under way (also after a restart), the members we
   * knew before: the store no longer shows them, yet we are no new joiner.
   */
  formerMembers(): ReadonlySet<string> {
    return this.pending.formerMembers();
  }

  /**
   * While a rebase that emptied the store waits for a state: the reaped epoch and its cut. Only
   * a state that retires the epoch at that cut may be taken (snapshot-exchange.ts).
   */
  rebasingFrom(): { epoch: string; cut: number; side: readonly string[] } | undefined {
    return this.pending.awaitingState();
  }
}
