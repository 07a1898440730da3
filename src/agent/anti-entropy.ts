/**
 * The anti-entropy client (DESIGN.md "Anti-entropy (sync)"; docs/agent.md "Repair"): which
 * peer to pull from, when, and how many pulls run at once, so that no peer — slow, silent or
 * hostile — can stall repair for the node.
 *
 * - Up to `maxConcurrentPulls` pulls run at once, never two to the same peer.
 * - A progress watchdog: a pull whose peer sends no frame for `stallMs` (waiting for it only,
 *   not while we apply what it sent) is abandoned, counted (`syncsStalled`), and another peer
 *   is tried. `timeoutMs` caps a whole pull (or push) however steadily it trickles.
 * - A peer whose pull stalled or failed is avoided by automatic pulls for a while, unless it
 *   reconnects (a new connection gets a pull at once), or no other peer can help: one whose
 *   snapshot we refuse as an untrusted source is none (pull-peers.ts).
 * - Gap repairs are coalesced: one at a time, and one more if more were asked for meanwhile.
 * - After its header, a pull ends early when another running pull brings nearly all its events
 *   (it runs again after that one), or when we hold most of what it would send by now (asked
 *   again at once with our clock, if anything is left). A pull on a new connection while
 *   another such runs, or on a heartbeat that a running pull covers, waits for it before it
 *   asks at all: pull-overlap.ts.
 * - A returning writer behind the peer's compacted log pushes its unsent events first, then
 *   pulls again and installs the snapshot even if it wrote more meanwhile (snapshot-exchange.ts).
 *   What started each pull and how it went: pull-log.ts; reading one pull's stream:
 *   pull-frames.ts.
 *
 * It never touches replica state: received envelopes and snapshots go to the owner queue
 * through `deps.receive` and `deps.install`; timers only abort streams.
 */
import type { PeerId } from '@libp2p/interface';
import type { Logger } from 'pino';
import type { ReadonlyVectorClock, VectorClock } from '../core/clock/vector-clock.js';
import type { VerifiedEvent } from '../net/gossip.js';
import type { PeerSnapshotInput } from '../net/snapshot-proof.js';
import type { SyncService } from '../net/sync-protocol.js';
import type { Store } from '../store/store.js';
import { DivergenceLog, foldedBeyond } from './divergence.js';
import { type PullFramesContext, readPull } from './pull-frames.js';
import { PullLog, type PullTrigger } from './pull-log.js';
import { PullOverlap } from './pull-overlap.js';
import { PullPeers } from './pull-peers.js';
import { PullStalled, watchdog } from './pull-watchdog.js';
import { envelopesUpTo } from './served-events.js';
import { SyncReceiver } from './sync-receiver.js';

export interface AntiEntropyConfig {
  /** Pulls running at once, each from a different peer. */
  readonly maxConcurrentPulls: number;
  /** A pull whose peer sends nothing for this long is abandoned and another peer is tried. */
  readonly stallMs: number;
  /** Longest a whole pull, or a push, may last. */
  readonly timeoutMs: number;
  /**
   * While every connected peer's last heartbeat shows nothing we lack, periodic rounds pull
   * only this often (default 0: every round). Heartbeats reveal what a peer has; a pull when
   * nothing is missing only re-sends clocks (issue 8). A peer never heard from still gets its
   * pull every round.
   */
  readonly inSyncRoundMs?: number;
}

export interface AntiEntropyCounters {
  syncsStarted: number;
  syncsFailed: number;
  /** Pulls abandoned because the peer sent nothing for stallMs (counted in syncsFailed too). */
  syncsStalled: number;
  rejectedEvents: number;
  /** Pulls that ended apart from the peer for good unless a third member helps (divergence.ts). */
  divergedPulls: number;
}

