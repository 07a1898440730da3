/**
 * A seeded discrete-event simulation for the failure detector (after foca's deterministic
 * simulation): N detectors exchanging probe packets with piggybacked gossip over a network with
 * per-packet latency, loss and cut links, in virtual time. Every send and every tick is ordered
 * by (time, insertion), and all randomness comes from one Prng, so a seed replays exactly.
 *
 * Nodes tick exactly when their detector asks (`nextTickAtMs`), so the detection bound needs no
 * tick-granularity allowance. The `broadcast` fast path is recorded, not delivered:
 * dissemination here is the detector's own (piggyback and gossip loop), which the agent cannot
 * lose.
 */
import { FailureDetector } from '../../../src/core/membership/failure-detector.js';
import type { MembershipConfig } from '../../../src/core/membership/config.js';
import type {
  MemberId,
  MembershipEffect,
  MembershipInput,
  MembershipMessage,
  MemberStatus,
} from '../../../src/core/membership/messages.js';
import { Prng } from '../../support/prng.js';

export interface SimOptions {
  readonly seed: number;
  readonly n: number;
  readonly config: MembershipConfig;
  /** Probability that any one packet is lost. */
  readonly loss?: number;
  readonly minLatencyMs?: number;
  readonly maxLatencyMs?: number;
  /**
   * Model the agent's `_sys/members` mirror (DESIGN.md "Membership and health"): a refuting
   * member re-adds its record, and a member declared dead has its record removed, which it
   * notices; anti-entropy delivers either within this delay, across any loss (it retries),
   * but not across a cut link. Undefined: the detector's own dissemination alone.
   */
  readonly membersSet?: { readonly minDelayMs: number; readonly maxDelayMs: number };
}

/** One observer's view of one member changing status. */
export interface Transition {
  readonly observer: MemberId;
  readonly id: MemberId;
  readonly from: MemberStatus | null;
  readonly to: MemberStatus;
  readonly incarnation: number;
  readonly atMs: number;
}

type Packet =
  | { readonly type: 'gossip' }
  | { readonly type: 'ping' | 'ack' | 'nack'; readonly seq: number }
  | {
      readonly type: 'ping-req';
      readonly seq: number;
      readonly target: MemberId;
      readonly timeoutMs: number;
    };

interface Delivery {
  readonly from: MemberId;
  readonly to: MemberId;
  readonly packet: Packet;
  readonly piggyback: readonly MembershipMessage[];
}

/** A change to `_sys/members` by `origin` that reaches `node` by anti-entropy as `input`. */
interface SetChange {
  readonly origin: MemberId;
  readonly input: MembershipInput;
}

interface Scheduled {
  readonly at: number;
  readonly order: number;
  readonly node: MemberId;
  /** Neither: a tick. */
  readonly delivery?: Delivery;
  readonly setChange?: SetChange;
}

export interface SimNode {
  readonly id: MemberId;
  readonly fd: FailureDetector;
  /** Crashed, or stopped after leaving: receives nothing, sends nothing, never ticks. */
  down: boolean;
  /** The time of the tick currently scheduled for it (Infinity when none). */
  tickAt: number;
  /** Stalled (an event loop starved of CPU) until then: what arrives meanwhile waits. */
  pausedUntil: number;
}

/** A binary min-heap on (at, order). */
class EventQueue {
  private readonly heap: Scheduled[] = [];

  get size(): number {
    return this.heap.length;
  }

  push(e: Scheduled): void {
    const h = this.heap;
    h.push(e);
    let i = h.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(h[i]!, h[parent]!)) break;
      [h[i], h[parent]] = [h[parent]!, h[i]!];
      i = parent;
    }
  }

  peek(): Scheduled | undefined {
    return this.heap[0];
  }

  pop(): Scheduled | undefined {
    const h = this.heap;
    const top = h[0];
    const last = h.pop();
    if (h.length > 0 && last) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && before(h[l]!, h[m]!)) m = l;
        if (r < h.length && before(h[r]!, h[m]!)) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m]!, h[i]!];
        i = m;
      }
    }
    return top;
  }
}

function before(a: Scheduled, b: Scheduled): boolean {
  return a.at < b.at || (a.at === b.at && a.order < b.order);
}

