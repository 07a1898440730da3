/**
 * The agent's half of agreed reaping (issue 7; the protocol and its reasons are in
 * src/core/reaping.ts, the trade-offs in docs/agent.md "Reaping").
 *
 * An agent that decides to reap a member (silent past reapAfterMs, an operator's force-leave,
 * the log bound) no longer stops waiting for it at once. It writes a *marker* for each epoch of
 * the member it knows: its own report (the highest seq of that epoch it holds) and the members
 * it expects to report. Every agent a marker names adds its own report when it sees the marker.
 * Once every named member has reported, every replica computes the same cut from the same
 * reports, refuses the epoch's events beyond it, and only then does stability stop waiting for
 * the member (`retiredPeers`). A report causally follows the epoch's events it reports, so an
 * agent that knows the cut already holds the epoch up to it: the fetch is done by causal
 * delivery and anti-entropy, with no extra step.
 *
 * Who is named: this agent and every member stability waits for (not left, not reaped), alive
 * or not, except members that are being reaped themselves (a reap of an epoch of theirs without
 * a cut yet, or a marker of ours for one in flight) or whose every known epoch is retired. A
 * member reaped once and back under a new epoch nobody reaped is named, and the marker lists
 * its retired epochs (`retired`), so that no replica excuses it for them: it may hold the epoch
 * beyond what the others hold (test/core/reaping-rebased-participant.test.ts). A member that is merely partitioned or down must report: were it left out, it
 * could hold the reaped epoch beyond the cut the others agree on, and its state would differ
 * for good — and a partition is exactly when members look dead. So a down member holds a reap
 * open, as it holds compaction back, until it is reaped itself (then src/core/reaping.ts
 * excuses it). A member that is being reaped is not named: two members dead at once would
 * otherwise wait for each other; if it held the epoch beyond the cut, it rebases when it
 * returns (rebase.ts), which resets its state from a peer anyway. Two agents that start those
 * reaps in opposite orders still name each other's member (neither saw the other's marker);
 * src/core/reaping.ts `waitingOnEachOther` excuses such members, alike in every replica.
 *
 * Runs inside the owner's heartbeat step (compaction.ts); its writes go through the owner queue
 * like any other local write.
 */
import type { Logger } from 'pino';
import { vcGet } from '../core/clock/vector-clock.js';
import { peerOfOrigin } from '../core/origin.js';
import { type ReapState, reportOp } from '../core/reaping.js';
import type { Replica } from '../core/replica.js';

export interface ReaperDeps {
  readonly self: string;
  readonly replica: () => Replica;
  /** A system write through the owner queue (resolves once durable). */
  readonly write: (ops: readonly unknown[]) => Promise<unknown>;
  /** Members stability waits for (self, left and reaped ones excluded). */
  readonly members: () => Iterable<string>;
  readonly log: Logger;
}

/** Where one epoch's reap stands, for status (the reports themselves stay in the state). */
export type ReapStatus = Omit<ReapState, 'reports'>;

export class Reaper {
  /** Epochs with a report (or marker) of ours written but maybe not applied yet. */
  private readonly inFlight = new Set<string>();

  constructor(private readonly deps: ReaperDeps) {}

  /**
   * Starts the agreed reap of every epoch of `peer` this replica knows and that has no marker
   * yet. True if some epoch of `peer` is being reaped (now or already).
   */
  initiate(peer: string): boolean {
    const replica = this.deps.replica();
    const epochs = this.epochsOf(peer);
    const others = [...this.deps.members()].filter((m) => m !== peer && !this.beingReaped(m));
    const members = [this.deps.self, ...others];
    // Old epochs of named members retired before (they came back under new ones): listed, so
    // that no replica excuses them from this reap for those (src/core/reaping.ts).
    // (From the reaps, not the clock: a replica may know a cut of an epoch it holds none of.)
    const retired = replica
      .reaps()
      .filter((s) => s.cut !== undefined && others.includes(peerOfOrigin(s.epoch)))
      .map((s) => s.epoch);
    const ops: unknown[] = [];
    const marked: string[] = [];
    for (const epoch of epochs) {
      if (replica.reapOf(epoch) || this.inFlight.has(epoch)) continue;
      const seq = vcGet(replica.clock(), epoch);
      ops.push(reportOp(epoch, { node: this.deps.self, seq, members, retired }));
      marked.push(epoch);
    }
    if (ops.length > 0) this.send(ops, marked, 'wrote a reap marker');
    return epochs.length > 0;
  }