export interface AntiEntropyDeps {
  readonly sync: SyncService;
  readonly store: Store;
  readonly log: Logger;
  readonly counters: AntiEntropyCounters;
  readonly config: AntiEntropyConfig;
  readonly now: () => number;
  /** Our delivered clock (read only). */
  readonly clock: () => VectorClock;
  /** The clock our sync requests carry (default `clock`): retired epochs pruned when allowed. */
  readonly requestClock?: () => ReadonlyVectorClock;
  /** A responder's clock with the retired epochs it pruned counted at their cut. */
  readonly expand?: (vc: VectorClock) => VectorClock;
  readonly connectedPeers: () => PeerId[];
  /** The clock of a peer's last heartbeat, if any. */
  readonly peerClock: (id: string) => ReadonlyVectorClock | undefined;
  /** When a peer's last heartbeat arrived (same clock as `now`), if any. */
  readonly peerHeardAt?: (id: string) => number | undefined;
  /** A peer refused as a member of another cluster: never pulled from (peer-refusals.ts). */
  readonly refused?: (id: string) => boolean;
  /**
   * Whether a member known to both us and `peer` may still bring what neither log holds: a
   * pull that ends apart from it is then not counted as diverged (src/core/divergence.ts).
   */
  readonly bridged?: (id: string) => boolean;
  /** Queues verified events for the owner; resolves once they are applied and durable. */
  readonly receive: (items: readonly VerifiedEvent[]) => Promise<void>;
  /**
   * Queues a peer's snapshot for the owner; resolves true once installed (or nothing new),
   * false when we hold events it lacks (push them first), `untrusted` when it was refused
   * because we take no state from that peer (snapshot-source.ts).
   */
  readonly install: (
    snapshot: PeerSnapshotInput,
    keepNewer: boolean,
    from: string,
  ) => Promise<boolean | 'untrusted'>;
  /**
   * Why we take no snapshot from `from` (snapshot-source.ts `streamedSourceRefusal`): asked at
   * the header, then with the clock its heads proved, so a refused one's keyspace is not read.
   */
  readonly snapshotSource?: (from: string, claims: ReadonlyVectorClock | undefined) => string | undefined;
  readonly halted: () => boolean;
}

export class AntiEntropy {
  private readonly active = new Map<string, AbortController>();
  /** Which peer automatic pulls go to, and which they avoid for a while (pull-peers.ts). */
  private readonly peers: PullPeers;
  /** Per peer pulled from now, settles when that pull ends (however it ends). */
  private readonly settled = new Map<string, Promise<void>>();
  /** Peers pulled from now by a pull that a new connection started. */
  private readonly connecting = new Set<string>();
  private repairing = false;
  /** When a periodic round last pulled although no heartbeat showed a peer ahead. */
  private lastInSyncPullAt = -Infinity;
  private repairAgain = false;
  /** Public for its `stats` (benchmarks); only anti-entropy calls it. */
  readonly receiver: SyncReceiver;
  /** Running pulls whose responders hold the same events: one reads them (pull-overlap.ts). */
  private readonly overlap: PullOverlap;
  /** Peers this agent diverged from for good, unless a third member helps (divergence.ts). */
  readonly divergence: DivergenceLog;
  /** What started each pull and how it went (tests; a debug line per pull: pull-log.ts). */
  readonly pulls: PullLog;
  /** What reading one pull's stream uses (pull-frames.ts). */
  private readonly frames: PullFramesContext;

  constructor(private readonly deps: AntiEntropyDeps) {
    this.receiver = new SyncReceiver(deps);
    this.divergence = new DivergenceLog(deps.log, deps.counters);
    this.pulls = new PullLog(deps.log, deps.now);
    this.peers = new PullPeers({
      ...deps,
      stallMs: deps.config.stallMs,
      maxConcurrentPulls: deps.config.maxConcurrentPulls,
    });
    this.overlap = new PullOverlap({
      waitMs: deps.config.stallMs,
      due: (peer) => void this.pull(peer, 'deferred', false),
    });
    const receive = (envelopes: readonly Uint8Array[]) => this.receiveRaw(envelopes);
    this.frames = { deps, overlap: this.overlap, pulls: this.pulls, peers: this.peers, receive };
  }

  /** Ids of the peers being pulled from now. */
  pulling(): string[] {
    return [...this.active.keys()];
  }

  /**
   * A periodic round: one pull from the best peer, if a slot is free; when every peer's
   * heartbeat shows we lack nothing, only every `inSyncRoundMs`.
   */
  round(): void {
    const now = this.deps.now();
    this.peers.expire();
    const inSyncDue = now - this.lastInSyncPullAt >= (this.deps.config.inSyncRoundMs ?? 0);
    const chosen = this.choosePeer(true, inSyncDue);
    if (!chosen) return;
    if (chosen.inSync) this.lastInSyncPullAt = now;
    void this.pull(chosen.peer, 'round');
  }

