/**
 * A simulated cluster with the whole life of an agent's data (issue 7): the network of
 * lifecycle-network.ts (replicas, compacting logs, stability views fed by heartbeats, periodic
 * compaction, snapshots) plus membership changes: graceful leave, death, reaping, return after
 * a long absence, restart with a lost store (a new epoch origin); and virtual time, and
 * quiescence after the heal. Virtual time and a seeded PRNG only.
 */
import { vcGet, vcLeq } from '../../../src/core/clock/vector-clock.js';
import { LifecycleNetwork } from './lifecycle-network.js';

export class LifecycleCluster extends LifecycleNetwork {
  /** Per origin no longer written (stopped or lost): the least seq the survivors must end with. */
  readonly mustHave = new Map<string, number>();

  // ---- membership changes --------------------------------------------------------------------

  /** Origins that stop being written: the survivors must keep at least what they hold now. */
  private stopWriting(origin: string, except: number): void {
    const survivors = this.upNodes().filter((j) => j !== except);
    const held = (o: string) => Math.max(0, ...survivors.map((j) => vcGet(this.node(j).replica.clock(), o)));
    this.mustHave.set(origin, held(origin));
    // A node that stops takes what only it held with it: lower every other promise to what is left.
    for (const [o, seq] of this.mustHave) this.mustHave.set(o, Math.min(seq, held(o)));
  }

  /**
   * Graceful leave: the peers it reaches get its leaving heartbeat and retire it; with `handOver`
   * they first pull its events (the agent does not: it sends the leaving heartbeat after its
   * membership leave, and its events travel by gossip and anti-entropy). Peers it does not reach
   * keep it as a member until they reap it.
   */
  leave(i: number, handOver: boolean): void {
    const peers = this.upNodes().filter((j) => this.connected(i, j));
    if (handOver) for (const j of peers) this.pull(j, i);
    for (const j of peers) this.heartbeat(i, j, true);
    this.stopWriting(this.node(i).origin, i);
    this.node(i).status = 'left';
    this.node(i).at = this.nowMs;
    this.stats.leaves++;
    this.note(`n${i} leaves (told ${peers.map((j) => `n${j}`).join(',')})`);
  }

  /** Death: the node stops forever; messages it already sent are still delivered. */
  die(i: number): void {
    this.stopWriting(this.node(i).origin, i);
    this.node(i).status = 'dead';
    this.node(i).at = this.nowMs;
    this.stats.deaths++;
    this.note(`n${i} dies`);
  }

  /**
   * Crash with a lost store. Its unsent messages are lost with it (the sim drops what it still
   * has in flight). It comes back at `back` with an empty store under a new epoch.
   */
  loseStore(i: number, back: number): void {
    const n = this.node(i);
    this.stopWriting(n.origin, i);
    this.inflight = this.inflight.filter((m) => m.from !== i);
    n.status = 'down';
    n.at = back;
    this.stats.lostStores++;
    this.note(`n${i} crashes and loses its store (epoch ${n.origin})`);
  }

  /** Node `i` has not started yet: down until `startNext` (restartDue leaves it alone). */
  notYet(i: number): void {
    const n = this.node(i);
    n.status = 'down';
    n.at = Number.POSITIVE_INFINITY;
  }

  /**
   * A node that has not started yet starts next to `sponsor` (on its side of any partition),
   * announces itself and pulls the sponsor's state, as a new agent does through its join address.
   */
  startNext(i: number, sponsor: number, announcementLost = false): void {
    const n = this.node(i);
    n.status = 'up';
    n.at = this.nowMs;
    this.side[i] = this.side[sponsor] ?? 0;
    this.stats.joins++;
    this.note(`${n.peer} joins through n${sponsor}`);
    this.announce(i, announcementLost);
    this.pull(i, sponsor);
  }

  /** Brings back crashed nodes that are due. */
  restartDue(): void {
    for (const n of this.nodes) {
      if (n.status !== 'down' || n.at > this.nowMs) continue;
      n.epoch++;
      n.fresh();
      n.status = 'up';
      this.note(`${n.peer} restarts as ${n.origin}`);
      this.announce(this.nodes.indexOf(n));
    }
  }

  /**
   * A starting agent writes its member record before it has synced anything (after a lost
   * store: an event concurrent with everything, which makes the first snapshot it is offered
   * lack an event it holds, so it pushes first).
   */
  announce(i: number, lost = false): void {
    const n = this.node(i);
    const value = { id: n.peer, incarnation: n.epoch };
    const op = { type: 'aw-set', key: '_sys/members', op: { kind: 'add', value } };
    this.write(i, [op], 0, true, lost ? i : undefined);
  }

