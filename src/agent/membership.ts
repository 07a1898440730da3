/**
 * Health monitoring (paper §IV-B; DESIGN.md "Membership and health"): the pure SWIM failure
 * detector of src/core/membership, carried out over libp2p, on top of the add-wins set
 * `_sys/members`.
 *
 * - Every agent adds its own record `{ id, incarnation, meta }` to `_sys/members` when it
 *   starts, and again with a higher incarnation when it refutes a suspicion. A refutation is
 *   an add, so under add-wins it beats a concurrent removal.
 * - When this agent's detector confirms a member dead (or it left), this agent removes that
 *   member's records from the set.
 * - The detector learns the members from the set (`members-seen`), so membership replicates
 *   with the rest of the state, through gossip and anti-entropy alike.
 * - Probes, ping-reqs, acks, nacks and piggybacked gossip travel as packets on long-lived
 *   `/smac/probe/1` streams, one per peer and direction (probe-transport.ts). The sender of a
 *   packet is the authenticated libp2p peer, never a field of the packet.
 * - Probe timeouts adapt to each member's round trip, which the detector measures from its own
 *   pings (src/core/membership/rtt.ts); members() shows the estimates.
 */
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import { FailureDetector } from '../core/membership/failure-detector.js';
import type { MembershipConfig } from '../core/membership/config.js';
import {
  type MemberInfo,
  type MembershipEffect,
  type MembershipInput,
  type MembershipMessage,
  type MemberStatus,
} from '../core/membership/messages.js';
import type { MemberView } from '../core/membership/failure-detector.js';
import { isRecord, type Json } from '../core/json.js';
import type { ObjectView } from '../core/keyspace.js';
import type { SmacNode } from '../net/node.js';
import {
  MEMBERS_KEY,
  type MemberRecord,
  memberRecords,
  newestRecords,
  publishOps,
  removalOps,
  trustedAlive,
} from './member-records.js';
import { effectPackets, encodePacket, type Packet, packetInput, parsePacket } from './probe-packets.js';
import { PROBE_PROTOCOL, ProbeTransport, type ProbeTransportStats } from './probe-transport.js';

export { PROBE_PROTOCOL, MEMBERS_KEY, type MemberRecord, trustedAlive };
const MAX_PACKET_BYTES = 64 * 1024;
const TRANSITIONS_KEPT = 200;
/** At most one refutation per this long on connections to members we declared dead. */
const REFUTE_ON_RETURN_EVERY_MS = 5_000;
/** Timer lateness tolerated before it counts as a stall of this process (see now()). */
const STALL_GRACE_MS = 20;

export interface Transition {
  readonly id: string;
  readonly from: MemberStatus | null;
  readonly to: MemberStatus;
  readonly incarnation: number;
  /** Wall-clock time of the transition, ms since the epoch. */
  readonly at: number;
}

export interface MembershipDeps {
  readonly node: SmacNode;
  readonly self: MemberInfo;
  readonly config: MembershipConfig;
  readonly log: Logger;
  /** Writes to `_sys/members` (system writes through the agent's owner). */
  readonly write: (ops: unknown[]) => Promise<unknown>;
  /** Reads the current `_sys/members` set. */
  readonly read: () => ObjectView | undefined;
  /** True while the agent is isolated: packets are neither sent nor answered. */
  readonly isolated: () => boolean;
  /** Persists an incarnation before we announce it (the next life starts above it). */
  readonly saveIncarnation?: (incarnation: number) => void;
}

export class Membership {
  private readonly detector: FailureDetector;
  private readonly transitions: Transition[] = [];
  private readonly started = performance.now();
  /** Time this process was stalled (its timers fired late), left out of the detector's clock. */
  private stalledMs = 0;
  private lastNowMs = 0;
  private timer: NodeJS.Timeout | undefined;
  private leaveDone: (() => void) | undefined;
  private running = false;
  private refutedOnReturnAt = -Infinity;
  private readonly transport: ProbeTransport;
  rejectedPackets = 0;

  constructor(private readonly deps: MembershipDeps) {
    this.detector = new FailureDetector(deps.self, deps.config, Math.random);
    this.transport = new ProbeTransport({
      node: deps.node,
      log: deps.log,
      maxPacketBytes: MAX_PACKET_BYTES,
      writeTimeoutMs: () => Math.max(1_000, this.detector.config.maxProbeTimeoutMs),
      onPacket: (from, bytes) => {
        this.receive(from, bytes);
      },
      onBadStream: (from, err) => {
        this.rejectedPackets++;
        this.deps.log.debug({ from, err }, 'bad probe stream');
      },
      onPeerGone: (peer) => {
        if (this.running && !this.deps.isolated()) this.apply({ kind: 'connection-lost', id: peer });
      },
    });
  }

  get config(): MembershipConfig {
    return this.detector.config;
  }