export class MembershipSim {
  readonly rng: Prng;
  readonly nodes = new Map<MemberId, SimNode>();
  readonly ids: MemberId[];
  readonly transitions: Transition[] = [];
  readonly refutations: { id: MemberId; incarnation: number; atMs: number }[] = [];
  readonly leaveCompleted = new Map<MemberId, number>();
  /** Messages nodes originated (not delivered: see the header). */
  readonly broadcasts: { origin: MemberId; message: MembershipMessage; atMs: number }[] = [];
  nowMs = 0;
  sent = 0;
  lost = 0;
  loss: number;
  private readonly minLatencyMs: number;
  private readonly maxLatencyMs: number;
  private readonly queue = new EventQueue();
  private order = 0;
  private readonly cut = new Set<string>();
  private readonly membersSet: SimOptions['membersSet'];

  constructor(opts: SimOptions) {
    this.rng = new Prng(opts.seed);
    this.membersSet = opts.membersSet;
    this.loss = opts.loss ?? 0;
    this.minLatencyMs = opts.minLatencyMs ?? 1;
    this.maxLatencyMs = opts.maxLatencyMs ?? 10;
    this.ids = Array.from({ length: opts.n }, (_, i) => `m${String(i).padStart(2, '0')}`);
    for (const id of this.ids) {
      // One shared Prng: the run is still a pure function of the seed.
      const fd = new FailureDetector({ id, incarnation: 0, meta: { region: 'sim' } }, opts.config, () =>
        this.rng.next(),
      );
      this.nodes.set(id, { id, fd, down: false, tickAt: Number.POSITIVE_INFINITY, pausedUntil: 0 });
    }
    // Everyone starts from the same `_sys/members` set.
    const members = this.ids.map((id) => ({ id, incarnation: 0, meta: { region: 'sim' } }));
    for (const id of this.ids) this.input(id, { kind: 'members-seen', members });
  }

  node(id: MemberId): SimNode {
    const n = this.nodes.get(id);
    if (!n) throw new Error(`no node ${id}`);
    return n;
  }

  /** Runs every event up to and including `untilMs`. */
  runUntil(untilMs: number): void {
    let guard = 0;
    for (let e = this.queue.peek(); e && e.at <= untilMs; e = this.queue.peek()) {
      this.queue.pop();
      if (++guard > 10_000_000) throw new Error('simulation runaway: a detector keeps asking for ticks');
      this.nowMs = e.at;
      const node = this.node(e.node);
      if (node.down) continue;
      if (node.pausedUntil > e.at) {
        // Handled when the stall ends, in the order it arrived; the tick just after, as the agent
        // reads waiting packets before it ticks (src/agent/membership.ts).
        if (e.delivery || e.setChange) this.queue.push({ ...e, at: node.pausedUntil, order: this.order++ });
        else if (e.at === node.tickAt) {
          node.tickAt = node.pausedUntil + 1;
          this.queue.push({ at: node.tickAt, order: this.order++, node: node.id });
        }
        continue;
      }
      if (e.delivery) this.deliver(node, e.delivery);
      else if (e.setChange) this.applySetChange(node, e.setChange);
      else if (e.at === node.tickAt) {
        node.tickAt = Number.POSITIVE_INFINITY;
        this.input(node.id, { kind: 'tick' });
        const next = node.fd.nextTickAtMs();
        if (next <= this.nowMs)
          throw new Error(`${node.id} asked for a tick at ${next} right after ticking at ${this.nowMs}`);
      }
    }
    this.nowMs = untilMs;
  }

  crash(id: MemberId): void {
    this.node(id).down = true;
  }

  /**
   * Stalls `id` for `ms` from now, as an event loop starved of CPU: it receives, answers and
   * ticks nothing meanwhile, then handles everything that arrived, in order.
   */
  pause(id: MemberId, ms: number): void {
    const node = this.node(id);
    node.pausedUntil = Math.max(node.pausedUntil, this.nowMs + ms);
  }

  leave(id: MemberId): void {
    this.input(id, { kind: 'leave' });
  }

  /** Cuts every link of `id` in both directions. */
  isolate(id: MemberId): void {
    for (const other of this.ids) if (other !== id) this.cut.add(linkKey(id, other));
  }

  heal(): void {
    this.cut.clear();
  }

  /** `observer`'s current view of `id`. */
  statusOf(observer: MemberId, id: MemberId): MemberStatus | undefined {
    return this.node(observer).fd.get(id)?.status;
  }

  transitionsOf(id: MemberId): Transition[] {
    return this.transitions.filter((t) => t.id === id);
  }

  input(id: MemberId, input: MembershipInput): void {
    const node = this.node(id);
    const fx = node.fd.step(input, this.nowMs);
    this.carryOut(node, fx);
    this.scheduleTick(node);
  }