  /**
   * Reaping by the agreed cut, as the agent does it (src/agent/reaper.ts, src/core/reaping.ts):
   * once a stopped member was silent for reapAfterMs, every up node that still counts it
   * starts the reap of its epochs (a marker with its report); every node a marker names reports
   * what it holds; once all have, every replica computes the same cut, refuses the rest, and
   * prunes the epoch from the clocks it sends (src/core/retired-epochs.ts); each node retires
   * the member once it holds the epoch up to the cut. `reap: 'local'` is the rule of old: each
   * node alone, fetching nothing. `force`: every stopped member now, as an operator's
   * force-leave on every node.
   */
  reapDue(force = false): void {
    if (this.opts.reap === 'local') {
      this.reapLocally(force);
      return;
    }
    const ups = this.upNodes();
    for (const dead of this.nodes) {
      if (dead.status !== 'dead' && dead.status !== 'left') continue;
      if (!force && this.nowMs - dead.at < this.opts.reapAfterMs) continue;
      for (const s of ups) {
        const n = this.node(s);
        if (n.view.isRetired(dead.peer)) continue;
        // A member of which no event is known has no epoch to cut: retired at once (compaction.ts).
        if (!this.reaper(s).initiate(dead.peer)) this.retireAt(s, dead.peer);
      }
    }
    for (const s of ups) {
      // A participant that left before it reported: its epochs are reaped too (compaction.ts).
      const n = this.node(s);
      const retired = n.view.retirements();
      for (const st of n.replica.reaps())
        for (const p of st.missing) if (retired[p]?.reason === 'left') this.reaper(s).initiate(p);
      for (const peer of this.reaper(s).step().keys()) if (!n.view.isRetired(peer)) this.retireAt(s, peer);
    }
  }

  private retireAt(s: number, peer: string): void {
    this.node(s).view.retire(peer, 'reaped', this.nowMs);
    this.stats.reaps++;
    this.note(`${peer} reaped by n${s}`);
  }

  /** Each node retires the members it has not heard from for reapAfterMs, fetching nothing. */
  private reapLocally(force: boolean): void {
    for (const s of this.upNodes()) {
      const n = this.node(s);
      for (const p of n.view.members(n.candidates())) {
        n.view.noticed(p, this.nowMs);
        const status = this.nodes.find((x) => x.peer === p)?.status;
        const stopped = status === 'dead' || status === 'left';
        if (!(force && stopped) && (n.view.silentFor(p, this.nowMs) ?? 0) < this.opts.reapAfterMs) continue;
        n.view.retire(p, 'reaped', this.nowMs);
        this.stats.reaps++;
        this.note(`${p} reaped by n${s} alone`);
      }
    }
  }

  // ---- time and quiescence -------------------------------------------------------------------

  private nextHeartbeat = this.nowMs;

  advance(ms: number): void {
    const until = this.nowMs + ms;
    while (this.nextHeartbeat <= until) {
      this.nowMs = this.nextHeartbeat;
      this.restartDue();
      this.deliverDue();
      this.heartbeatRound();
      this.reapDue();
      this.nextHeartbeat += this.opts.heartbeatMs;
    }
    this.nowMs = until;
  }

  /** Heals everything, reaps the stopped, and runs until the up nodes agree for a few rounds. */
  settle(maxRounds = 60): number {
    this.healAll();
    this.opts = { ...this.opts, faults: { drop: 0, duplicate: 0, maxDelayMs: 0 } };
    for (const n of this.nodes)
      if (n.status === 'down' && n.at !== Number.POSITIVE_INFINITY) n.at = this.nowMs;
    let quiet = 0;
    for (let round = 1; round <= maxRounds; round++) {
      this.advance(this.opts.heartbeatMs);
      this.reapDue(round > 1);
      const ups = this.upNodes();
      for (const a of ups) for (const b of ups) this.pull(a, b);
      quiet = this.agreed() ? quiet + 1 : 0;
      if (quiet >= 3 * this.opts.compactEvery) return round;
    }
    return maxRounds;
  }

  /** The up nodes hold the same clock, nothing buffered, nothing in flight. */
  agreed(): boolean {
    const ups = this.upNodes();
    const first = this.node(ups[0] ?? 0).replica.clock();
    return (
      this.inflight.length === 0 &&
      ups.every((i) => {
        const r = this.node(i).replica;
        return r.stats().buffered === 0 && vcLeq(r.clock(), first) && vcLeq(first, r.clock());
      })
    );
  }
}