  async start(): Promise<void> {
    this.running = true;
    // Saved before any packet can carry it (the first ack piggybacks our alive).
    this.saveIncarnation(this.detector.incarnation);
    await this.transport.start();
    await this.publishSelf(this.detector.incarnation, []);
    this.membersChanged();
    this.schedule();
  }

  async stop(): Promise<void> {
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    await this.transport.stop();
  }

  /** Announces our departure and waits (bounded) until it has been gossiped enough. */
  async leave(timeoutMs: number): Promise<void> {
    const done = new Promise<void>((resolve) => {
      this.leaveDone = resolve;
    });
    this.apply({ kind: 'leave' });
    await Promise.race([done, new Promise((r) => setTimeout(r, timeoutMs).unref())]);
  }

  /** The detector's view, with each member's metadata as it announced it (trustedMeta). */
  members(): MemberView[] {
    const announced = newestRecords(this.records());
    return this.detector.members().map((m) => {
      const rec = announced.get(m.id);
      return rec ? { ...m, meta: rec.meta } : m;
    });
  }

  history(): readonly Transition[] {
    return this.transitions;
  }

  /** Alive or suspect: still a member (suspicion may yet be refuted). Self is always alive. */
  isAlive(id: string): boolean {
    if (id === this.detector.id) return true;
    const s = this.detector.get(id)?.status;
    return s === 'alive' || s === 'suspect';
  }

  /** A member's region, from its own signed record when there is one (see trustedMeta). */
  region(id: string): string | undefined {
    const meta = this.trustedMeta(id);
    return isRecord(meta) && typeof meta.region === 'string' ? meta.region : undefined;
  }

  nodes(): string[] {
    return this.detector
      .members()
      .filter((m) => this.isAlive(m.id))
      .map((m) => m.id);
  }

  stats(): ReturnType<FailureDetector['stats']> & {
    rejectedPackets: number;
    transport: ProbeTransportStats;
  } {
    return {
      ...this.detector.stats(),
      rejectedPackets: this.rejectedPackets,
      transport: this.transport.stats(),
    };
  }

  /**
   * A new connection to `peer` (on peer:connect): a partition healing shows here first. A
   * member we declared dead most likely declared us dead too: we refute now (at most once per
   * REFUTE_ON_RETURN_EVERY_MS), so that our new record travels with the catch-up instead of
   * after it, once its removal of our record has reached us (issue 8).
   */
  connected(peer: string): void {
    if (!this.running || this.deps.isolated() || peer === this.detector.id) return;
    const status = this.detector.get(peer)?.status ?? this.transitions.findLast((t) => t.id === peer)?.to;
    const now = this.now();
    if (status !== 'dead' || now - this.refutedOnReturnAt < REFUTE_ON_RETURN_EVERY_MS) return;
    this.refutedOnReturnAt = now;
    this.apply({ kind: 'refute-needed', incarnation: this.detector.incarnation });
  }

  /** Called by the agent whenever `_sys/members` changed (locally or by replication). */
  membersChanged(): void {
    const records = this.records();
    const others = records.filter((r) => r.id !== this.detector.id);
    if (others.length > 0) this.apply({ kind: 'members-seen', members: others });
    const highest = Math.max(
      -1,
      ...records.filter((r) => r.id === this.detector.id).map((r) => r.incarnation),
    );
    if (this.running && highest !== this.detector.incarnation) {
      // Our record is gone (someone declared us dead), or one from an earlier life is above
      // ours (we lost our store and restarted at 0): refute with a higher incarnation.
      this.apply({ kind: 'refute-needed', incarnation: Math.max(this.detector.incarnation, highest) });
    }
  }

  /**
   * A member's metadata as it announced it itself: the meta of its highest-incarnation record
   * in `_sys/members` (signed events from that member are authoritative, and from wire
   * version 2 nobody else may add its record), else what the detector holds.
   */
  trustedMeta(id: string): Json | undefined {
    const best = newestRecords(this.records().filter((r) => r.id === id)).get(id);
    return best ? best.meta : this.detector.get(id)?.meta;
  }

  /** Applies piggybacked gossip from `from`; relayed alive messages cannot change metadata. */
  onPiggyback(from: string, messages: readonly MembershipMessage[]): void {
    for (const m of messages) {
      const trusted = trustedAlive(m, from, this.detector.id, (id) => this.trustedMeta(id));
      if (trusted) this.apply(trusted);
    }
  }

  private records(): MemberRecord[] {
    return memberRecords(this.deps.read()?.value);
  }

  /**
   * The detector's clock: monotonic, without the time this process itself was stalled (CPU
   * starvation, a long synchronous task), as measured by its own timers firing late. While we
   * are stalled we cannot read acks, so our probes' timeouts must not run (Lifeguard's point:
   * a slow member should be patient rather than accuse others); RTT samples leave the stall
   * out as well. It never goes backwards: a stall is only counted once it has passed.
   */
  private now(): number {
    this.lastNowMs = Math.max(this.lastNowMs, performance.now() - this.started - this.stalledMs);
    return this.lastNowMs;
  }

