/**
 * Peers refused as members of another cluster (src/core/divergence.ts has the rule; docs/agent.md
 * "Divergence"): each with why and since when. A refused peer is no member here: its heartbeats
 * are ignored, it is no stability member nor snapshot source, its gossiped events are dropped,
 * nobody pulls from or pushes to it, and the connection gater denies it.
 *
 * The gater denies it for `holdMs` after the last heartbeat that showed the divergence; then one
 * connection is let through, so that its next heartbeat is judged again, and one still diverged
 * is refused again (no new log line). Within the hold our dials to it are denied, but the first
 * connection it opens to us after each refused heartbeat is let through to be judged: a peer
 * still diverged refuses us too and so does not dial us, while one whose operator restarted it
 * with an empty store and kept its identity key forgot us and does; its heartbeat, which shows
 * no folded events, lifts the refusal at once (test/agent/diverged-remedy.test.ts). A peer that
 * does not refuse us (a release without the rule) gets at most one such connection per refused
 * heartbeat, each closed after the grace. A heartbeat from it that no longer shows the divergence (it
 * can reach us through a shared member's relay too) lifts the refusal at once, as does a member
 * of ours whose heartbeat names it (a shared member appeared).
 *
 * A refusal is dropped once the peer was not heard for REFUSAL_EXPIRES_MS (no heartbeat showed
 * the divergence meanwhile): a refused peer that runs is judged again at least once per hold, so
 * only a peer that is gone expires, such as the old peer id after the diverged remedy (restart
 * with an empty data directory and a new identity), which used to stay listed in `refused`
 * until this agent restarted. Should it come back diverged, it is refused (and logged) again.
 * At most MAX_REFUSED_PEERS are listed: one more drops the one heard longest ago.
 *
 * Timers and gossip callbacks call this; it holds no replica state.
 */
import type { Logger } from 'pino';

export interface RefusedPeer {
  readonly peerId: string;
  readonly reason: 'diverged' | 'protocol';
  /** ms since the epoch: first refused. */
  readonly since: number;
  readonly detail: string;
}

/** How long the gater denies a diverged peer after the last heartbeat that showed it. */
export const DIVERGED_HOLD_MS = 60_000;

/** A refusal is dropped once the peer was not heard for this long (ten holds). */
export const REFUSAL_EXPIRES_MS = 10 * DIVERGED_HOLD_MS;

/** Refused peers listed at most. */
export const MAX_REFUSED_PEERS = 256;

/** The stable code of the one error line per refused peer. */
export const PEER_REFUSED_DIVERGED = 'PEER_REFUSED_DIVERGED';

/** The stable code of the line logged when a diverged peer is accepted, to be merged. */
export const PEER_MERGING_DIVERGED = 'PEER_MERGING_DIVERGED';

export class PeerRefusals {
  private readonly diverged = new Map<
    string,
    { since: number; lastAt: number; detail: string; rechecked: boolean }
  >();
  /** Diverged peers that merge, as we do: accepted, their snapshot merged (`merging`). */
  private readonly mergeable = new Map<string, string>();
  /** Peers an error line was logged for (once per peer for the life of the process). */
  private readonly logged = new Set<string>();

  constructor(
    private readonly log: Pick<Logger, 'error' | 'info'>,
    private readonly counters: { refusedDiverged: number },
    private readonly now: () => number,
    private readonly holdMs = DIVERGED_HOLD_MS,
    private readonly expireMs = REFUSAL_EXPIRES_MS,
  ) {}

  /** `peer`'s heartbeat showed it diverged from us for good (`detail`: why). */
  refuse(peer: string, detail: string): void {
    this.counters.refusedDiverged++;
    const now = this.now();
    this.expire(now);
    const entry = this.diverged.get(peer);
    if (entry === undefined && this.diverged.size >= MAX_REFUSED_PEERS) this.dropOldest();
    this.diverged.set(peer, { since: entry?.since ?? now, lastAt: now, detail, rechecked: false });
    if (this.logged.has(peer)) return;
    this.logged.add(peer);
    this.log.error(
      { code: PEER_REFUSED_DIVERGED, peer, reason: 'diverged' },
      `refusing peer ${peer}: ${detail}. Neither replica can take the other's state; nothing of either was changed. To join it, restart one of the two with an empty data directory and write again what only it held (docs/agent.md, "Divergence")`,
    );
  }

  /**
   * `peer`'s heartbeat showed it diverged from us for good (`detail`), and both of us merge:
   * it is accepted, and the next pull from it merges its snapshot (snapshot-exchange.ts).
   */
  merging(peer: string, detail: string): void {
    if (this.mergeable.has(peer)) return;
    this.mergeable.set(peer, detail);
    this.diverged.delete(peer);
    this.log.info(
      { code: PEER_MERGING_DIVERGED, peer },
      `peer ${peer} diverged from us (${detail}); both merge diverged peers: merging its state (docs/agent.md, "Divergence")`,
    );
  }

  /** Whether a pull from `peer` may merge its snapshot: it was seen diverged, and merges. */
  mayMerge(peer: string): boolean {
    return this.mergeable.has(peer);
  }

  /** `peer`'s state was merged here: a later divergence is judged afresh. */
  merged(peer: string): void {
    this.mergeable.delete(peer);
  }

  /** `peer` is no longer diverged from us (`why`); true if it was refused. */
  lift(peer: string, why: string): boolean {
    if (!this.diverged.delete(peer)) return false;
    this.log.info({ peer }, `no longer refusing peer ${peer}: ${why}`);
    return true;
  }

  /** Refused as diverged: not a member, nothing exchanged with it. */
  isRefused(peer: string): boolean {
    const entry = this.diverged.get(peer);
    if (entry === undefined) return false;
    if (this.now() - entry.lastAt < this.expireMs) return true;
    this.expire(this.now());
    return false;
  }

  /**
   * Whether the connection gater denies `peer` now (see the module comment); `inbound`: a
   * connection it opened, the first of which after each refused heartbeat is let through.
   */
  denies(peer: string, inbound = false): boolean {
    const entry = this.diverged.get(peer);
    if (entry === undefined || this.now() - entry.lastAt >= this.holdMs) return false;
    if (!inbound || entry.rechecked) return true;
    entry.rechecked = true;
    return false;
  }

  list(): RefusedPeer[] {
    this.expire(this.now());
    return [...this.diverged].map(([peerId, e]) => ({
      peerId,
      reason: 'diverged',
      since: e.since,
      detail: e.detail,
    }));
  }

  /** Drops the refusals of peers not heard for `expireMs` (see the module comment). */
  private expire(now: number): void {
    for (const [peer, e] of this.diverged) {
      if (now - e.lastAt < this.expireMs) continue;
      this.diverged.delete(peer);
      this.logged.delete(peer);
      this.log.info(
        { peer, silentForMs: now - e.lastAt },
        `no longer refusing peer ${peer}: not heard for ${String(this.expireMs)} ms`,
      );
    }
  }

  private dropOldest(): void {
    let oldest: [string, number] | undefined;
    for (const [peer, e] of this.diverged) if (!oldest || e.lastAt < oldest[1]) oldest = [peer, e.lastAt];
    if (oldest) {
      this.diverged.delete(oldest[0]);
      this.logged.delete(oldest[0]);
    }
  }
}