  private deliver(node: SimNode, d: Delivery): void {
    // Gossip first, so a reply carries whatever it provoked (messages.ts).
    for (const g of d.piggyback) this.input(node.id, g);
    const p = d.packet;
    switch (p.type) {
      case 'gossip':
        break;
      case 'ping':
      case 'ack':
      case 'nack':
        this.input(node.id, { kind: p.type, from: d.from, seq: p.seq });
        break;
      case 'ping-req':
        this.input(node.id, {
          kind: 'ping-req',
          from: d.from,
          seq: p.seq,
          target: p.target,
          timeoutMs: p.timeoutMs,
        });
        break;
    }
  }

  private carryOut(node: SimNode, fx: readonly MembershipEffect[]): void {
    for (const e of fx) {
      switch (e.kind) {
        case 'send-ping':
          this.send(node.id, e.to, { type: 'ping', seq: e.seq }, e.piggyback);
          break;
        case 'send-ack':
          this.send(node.id, e.to, { type: 'ack', seq: e.seq }, e.piggyback);
          break;
        case 'send-nack':
          this.send(node.id, e.to, { type: 'nack', seq: e.seq }, e.piggyback);
          break;
        case 'send-gossip':
          this.send(node.id, e.to, { type: 'gossip' }, e.piggyback);
          break;
        case 'send-ping-req':
          for (const via of e.via) {
            const packet = {
              type: 'ping-req',
              seq: e.seq,
              target: e.target,
              timeoutMs: e.timeoutMs,
            } as const;
            this.send(node.id, via, packet, e.piggyback);
          }
          break;
        case 'status-changed':
          // Our agent removes a member it declares dead; that member sees its record go.
          if (e.to === 'dead')
            this.changeSet(node.id, [e.id], { kind: 'refute-needed', incarnation: e.incarnation });
          this.transitions.push({
            observer: node.id,
            id: e.id,
            from: e.from,
            to: e.to,
            incarnation: e.incarnation,
            atMs: e.atMs,
          });
          break;
        case 'refute': {
          this.refutations.push({ id: node.id, incarnation: e.incarnation, atMs: this.nowMs });
          const record = { id: node.id, incarnation: e.incarnation, meta: node.fd.self.meta };
          const others = this.ids.filter((id) => id !== node.id);
          this.changeSet(node.id, others, { kind: 'members-seen', members: [record] });
          break;
        }
        case 'leave-complete':
          this.leaveCompleted.set(node.id, this.nowMs);
          node.down = true;
          break;
        case 'rejected':
          throw new Error(`${node.id} rejected a ${e.input} from the simulation: ${e.reason}`);
        case 'broadcast':
          this.broadcasts.push({ origin: node.id, message: e.message, atMs: this.nowMs });
          break;
      }
    }
  }

  private changeSet(origin: MemberId, to: readonly MemberId[], input: MembershipInput): void {
    const set = this.membersSet;
    if (!set) return;
    for (const node of to) {
      const at = this.nowMs + this.rng.int(set.minDelayMs, set.maxDelayMs);
      this.queue.push({ at, order: this.order++, node, setChange: { origin, input } });
    }
  }

  private applySetChange(node: SimNode, c: SetChange): void {
    const set = this.membersSet;
    if (set && this.cut.has(linkKey(c.origin, node.id))) {
      // Anti-entropy retries on its next round.
      const at = this.nowMs + set.maxDelayMs;
      this.queue.push({ at, order: this.order++, node: node.id, setChange: c });
      return;
    }
    this.input(node.id, c.input);
  }

  private send(from: MemberId, to: MemberId, packet: Packet, piggyback: readonly MembershipMessage[]): void {
    this.sent++;
    if (this.cut.has(linkKey(from, to)) || this.rng.chance(this.loss)) {
      this.lost++;
      return;
    }
    const at = this.nowMs + this.rng.int(this.minLatencyMs, this.maxLatencyMs);
    // A partition that starts while a packet is in flight does not catch it: close enough.
    this.queue.push({ at, order: this.order++, node: to, delivery: { from, to, packet, piggyback } });
  }

  private scheduleTick(node: SimNode): void {
    if (node.down) return;
    const at = Math.max(this.nowMs, node.fd.nextTickAtMs());
    if (at < node.tickAt) {
      node.tickAt = at;
      this.queue.push({ at, order: this.order++, node: node.id });
    }
  }
}

function linkKey(a: MemberId, b: MemberId): string {
  return a < b ? `${a}|${b}` : `${b}|${a}`;
}