  /** A gap or overflow asks for repair: one repair pull at a time, coalesced. */
  repair(): void {
    if (this.repairing) {
      this.repairAgain = true;
      return;
    }
    const peer = this.choosePeer()?.peer;
    if (!peer) return;
    this.repairing = true;
    void this.pull(peer, 'repair').finally(() => {
      this.repairing = false;
      if (this.repairAgain) {
        this.repairAgain = false;
        this.repair();
      }
    });
  }

  /**
   * A pull from `peer` on an event about it (a heartbeat ahead of us; `why`), or asked for
   * (`manual`). When a running pull brings nearly all the peer's heartbeat shows we lack, or
   * one that a new connection started runs (the backlog of a member that came back, which the
   * peer got first: that pull may not have read its header yet), an automatic one runs once
   * that pull ended, for the rest.
   */
  trigger(peer: PeerId, why: PullTrigger = 'heartbeat'): Promise<void> {
    const key = peer.toString();
    if (this.peers.skips(key)) return Promise.resolve();
    if (why === 'manual') return this.pull(peer, why);
    const vc = this.deps.peerClock(key);
    const to = (vc && this.overlap.covering(key, vc, this.deps.clock())) ?? this.connectPull(key);
    return this.pullAfter(peer, why, to);
  }

  /** A peer other than `key` pulled from now by a pull that a new connection started. */
  private connectPull(key: string): string | undefined {
    return [...this.connecting].find((id) => id !== key);
  }

  /**
   * A new connection to `peer` (after a partition, say): whatever made us avoid it happened on
   * the old one, so pull from it now. A pull still running on the old connection ends first
   * (it fails once that connection is gone); then this one runs. While a pull that another new
   * connection started runs, this one waits for it to end: members that come back at once (the
   * other side of a healed partition) hold the same backlog.
   */
  async connected(peer: PeerId): Promise<void> {
    const key = peer.toString();
    await this.settled.get(key);
    this.peers.clear(key);
    return this.pullAfter(peer, 'connect', this.connectPull(key));
  }

  /**
   * Pulls from `peer` now, or once the running pull from `to` ended (pull-overlap.ts `defer`):
   * a responder sends its whole response before we could read its header and end the pull.
   */
  private pullAfter(peer: PeerId, why: PullTrigger, to: string | undefined): Promise<void> {
    const key = peer.toString();
    if (to === undefined || this.active.has(key) || this.overlap.waiting(key)) return this.pull(peer, why);
    this.overlap.defer(peer, to);
    this.pulls.end(this.pulls.start(key, why), 'deferred');
    return Promise.resolve();
  }

  /** Pulls from every connected peer now, up to maxConcurrentPulls at a time (tests, operators). */
  async syncAll(): Promise<void> {
    const peers = [...this.deps.connectedPeers()];
    const worker = async (): Promise<void> => {
      for (let p = peers.shift(); p; p = peers.shift()) await this.pull(p, 'manual');
    };
    const n = Math.min(peers.length, Math.max(1, this.deps.config.maxConcurrentPulls - this.active.size));
    await Promise.all(Array.from({ length: n }, worker));
  }

  /** Aborts every pull in flight (on shutdown). */
  stop(): void {
    for (const ctl of this.active.values()) ctl.abort(new Error('the agent is stopping'));
  }

  /** Logged events `vc` lacks, up to our clock now (served-events.ts). */
  envelopesSince(vc: ReadonlyVectorClock): Generator<Uint8Array> {
    return envelopesUpTo(this.deps.store, this.deps.clock(), vc);
  }

  /**
   * Envelopes from sync or push: verified (off the event loop) and queued for the owner;
   * resolves once applied and durable (sync-receiver.ts).
   */
  receiveRaw(envelopes: readonly Uint8Array[]): Promise<void> {
    return this.receiver.receive(envelopes);
  }