  /**
   * Reports where a marker names this agent and it has not reported yet; returns the peers
   * every known epoch of which is retired here (cut known, and held up to the cut), with those
   * epochs.
   */
  step(): Map<string, string[]> {
    const replica = this.deps.replica();
    const clock = replica.clock();
    const ops: unknown[] = [];
    const epochs: string[] = [];
    const byPeer = new Map<string, boolean>();
    for (const s of replica.reaps()) {
      const peer = peerOfOrigin(s.epoch);
      if (peer === this.deps.self) continue;
      // Excused (an epoch of ours was reaped): a report now could raise a cut others computed.
      const due =
        s.participants.includes(this.deps.self) &&
        !s.reports.has(this.deps.self) &&
        !s.excused.includes(this.deps.self);
      if (due) {
        if (!this.inFlight.has(s.epoch)) {
          ops.push(reportOp(s.epoch, { node: this.deps.self, seq: vcGet(clock, s.epoch) }));
          epochs.push(s.epoch);
        }
      }
      const retired = s.cut !== undefined && vcGet(clock, s.epoch) >= s.cut;
      byPeer.set(peer, (byPeer.get(peer) ?? true) && retired);
    }
    if (ops.length > 0) this.send(ops, epochs, 'reported on a reap');
    const out = new Map<string, string[]>();
    for (const [peer, retired] of byPeer) {
      // Every epoch of the peer in our clock must be cut: an epoch nobody marked is live.
      const epochs = this.epochsOf(peer);
      if (retired && epochs.every((e) => replica.reapOf(e)?.cut !== undefined)) out.set(peer, epochs);
    }
    return out;
  }

  /** Every reap with a marker in the state. */
  status(): ReapStatus[] {
    return this.deps
      .replica()
      .reaps()
      .map((s: ReapState) => ({
        epoch: s.epoch,
        participants: s.participants,
        missing: s.missing,
        excused: s.excused,
        limit: s.limit,
        cut: s.cut,
      }))
      .sort((a, b) => a.epoch.localeCompare(b.epoch));
  }

  /** Whether this replica knows an epoch of `peer` (a member that never wrote has none). */
  knows(peer: string): boolean {
    return this.epochsOf(peer).length > 0;
  }

  /**
   * The epochs of `peer`, joined by spaces, when every one this replica knows is retired here
   * (cut agreed, held up to the cut); undefined otherwise.
   */
  retiredEpochs(peer: string): string | undefined {
    const replica = this.deps.replica();
    const epochs = this.epochsOf(peer);
    if (epochs.length === 0) return undefined;
    for (const e of epochs) {
      const cut = replica.reapOf(e)?.cut;
      if (cut === undefined || vcGet(replica.clock(), e) < cut) return undefined;
    }
    return epochs.join(' ');
  }

  /**
   * The epochs of `peer` that were marked for a reap (marker in the state or ours in flight),
   * when there is one and every one is retired here; undefined otherwise. Unmarked epochs do
   * not count: one that showed up after the cuts were agreed is the member coming back.
   */
  agreedEpochs(peer: string): string[] | undefined {
    const replica = this.deps.replica();
    const marked = this.epochsOf(peer).filter((e) => this.inFlight.has(e) || replica.reapOf(e));
    if (marked.length === 0) return undefined;
    for (const e of marked) {
      const cut = replica.reapOf(e)?.cut;
      if (cut === undefined || vcGet(replica.clock(), e) < cut) return undefined;
    }
    return marked;
  }

  /**
   * Whether `member` is left out of a new marker: a reap of one of its epochs is open (no cut
   * yet, or a marker of ours in flight), or every epoch of it this replica knows is retired.
   * Markers of ours in flight count: two reaps started back to back (a force-leave of each of
   * two members, or a timer finding both silent in one step) would otherwise name each other's
   * member, and each would wait for the other's report for ever. A reap that finished of an old
   * epoch of a member that came back under a new one does not count: the member is alive, and
   * may hold the epoch being reaped beyond what the others hold.
   */
  private beingReaped(member: string): boolean {
    const replica = this.deps.replica();
    for (const e of this.inFlight) if (peerOfOrigin(e) === member) return true;
    const reaped = replica.reaps().filter((s) => peerOfOrigin(s.epoch) === member);
    if (reaped.some((s) => s.cut === undefined)) return true;
    // Every epoch known (reaped, or in the clock) retired: reaped ones all have a cut by now.
    const live = this.epochsOf(member).filter((e) => replica.reapOf(e) === undefined);
    return reaped.length > 0 && live.length === 0;
  }

  private epochsOf(peer: string): string[] {
    return [...this.deps.replica().clock().keys()].filter((o) => peerOfOrigin(o) === peer).sort();
  }

  private send(ops: unknown[], epochs: readonly string[], what: string): void {
    for (const e of epochs) this.inFlight.add(e);
    this.deps
      .write(ops)
      .then(() => {
        this.deps.log.info({ epochs }, what);
      })
      .catch((e: unknown) => {
        this.deps.log.warn({ err: e, epochs }, `${what}: the write failed; retrying at the next step`);
      })
      .finally(() => {
        for (const ep of epochs) this.inFlight.delete(ep);
      });
  }
}