  private schedule(): void {
    if (!this.running) return;
    const wait = Math.max(10, Math.min(100, this.detector.nextTickAtMs() - this.now()));
    // The tick runs after the event loop's I/O phase (setImmediate), never before it: after a
    // stall, an ack already waiting in a socket is read before the tick can time its probe out.
    const due = performance.now() + wait;
    this.timer = setTimeout(() => {
      const late = performance.now() - due;
      if (late > STALL_GRACE_MS) this.stalledMs += late - STALL_GRACE_MS;
      setImmediate(() => {
        if (!this.running) return;
        this.apply({ kind: 'tick' });
        this.schedule();
      });
    }, wait);
    this.timer.unref();
  }

  private apply(input: MembershipInput): void {
    let effects: MembershipEffect[];
    try {
      effects = this.detector.step(input, this.now());
    } catch (e) {
      this.deps.log.error({ err: e }, 'the failure detector refused an input');
      return;
    }
    for (const fx of effects) this.carryOut(fx);
  }

  private carryOut(fx: MembershipEffect): void {
    for (const { to, packet } of effectPackets(fx)) this.send(to, packet);
    switch (fx.kind) {
      case 'status-changed':
        this.transitions.push({
          id: fx.id,
          from: fx.from,
          to: fx.to,
          incarnation: fx.incarnation,
          at: Date.now(),
        });
        if (this.transitions.length > TRANSITIONS_KEPT) this.transitions.shift();
        this.deps.log.info(
          { member: fx.id, from: fx.from, to: fx.to, incarnation: fx.incarnation },
          'member status changed',
        );
        if ((fx.to === 'dead' || fx.to === 'left') && fx.id !== this.detector.id) {
          this.transport.forget(fx.id);
          void this.removeRecords(fx.id, fx.incarnation);
        }
        if (fx.to === 'dead' && fx.id !== this.detector.id) this.closeConnections(fx.id);
        if (fx.to === 'alive' && fx.id !== this.detector.id) this.transport.warm(fx.id);
        break;
      case 'refute':
        void this.publishSelf(
          fx.incarnation,
          this.records().filter((r) => r.id === this.detector.id),
        );
        break;
      case 'leave-complete':
        this.leaveDone?.();
        break;
      case 'rejected':
        this.rejectedPackets++;
        this.deps.log.debug({ input: fx.input, reason: fx.reason }, 'membership input rejected');
        break;
    }
  }

  /**
   * A member declared dead: its connections may have gone silent (a partition) without
   * closing, and a silent connection would keep everyone from dialing it again when the link
   * comes back (libp2p's connection monitor, which closed such connections, is off: node.ts).
   * Aborted, not closed: a graceful close would wait on the silent peer.
   */
  private closeConnections(id: string): void {
    for (const c of this.deps.node.getConnections()) {
      if (c.remotePeer.toString() === id) c.abort(new Error('member declared dead'));
    }
  }

  /** Adds our record at `incarnation` and removes older ones, in one atomic batch. */
  private async publishSelf(incarnation: number, old: readonly MemberRecord[]): Promise<void> {
    const record: MemberRecord = { id: this.detector.id, incarnation, meta: this.deps.self.meta };
    this.saveIncarnation(incarnation);
    await this.deps.write(publishOps(record, old)).catch((e: unknown) => {
      this.deps.log.warn({ err: e }, 'could not write our member record');
    });
  }

  private saveIncarnation(incarnation: number): void {
    try {
      this.deps.saveIncarnation?.(incarnation);
    } catch (e) {
      this.deps.log.warn({ err: e }, 'could not save our incarnation');
    }
  }

  private async removeRecords(id: string, incarnation: number): Promise<void> {
    const ops = removalOps(this.records(), id, incarnation);
    if (ops.length > 0) {
      await this.deps.write(ops).catch((e: unknown) => {
        this.deps.log.warn({ err: e }, 'could not remove a dead member record');
      });
    }
  }

  // ---- packets ---------------------------------------------------------------------------

  private send(to: string, packet: Packet): void {
    if (this.deps.isolated() || !this.running) return;
    this.transport.send(to, encodePacket(packet));
  }

  private receive(from: string, frame: Uint8Array): void {
    if (this.deps.isolated() || !this.running) return;
    const packet = parsePacket(frame, this.detector.config.maxMetaBytes);
    if (!packet) {
      this.rejectedPackets++;
      return;
    }
    // Gossip first, so that our reply already carries what it provoked (a refutation above all).
    this.onPiggyback(from, packet.piggyback);
    const input = packetInput(from, packet);
    if (input) this.apply(input);
  }
}