  /** A peer to pull from (pull-peers.ts): not pulled from now, nor waiting for another pull. */
  private choosePeer(orAvoided = true, inSyncOk = true): { peer: PeerId; inSync: boolean } | undefined {
    const mine = this.deps.clock();
    return this.peers.choose(
      this.active.size,
      (id) => this.active.has(id) || this.overlap.blocks(id, this.deps.peerClock(id), mine),
      orAvoided,
      inSyncOk,
    );
  }

  /**
   * One anti-entropy exchange with `peer`, unless a pull from it runs or every slot is taken;
   * it ends after the header when another running pull brings nearly all its events, to run
   * again after that one (pull-overlap.ts), unless `mayDefer` is false.
   */
  private async pull(peer: PeerId, why: PullTrigger, mayDefer = true): Promise<void> {
    const { config, counters, log } = this.deps;
    const key = peer.toString();
    if (this.deps.halted() || this.active.has(key) || this.active.size >= config.maxConcurrentPulls) return;
    if (this.deps.refused?.(key) === true) return;
    // Waiting for another pull to end (pull-overlap.ts): its turn comes then ('deferred').
    if (why !== 'deferred' && why !== 'manual' && this.overlap.waiting(key)) return;
    if (why === 'connect') this.connecting.add(key);
    const ctl = new AbortController();
    this.active.set(key, ctl);
    let settle = (): void => undefined;
    this.settled.set(
      key,
      new Promise<void>((resolve) => {
        settle = resolve;
      }),
    );
    counters.syncsStarted++;
    const record = this.pulls.start(key, why);
    const signal = AbortSignal.any([ctl.signal, AbortSignal.timeout(config.timeoutMs)]);
    const dog = watchdog(ctl, config.stallMs);
    let stalled = false;
    let held: number | undefined;
    const run = { peer, signal, dog, record, mayDefer };
    try {
      let outcome = await readPull(this.frames, { ...run, keepNewer: false });
      if (outcome.kind === 'push-first' && !this.deps.halted()) {
        // We hold events the peer's snapshot lacks: hand them over first, then pull again and
        // install even if we got or wrote more meanwhile (re-applied on top of it, from our log).
        dog.arm();
        try {
          await this.deps.sync.push(peer, this.envelopesSince(outcome.peerVc), { signal, onFrame: dog.poke });
        } finally {
          dog.disarm();
        }
        outcome = await readPull(this.frames, { ...run, keepNewer: true });
        if (outcome.kind === 'push-first') {
          const folded = foldedBeyond(this.deps.clock(), outcome.peerVc, this.deps.store);
          if (folded > 0 && this.deps.bridged?.(key) !== true) this.divergence.diverged(key, folded);
          else log.debug({ peer: key }, "the peer's snapshot still lacks events we hold; next round");
        } else this.divergence.clear(key);
      } else if (outcome.kind !== 'untrusted') this.divergence.clear(key);
      this.peers.clear(key);
      if (outcome.kind === 'held') held = outcome.rest;
      this.pulls.end(
        record,
        outcome.kind === 'done' || outcome.kind === 'push-first' ? 'done' : outcome.kind,
      );
    } catch (e) {
      stalled = ctl.signal.reason instanceof PullStalled;
      counters.syncsFailed++;
      if (stalled) counters.syncsStalled++;
      // Automatic pulls leave this peer alone for a while: longer when it stalled.
      this.peers.failed(key, stalled);
      log.debug({ peer: key, err: e, stalled }, 'sync failed');
      this.pulls.end(record, stalled ? 'stalled' : 'failed');
    } finally {
      this.active.delete(key);
      this.connecting.delete(key);
      this.settled.delete(key);
      settle();
    }
    // Pulls that ended deferring to this one get their turn now: for the rest, or for all.
    const deferred = this.overlap.ended(peer);
    if (!this.deps.halted()) for (const p of deferred) void this.pull(p, 'deferred');
    // Its request was stale: we hold most of what it would bring. Ask for the rest, once.
    if (held !== undefined && held > 0 && why !== 'fresh' && !this.deps.halted())
      void this.pull(peer, 'fresh');
    if (stalled && !this.deps.halted()) {
      const other = this.choosePeer(false)?.peer; // another peer, now (the stalled one next round)
      if (other) void this.pull(other, 'retry');
    }
  }
}
