/**
 * Causal delivery (DESIGN.md "Causal delivery"; the vector-clock delivery condition of Birman,
 * Schiper & Stephenson, "Lightweight causal and atomic group multicast", 1991, and Schwarz &
 * Mattern 1994): an event is delivered only after every event it depends on, exactly once.
 * Events that arrive early wait here, bounded in count and bytes; past a bound the caller
 * asks a peer for repair rather than letting the buffer grow (yjs parks early updates the same
 * way, with a record of what is missing). Pure: time is an argument.
 *
 * Deps are delta-encoded (event.ts): an event lists only the entries of its origin's clock that
 * grew since the origin's previous event. Deliverability still needs nothing else. When an
 * event is next for its origin (`seq === VC[origin] + 1`), the origin's previous event has been
 * delivered, and when that happened its own deps were covered, and so on back to the first:
 * every entry the delta leaves out is covered by induction. So the delta entries are the only
 * ones left to check.
 */
import { type ReadonlyVectorClock, type ReplicaId, vcGet } from '../clock/vector-clock.js';
import { ErrorCode, fail } from '../errors.js';

/** What the buffer needs of an event. */
export interface CausalMeta {
  readonly origin: ReplicaId;
  readonly seq: number;
  /** Delta-encoded dependencies (or any superset of them, such as the full clock). */
  readonly deps: ReadonlyVectorClock;
}

/** The event was already delivered under `vc`. */
export function isDuplicate(e: CausalMeta, vc: ReadonlyVectorClock): boolean {
  return e.seq <= vcGet(vc, e.origin);
}

/** The event can be delivered now: it is its origin's next one and its deps are covered. */
export function isDeliverable(e: CausalMeta, vc: ReadonlyVectorClock): boolean {
  if (e.seq !== vcGet(vc, e.origin) + 1) return false;
  for (const [x, n] of e.deps) if (n > vcGet(vc, x)) return false;
  return true;
}

export interface CausalBufferLimits {
  /**
   * Most events held. Each costs its size plus a few index entries; a gap behind a busy origin
   * fills the buffer at that origin's write rate until repair closes it.
   */
  maxEvents: number;
  /** Most bytes held, as reported by the caller (encoded event size). */
  maxBytes: number;
}

/** Missing events of `origin`: seqs `from`..`to`, inclusive. */
export interface Gap {
  origin: ReplicaId;
  from: number;
  to: number;
}

interface Slot<E> {
  readonly event: E;
  readonly bytes: number;
  readonly atMs: number;
}

function checkLimit(n: unknown, what: string): void {
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) {
    fail(ErrorCode.InvalidArgument, `The causal buffer's ${what} must be a non-negative integer.`);
  }
}

export class CausalBuffer<E extends CausalMeta> {
  private readonly limits: CausalBufferLimits;
  /** origin -> seq -> slot, so delivery looks only at each origin's next seq. */
  private readonly byOrigin = new Map<ReplicaId, Map<number, Slot<E>>>();
  /** Every slot in arrival order: the first is the oldest (arrival times are kept monotone). */
  private readonly arrivals = new Set<Slot<E>>();
  private totalBytes = 0;
  private lastMs = Number.NEGATIVE_INFINITY;

  constructor(limits: CausalBufferLimits) {
    checkLimit(limits.maxEvents, 'maxEvents');
    checkLimit(limits.maxBytes, 'maxBytes');
    this.limits = { maxEvents: limits.maxEvents, maxBytes: limits.maxBytes };
  }

  /**
   * Stores a non-deliverable, non-duplicate event. 'duplicate' if already buffered; 'overflow'
   * if it would exceed a bound (NOT stored: the caller asks for repair instead).
   */
  add(e: E, bytes: number, nowMs: number): 'buffered' | 'duplicate' | 'overflow' {
    if (typeof e.origin !== 'string' || e.origin.length === 0 || !Number.isSafeInteger(e.seq) || e.seq < 1) {
      fail(ErrorCode.InvalidEvent, 'A buffered event needs a non-empty origin and a positive integer seq.');
    }
    if (!Number.isSafeInteger(bytes) || bytes < 0) {
      fail(
        ErrorCode.InvalidArgument,
        'The size of a buffered event must be a non-negative integer of bytes.',
      );
    }
    if (!Number.isFinite(nowMs))
      fail(ErrorCode.InvalidArgument, 'The time of arrival must be a finite number of ms.');
    const seqs = this.byOrigin.get(e.origin);
    if (seqs?.has(e.seq)) return 'duplicate';
    if (this.arrivals.size + 1 > this.limits.maxEvents || this.totalBytes + bytes > this.limits.maxBytes) {
      return 'overflow';
    }
    // A clock that steps back must not make a later arrival look older than an earlier one.
    this.lastMs = Math.max(this.lastMs, nowMs);
    const slot: Slot<E> = { event: e, bytes, atMs: this.lastMs };
    if (seqs) seqs.set(e.seq, slot);
    else this.byOrigin.set(e.origin, new Map([[e.seq, slot]]));
    this.arrivals.add(slot);
    this.totalBytes += bytes;
    return 'buffered';
  }

  /**
   * Removes and returns one buffered event that is deliverable under vc, or undefined. The
   * caller delivers it, advances its vc, and calls again; repeated calls release everything
   * in a causal order. Costs O(origins with buffered events).
   */
  popDeliverable(vc: ReadonlyVectorClock): E | undefined {
    for (const [origin, seqs] of this.byOrigin) {
      const slot = seqs.get(vcGet(vc, origin) + 1);
      if (slot && isDeliverable(slot.event, vc)) {
        this.remove(slot);
        return slot.event;
      }
    }
    return undefined;
  }

  /**
   * Drops the buffered copy of (origin, seq), if any: the event was delivered some other way
   * (a second copy arrived once it was deliverable). Without this the copy would stay for good,
   * since popDeliverable looks only at each origin's next seq.
   */
  discard(origin: ReplicaId, seq: number): void {
    const slot = this.byOrigin.get(origin)?.get(seq);
    if (slot) this.remove(slot);
  }

  /** Drops buffered events that vc already covers (e.g. after a snapshot install); returns how many. */
  prune(vc: ReadonlyVectorClock): number {
    let n = 0;
    for (const [origin, seqs] of this.byOrigin) {
      const upTo = vcGet(vc, origin);
      for (const [seq, slot] of seqs) {
        if (seq <= upTo) {
          this.remove(slot);
          n++;
        }
      }
    }
    return n;
  }

  /**
   * Missing event ranges that block buffered events, merged and sorted (origin, from): the
   * seqs of each origin after vc up to the highest one a buffered event is or needs, minus
   * those buffered. Costs O(buffered events · deps), whatever the seqs.
   */
  gaps(vc: ReadonlyVectorClock): Gap[] {
    const high = new Map<ReplicaId, number>();
    const need = (origin: ReplicaId, seq: number) => {
      if (seq > vcGet(vc, origin) && seq > (high.get(origin) ?? 0)) high.set(origin, seq);
    };
    for (const [origin, seqs] of this.byOrigin) {
      for (const slot of seqs.values()) {
        if (slot.event.seq <= vcGet(vc, origin)) continue; // stale: delivered some other way
        need(origin, slot.event.seq);
        for (const [x, n] of slot.event.deps) need(x, n);
      }
    }
    const out: Gap[] = [];
    for (const origin of [...high.keys()].sort()) {
      const to = high.get(origin) ?? 0;
      let next = vcGet(vc, origin) + 1;
      const held = [...(this.byOrigin.get(origin)?.keys() ?? [])]
        .filter((s) => s >= next && s <= to)
        .sort((a, b) => a - b);
      for (const s of held) {
        if (s > next) out.push({ origin, from: next, to: s - 1 });
        next = s + 1;
      }
      if (next <= to) out.push({ origin, from: next, to });
    }
    return out;
  }

  /**
   * Evicts every event that arrived at or before `cutoffMs` (its gap outlived the caller's
   * patience: repair will fetch it in causal order anyway); returns how many.
   */
  evictArrivedBy(cutoffMs: number): number {
    let n = 0;
    for (const slot of this.arrivals) {
      if (slot.atMs > cutoffMs) break; // arrivals are in order of (monotone) arrival time
      this.remove(slot);
      n++;
    }
    return n;
  }

  /**
   * Evicts the oldest events until one of `bytes` more fits within both bounds; returns how
   * many. Evicts nothing when it could never fit (larger than maxBytes, or maxEvents is 0).
   */
  makeRoom(bytes: number): number {
    if (this.limits.maxEvents === 0 || bytes > this.limits.maxBytes) return 0;
    let n = 0;
    for (const slot of this.arrivals) {
      if (this.arrivals.size + 1 <= this.limits.maxEvents && this.totalBytes + bytes <= this.limits.maxBytes)
        break;
      this.remove(slot);
      n++;
    }
    return n;
  }

  /** When the oldest buffered event arrived, or undefined when empty. */
  oldestArrivalMs(): number | undefined {
    const first = this.arrivals.values().next();
    return first.done ? undefined : first.value.atMs;
  }

  /** Age in ms of the oldest buffered event (0 when empty): past a threshold, ask for repair. */
  oldestAgeMs(nowMs: number): number {
    const first = this.arrivals.values().next();
    if (first.done) return 0;
    return Math.max(0, nowMs - first.value.atMs);
  }

  get size(): number {
    return this.arrivals.size;
  }

  get bytes(): number {
    return this.totalBytes;
  }

  private remove(slot: Slot<E>): void {
    const seqs = this.byOrigin.get(slot.event.origin);
    seqs?.delete(slot.event.seq);
    if (seqs?.size === 0) this.byOrigin.delete(slot.event.origin);
    this.arrivals.delete(slot);
    this.totalBytes -= slot.bytes;
  }
}
