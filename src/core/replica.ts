/**
 * The replica: the single owner of one agent's CRDT state (paper §V-A: the CmRDT Handlers
 * and the causal half of the Asynchronous Communicator). It follows the raft/foca pattern
 * (DESIGN.md "Architecture"): `step(input, nowMs)` changes state and returns effects, and
 * the agent carries the effects out in order — persist, then broadcast, then acknowledge.
 * Nothing here does I/O, reads a clock or draws randomness.
 *
 * Local writes: a batch of ops becomes one event (origin, seq, deps, hlc, ops). Every op is
 * validated before any is prepared, and prepare/effect cannot fail on validated input, so a
 * batch is applied whole or not at all.
 *
 * Remote events go through the causal buffer and are applied exactly once, in causal order.
 * A signed event whose ops do not validate is *delivered as a no-op*: the clock advances so
 * the origin's later events are not blocked forever, nothing is applied, and a `rejected`
 * effect reports it. Every replica runs the same validation, so all of them skip the same
 * event and still converge.
 */
import {
  CausalBuffer,
  type CausalBufferLimits,
  type Gap,
  isDeliverable,
  isDuplicate,
} from './causal/causal-buffer.js';
import { type Hlc, HLC_ZERO, hlcReceive, hlcTick } from './clock/hlc.js';
import {
  type ReadonlyVectorClock,
  type ReplicaId,
  type VectorClock,
  vcClone,
  vcGet,
  vcLeq,
} from './clock/vector-clock.js';
import type { OpContext, ParseContext, TypeName } from './crdt/crdt.js';
import type { EntryDown, EntryOp } from './crdt/or-map.js';
import { prepareBatch } from './local-batch.js';
import { checkTypeConflicts } from './type-conflict.js';
import { ErrorCode, fail, isSmacError, SmacError } from './errors.js';
import type { Event } from './event.js';
import type { Json } from './json.js';
import {
  applyKeyDown,
  compactKeyspace,
  decodeKeyspace,
  encodeKeyspace,
  type KeyspaceState,
  listObjects,
  type ObjectView,
  parseKeyOp,
  readObject,
} from './keyspace.js';
import { DEFAULT_LIMITS, type Limits } from './limits.js';
import {
  DEFAULT_EVENT_CODEC_LIMITS,
  encodeEvent,
  EVENT_CODEC_VERSION,
  type EventCodecLimits,
  isSupportedEventVersion,
  MAX_EVENT_WIRE_VERSION,
  MIN_EVENT_WIRE_VERSION,
} from './codec/event-codec.js';
import { NOT_OWNER } from './ownership.js';
import { peerOfOrigin } from './origin.js';
import {
  epochOfReapKey,
  REAPED,
  reportsIn,
  type ReapState,
  reapStatesOf,
  SYS_REAPS_PREFIX,
} from './reaping.js';
import { validateRemoteEvent } from './remote-validation.js';
import { RetiredEpochs, withRetiredCuts } from './retired-epochs.js';
import { entryId } from './crdt/or-map.js';
import type { AwSetState } from './crdt/aw-set.js';

export interface ReplicaConfig {
  /** This replica's id (the agent's peer id). */
  readonly id: ReplicaId;
  readonly limits?: Partial<Limits>;
  /** A remote HLC further ahead of our physical clock than this does not move our clock. */
  readonly maxDriftMs?: number;
  /** Bounds of the causal buffer. Past them, events are dropped and repair is requested. */
  readonly buffer?: Partial<CausalBufferLimits>;
  /** A gap older than this asks for repair on the next tick. */
  readonly repairAfterMs?: number;
  /**
   * A gap that stays open asks again after repairAfterMs, then twice as long each time, up to
   * this interval: a gap no peer can fill must not ask on every tick.
   */
  readonly repairBackoffMaxMs?: number;
  /**
   * A buffered event older than this is evicted (counted, and repair is asked for): an origin
   * whose gap nobody fills must not pin buffer slots forever. Sync fetches it in order anyway.
   */
  readonly maxBufferAgeMs?: number;
  /**
   * An event further ahead than this of what we delivered (its seq, or one of its deps) is
   * refused and counted, never buffered: only sync can close such a gap, and a hostile origin
   * could otherwise park events that can never become deliverable.
   */
  readonly maxSeqAhead?: number;
  /** Bounds of the event encoding; a local batch whose event is larger is refused whole. */
  readonly eventCodec?: Partial<EventCodecLimits>;
  /**
   * Wire version of the events this replica makes (default 1, which every release reads). The
   * agent raises it, with `setWireVersion`, to the highest version every member supports.
   */
  readonly wireVersion?: number;
}

export const DEFAULT_REPLICA = {
  /** Generous for NTP-synced hosts, tight enough that a host set a day ahead cannot pin LWW. */
  maxDriftMs: 60_000,
  buffer: { maxEvents: 100_000, maxBytes: 64 * 1024 * 1024 } satisfies CausalBufferLimits,
  /** Gossip reorders by milliseconds; a gap this old means a message was lost. */
  repairAfterMs: 1_000,
  repairBackoffMaxMs: 16_000,
  /** Thirty times repairAfterMs: several repair rounds, with peers tried in turn, have failed. */
  maxBufferAgeMs: 30_000,
  /** The default buffer bound: a gap wider than the buffer cannot be bridged by buffering. */
  maxSeqAhead: 100_000,
};

/** A local batch: one event. `system` allows writes under `_sys/` (the agent's own services). */
export interface LocalInput {
  readonly kind: 'local';
  readonly ops: readonly unknown[];
  readonly system?: boolean;
  /**
   * A client's write (the API sets it): refuse an op that would add a second type under a key
   * this replica holds with another type (type-conflict.ts). Off for the agent's own writes
   * and for tests of the core that model concurrent creations.
   */
  readonly oneTypePerKey?: boolean;
}
/** An event received from a peer (already decoded, and its signature verified, by the adapter). */
export interface RemoteInput {
  readonly kind: 'remote';
  readonly event: Event;
  /** Encoded size, for the buffer's byte bound. */
  readonly bytes: number;
}
/** Periodic: reports gaps that have waited too long. */
export interface TickInput {
  readonly kind: 'tick';
}
export type ReplicaInput = LocalInput | RemoteInput | TickInput;

export interface TouchedObject {
  readonly type: TypeName;
  readonly key: string;
}

export type Effect =
  /** Append the event to the durable log. Comes first for every applied event. */
  | { readonly kind: 'persist'; readonly event: Event; readonly local: boolean }
  /** Send a local event to peers (after it is persisted). */
  | { readonly kind: 'broadcast'; readonly event: Event }
  /** Objects changed by an applied event (for watches). */
  | { readonly kind: 'changed'; readonly event: Event; readonly objects: readonly TouchedObject[] }
  /** Ask a peer for missing events (anti-entropy). */
  | {
      readonly kind: 'repair';
      readonly reason: 'gap' | 'overflow' | 'expired' | 'far-ahead';
      readonly gaps: readonly Gap[];
    }
  /**
   * Remote events dropped by the causal buffer: evicted past their age or to make room, or
   * refused for being too far ahead. Count them; a 'repair' effect comes with them.
   */
  | { readonly kind: 'dropped'; readonly reason: 'age' | 'overflow' | 'far-ahead'; readonly count: number }
  /** A remote event was refused or skipped; count it and warn. */
  | {
      readonly kind: 'rejected';
      readonly origin: ReplicaId;
      readonly seq: number;
      readonly code: string;
      readonly message: string;
    }
  /** A remote HLC was too far ahead; our clock did not follow. */
  | { readonly kind: 'clock-drift'; readonly origin: ReplicaId; readonly driftMs: number };

export interface StepResult {
  readonly effects: Effect[];
  /** The new local event, for a local input. */
  readonly event?: Event;
  /** Its encoding (event codec), checked against the size limit before anything changed. */
  readonly encoded?: Uint8Array;
}

/** Plain state of a replica, for snapshots. */
export interface ReplicaSnapshot {
  readonly vc: VectorClock;
  readonly hlc: Hlc;
  readonly keyspace: Json;
  /**
   * Retired epochs pruned from `vc`, with their cuts (retired-epochs.ts): the snapshot covers
   * each up to its cut. Installing checks them against the snapshot's own reap reports.
   */
  readonly retired?: ReadonlyMap<ReplicaId, number>;
}

export interface ReplicaStats {
  readonly buffered: number;
  readonly bufferedBytes: number;
  readonly objects: number;
  readonly rejected: number;
  /** Ops of remote events skipped because their writer does not own the record (ownership.ts). */
  readonly notOwner: number;
  /** Remote events of a reaped epoch refused beyond its limit or cut (reaping.ts). */
  readonly reaped: number;
  readonly duplicates: number;
  readonly clockDrift: number;
  /** Buffered events evicted: past maxBufferAgeMs, or the oldest to make room when full. */
  readonly evicted: number;
  /** Events refused for being more than maxSeqAhead ahead of what we delivered. */
  readonly farAhead: number;
}

export class Replica {
  readonly id: ReplicaId;
  readonly limits: Limits;
  private readonly maxDriftMs: number;
  private readonly repairAfterMs: number;
  private readonly pc: ParseContext;
  private readonly codecLimits: EventCodecLimits;
  private vc: VectorClock = new Map();
  private hlc: Hlc = HLC_ZERO;
  /** Our clock when we made our last event: the base of the next event's delta deps. */
  private lastDeps: VectorClock = new Map();
  private keyspace: KeyspaceState = new Map();
  private readonly buffer: CausalBuffer<Event>;
  private counters = {
    rejected: 0,
    notOwner: 0,
    reaped: 0,
    duplicates: 0,
    clockDrift: 0,
    evicted: 0,
    farAhead: 0,
  };
  private readonly repairBackoffMaxMs: number;
  private readonly maxBufferAgeMs: number;
  private readonly maxSeqAhead: number;
  /** Gap repair backoff: for which oldest arrival, when next, and the interval after that. */
  private gapRepair = { forArrivalMs: Number.NaN, nextMs: 0, intervalMs: 0 };
  /** Epochs with a reap marker in the state (reaping.ts), derived from `_sys/reaps/`. */
  private reapStates = new Map<ReplicaId, ReapState>();
  /**
   * Per epoch, the highest seq reported by a report received but not delivered yet (reaping.ts
   * `reportsIn`): it raises the limit so that the events it depends on can be accepted.
   */
  private pendingReports = new Map<ReplicaId, number>();
  /** Reaps with a cut, and their witnesses (retired-epochs.ts): pruned from the clocks shown. */
  private retired = RetiredEpochs.EMPTY;
  private wireVersion: number = EVENT_CODEC_VERSION;

  constructor(config: ReplicaConfig) {
    if (typeof config.id !== 'string' || config.id.length === 0) {
      fail(ErrorCode.InvalidArgument, 'A replica needs a non-empty id.');
    }
    this.id = config.id;
    this.limits = { ...DEFAULT_LIMITS, ...config.limits };
    this.maxDriftMs = config.maxDriftMs ?? DEFAULT_REPLICA.maxDriftMs;
    this.repairAfterMs = config.repairAfterMs ?? DEFAULT_REPLICA.repairAfterMs;
    this.repairBackoffMaxMs = config.repairBackoffMaxMs ?? DEFAULT_REPLICA.repairBackoffMaxMs;
    this.maxBufferAgeMs = config.maxBufferAgeMs ?? DEFAULT_REPLICA.maxBufferAgeMs;
    this.maxSeqAhead = config.maxSeqAhead ?? DEFAULT_REPLICA.maxSeqAhead;
    this.buffer = new CausalBuffer<Event>({ ...DEFAULT_REPLICA.buffer, ...config.buffer });
    this.pc = { limits: this.limits, depth: 0 };
    this.codecLimits = {
      ...DEFAULT_EVENT_CODEC_LIMITS,
      maxOpsPerEvent: this.limits.maxOpsPerEvent,
      ...config.eventCodec,
    };
    if (config.wireVersion !== undefined) this.setWireVersion(config.wireVersion);
  }

  /** Sets the wire version of the events this replica makes from now on (event-codec.ts). */
  setWireVersion(version: number): void {
    if (!isSupportedEventVersion(version)) {
      fail(
        ErrorCode.UnsupportedVersion,
        `This build writes event wire versions ${MIN_EVENT_WIRE_VERSION} to ${MAX_EVENT_WIRE_VERSION}, not ${String(version)}.`,
      );
    }
    this.wireVersion = version;
  }

  /** The wire version of the events this replica makes. */
  get eventWireVersion(): number {
    return this.wireVersion;
  }

  /** Restores a replica from its snapshot (after a restart, or a snapshot from a peer). */
  static fromSnapshot(config: ReplicaConfig, snap: ReplicaSnapshot): Replica {
    const r = new Replica(config);
    r.install(snap);
    return r;
  }

  step(input: ReplicaInput, nowMs: number): StepResult {
    switch (input.kind) {
      case 'local':
        return this.local(input, nowMs);
      case 'remote':
        return { effects: this.remote(input, nowMs) };
      case 'tick':
        return { effects: this.tick(nowMs) };
    }
  }

  // ---- local writes -------------------------------------------------------------------

  private local(input: LocalInput, nowMs: number): StepResult {
    const n = input.ops.length;
    if (!Array.isArray(input.ops) || n === 0)
      fail(ErrorCode.InvalidOp, 'A write needs at least one operation.');
    if (n > this.limits.maxOpsPerEvent) {
      fail(
        ErrorCode.TooLarge,
        `A batch holds at most ${this.limits.maxOpsPerEvent} operations; this one has ${n}.`,
      );
    }
    // Validate everything first: nothing below may throw, so nothing is half-applied.
    const parsed: EntryOp[] = input.ops.map((raw, i) => {
      try {
        return parseKeyOp(raw, this.pc, input.system === true);
      } catch (e) {
        if (isSmacError(e) && n > 1)
          throw new SmacError(e.code, `Operation ${i}: ${e.message}`, { index: i, ...e.details });
        throw e;
      }
    });
    // A client-input rule, for clients' local batches only: one key, one type (type-conflict.ts).
    if (input.oneTypePerKey === true) checkTypeConflicts(this.keyspace, parsed);
    // Prepare aside, encode, and only then commit (local-batch.ts): an event over the size
    // limit (or any other refusal) leaves the replica exactly as it was.
    const seq = vcGet(this.vc, this.id) + 1;
    const hlc = hlcTick(this.hlc, nowMs);
    const ctx: OpContext = { dot: { origin: this.id, seq }, hlc };
    const batch = prepareBatch(this.keyspace, parsed, ctx);
    const ops = batch.ops;
    const deps = this.deltaDeps();
    const event: Event = { origin: this.id, seq, deps, hlc, ops: ops as unknown as Json[] };
    const encoded = this.encodeLocal(event);
    // Commit: nothing below throws.
    this.hlc = hlc;
    this.lastDeps = vcClone(this.vc);
    this.lastDeps.delete(this.id);
    batch.commit();
    this.vc.set(this.id, seq);
    this.refreshReaps(ops);
    return {
      event,
      encoded,
      effects: [
        { kind: 'persist', event, local: true },
        { kind: 'broadcast', event },
        { kind: 'changed', event, objects: touched(ops) },
      ],
    };
  }

  /** The event's encoding, or TOO_LARGE (nothing changed yet) when it is over the limit. */
  private encodeLocal(event: Event): Uint8Array {
    try {
      return encodeEvent(event, this.codecLimits, this.wireVersion);
    } catch (e) {
      if (isSmacError(e) && e.code === ErrorCode.TooLarge) {
        const limit = this.codecLimits.maxEventBytes;
        throw new SmacError(
          ErrorCode.TooLarge,
          `The batch makes an event larger than the ${limit}-byte event limit; nothing was applied. ` +
            'Split it into smaller batches.',
          { ...e.details, limit },
        );
      }
      throw e;
    }
  }

  /** Entries of our clock (other than ours) that grew since our previous event (reads only). */
  private deltaDeps(): VectorClock {
    const deps: VectorClock = new Map();
    for (const [id, n] of this.vc) {
      if (id !== this.id && n > (this.lastDeps.get(id) ?? 0)) deps.set(id, n);
    }
    return deps;
  }

  // ---- remote events ------------------------------------------------------------------

  private remote(input: RemoteInput, nowMs: number): Effect[] {
    const e = input.event;
    const effects: Effect[] = [];
    if (e.origin === this.id) {
      if (e.seq > vcGet(this.vc, this.id)) {
        this.counters.rejected++;
        effects.push(
          rejected(e, ErrorCode.InvalidEvent, 'A peer sent an event in our name that we never made.'),
        );
      } else this.counters.duplicates++;
      return effects;
    }
    if (e.deps.has(e.origin)) {
      this.counters.rejected++;
      effects.push(
        rejected(e, ErrorCode.InvalidEvent, 'An event lists its own origin among its dependencies.'),
      );
      return effects;
    }
    if (isDuplicate(e, this.vc)) {
      this.counters.duplicates++;
      return effects;
    }
    this.notePendingReports(e);
    if (this.beyondReapLimit(e, effects)) return effects;
    if (!isDeliverable(e, this.vc)) {
      if (this.aheadBy(e) > this.maxSeqAhead) {
        this.counters.farAhead++;
        effects.push({ kind: 'repair', reason: 'far-ahead', gaps: this.buffer.gaps(this.vc) });
        effects.push({ kind: 'dropped', reason: 'far-ahead', count: 1 });
        return effects;
      }
      let r = this.buffer.add(e, input.bytes, nowMs);
      if (r === 'duplicate') this.counters.duplicates++;
      if (r === 'overflow') {
        // Make room by evicting the oldest (their gap has waited longest; sync fetches them
        // in order); an event that can never fit is dropped itself.
        const evicted = this.buffer.makeRoom(input.bytes);
        if (evicted > 0) {
          r = this.buffer.add(e, input.bytes, nowMs);
          // Evicted, not delivered: the gap repair keeps its backoff (see tick).
          this.gapRepair.forArrivalMs = this.buffer.oldestArrivalMs() ?? Number.NaN;
        }
        const dropped = evicted + (r === 'buffered' ? 0 : 1);
        this.counters.evicted += dropped;
        effects.push({ kind: 'repair', reason: 'overflow', gaps: this.buffer.gaps(this.vc) });
        effects.push({ kind: 'dropped', reason: 'overflow', count: dropped });
      }
      return effects;
    }
    this.deliver(e, nowMs, effects);
    for (let next = this.buffer.popDeliverable(this.vc); next; next = this.buffer.popDeliverable(this.vc)) {
      // A report that arrived meanwhile may have set a limit below a buffered event.
      if (!this.beyondReapLimit(next, effects)) this.deliver(next, nowMs, effects);
    }
    return effects;
  }

  /**
   * True (counted, reported) for an event of an epoch being reaped beyond the highest seq
   * reported (or, once all have reported, beyond the cut): it is neither delivered nor
   * buffered, the same rule everywhere (reaping.ts). If a later report raises the limit,
   * anti-entropy fetches the event again.
   */
  private beyondReapLimit(e: Event, effects: Effect[]): boolean {
    const state = this.reapStates.get(e.origin);
    if (!state) return false;
    const limit = state.cut ?? Math.max(state.limit, this.pendingReports.get(e.origin) ?? 0);
    if (e.seq <= limit) return false;
    this.counters.reaped++;
    const what =
      state.cut === undefined ? `the highest seq reported so far (${limit})` : `its cut (${state.cut})`;
    effects.push(rejected(e, REAPED, `Refused an event of a reaped epoch beyond ${what}.`));
    return true;
  }

  /** Records the reports `e` carries in its writer's own name (reaping.ts `reportsIn`). */
  private notePendingReports(e: Event): void {
    if (!e.ops.some((o) => isReapsOp(o))) return;
    for (const [epoch, r] of reportsIn(e.ops, peerOfOrigin(e.origin)))
      if (r.seq > (this.pendingReports.get(epoch) ?? 0)) this.pendingReports.set(epoch, r.seq);
  }

  /** Recomputes the reap states when `ops` touched a report set (reaping.ts `reapStatesOf`). */
  private refreshReaps(ops: readonly EntryDown[]): void {
    if (ops.some((d) => d.t === 'aw-set' && epochOfReapKey(d.f) !== undefined)) this.refreshAllReaps();
  }

  private refreshAllReaps(): void {
    this.reapStates = reapStatesIn(this.keyspace);
    this.retired = RetiredEpochs.of(this.reapStates.values(), (epoch) => {
      const e = this.keyspace.get(entryId('aw-set', SYS_REAPS_PREFIX + epoch));
      return e ? (e.state as AwSetState).values() : [];
    });
  }

  private deliver(e: Event, nowMs: number, effects: Effect[]): void {
    let ops: readonly EntryDown[] | undefined;
    try {
      // By the rules of the event's own wire version only (remote-validation.ts).
      const v = validateRemoteEvent(e);
      ops = v.ops;
      if (v.skipped.length > 0) {
        this.counters.notOwner += v.skipped.length;
        const first = v.skipped[0]?.reason ?? '';
        effects.push(
          rejected(
            e,
            NOT_OWNER,
            `Skipped ${v.skipped.length} op(s) on records the writer does not own: ${first}`,
          ),
        );
      }
    } catch (err) {
      const code = isSmacError(err) ? err.code : ErrorCode.InvalidEvent;
      const msg = err instanceof Error ? err.message : String(err);
      this.counters.rejected++;
      effects.push(rejected(e, code, `Skipped an event whose ops do not validate: ${msg}`));
    }
    const r = hlcReceive(this.hlc, e.hlc, nowMs, this.maxDriftMs);
    this.hlc = r.clock;
    if (r.driftMs !== undefined) {
      this.counters.clockDrift++;
      effects.push({ kind: 'clock-drift', origin: e.origin, driftMs: r.driftMs });
    }
    if (ops) {
      const ctx: OpContext = { dot: { origin: e.origin, seq: e.seq }, hlc: e.hlc };
      for (const d of ops) applyKeyDown(this.keyspace, d, ctx);
    }
    this.vc.set(e.origin, e.seq);
    // A copy buffered before a snapshot install made it deliverable would otherwise stay.
    this.buffer.discard(e.origin, e.seq);
    if (ops) this.refreshReaps(ops);
    effects.push({ kind: 'persist', event: e, local: false });
    if (ops) effects.push({ kind: 'changed', event: e, objects: touched(ops) });
  }

  /** How far beyond our clock the event reaches: by its seq, or by one of its deps. */
  private aheadBy(e: Event): number {
    let ahead = e.seq - vcGet(this.vc, e.origin);
    for (const [x, n] of e.deps) ahead = Math.max(ahead, n - vcGet(this.vc, x));
    return ahead;
  }

  /**
   * Evicts buffered events past maxBufferAgeMs, and asks for repair of a gap older than
   * repairAfterMs: again after repairAfterMs, then after twice as long each time (up to
   * repairBackoffMaxMs). The interval starts over once the oldest event waiting was delivered,
   * not when it was evicted: an origin that keeps sending events nobody can fill keeps its
   * backoff. At most one repair per tick.
   */
  private tick(nowMs: number): Effect[] {
    const first = this.buffer.oldestArrivalMs();
    if (first === undefined || first !== this.gapRepair.forArrivalMs) {
      // Empty, or the event that waited longest went out by delivery: a new gap.
      this.gapRepair = { forArrivalMs: first ?? Number.NaN, nextMs: 0, intervalMs: this.repairAfterMs };
      if (first === undefined) return [];
    }
    const evicted = this.buffer.evictArrivedBy(nowMs - this.maxBufferAgeMs);
    const oldest = this.buffer.oldestArrivalMs();
    const r = this.gapRepair;
    r.forArrivalMs = oldest ?? Number.NaN;
    const effects: Effect[] = [];
    const waiting = evicted > 0 || (oldest !== undefined && nowMs - oldest >= this.repairAfterMs);
    if (waiting && nowMs >= r.nextMs) {
      effects.push({
        kind: 'repair',
        reason: evicted > 0 ? 'expired' : 'gap',
        gaps: this.buffer.gaps(this.vc),
      });
      r.nextMs = nowMs + r.intervalMs;
      r.intervalMs = Math.min(2 * r.intervalMs, this.repairBackoffMaxMs);
    }
    if (evicted > 0) {
      this.counters.evicted += evicted;
      effects.push({ kind: 'dropped', reason: 'age', count: evicted });
    }
    return effects;
  }

  // ---- reads and state ----------------------------------------------------------------

  read(type: TypeName, key: string): ObjectView | undefined {
    return readObject(this.keyspace, type, key);
  }

  list(prefix = ''): ObjectView[] {
    return listObjects(this.keyspace, prefix);
  }

  /** The delivered clock: every event it covers has been applied here. */
  clock(): VectorClock {
    return vcClone(this.vc);
  }

  /**
   * The clock this replica shows and sends (status, heartbeats, sync requests): the delivered
   * clock without the retired epochs it holds exactly up to their cut (retired-epochs.ts).
   */
  shownClock(): VectorClock {
    return this.retired.prune(this.vc);
  }

  /**
   * `vc` (this replica's clock, or one it handed out) in the form the API shows: without the
   * retired epochs it provably holds at their cut, so that `expandClock` restores it exactly
   * when a client sends it back (a watch cursor; retired-epochs.ts).
   */
  pruneClock(vc: ReadonlyVectorClock): VectorClock {
    return this.retired.pruneRecoverable(vc);
  }

  /** Retired epochs (reaped, cut agreed) -> their cuts, whether or not they are pruned here. */
  retiredCuts(): VectorClock {
    return this.retired.cuts();
  }

  /**
   * A peer's clock (a heartbeat's, a sync request's) with the retired epochs it pruned counted
   * at their cut, where it proves it holds them (retired-epochs.ts); others read as zero.
   */
  expandClock(vc: ReadonlyVectorClock): VectorClock {
    return this.retired.expand(vc);
  }

  hybridClock(): Hlc {
    return this.hlc;
  }

  gaps(): Gap[] {
    return this.buffer.gaps(this.vc);
  }

  /** Every epoch with a reap marker, and where its reap stands (reaping.ts). */
  reaps(): ReapState[] {
    return [...this.reapStates.values()];
  }

  /** The reap state of `epoch`, if a marker for it is in the state. */
  reapOf(epoch: ReplicaId): ReapState | undefined {
    return this.reapStates.get(epoch);
  }

  /**
   * Retired epochs this replica holds beyond their cut: it delivered (or, for its own epoch,
   * made) events no other replica will apply. It must rebase (src/agent/rebase.ts).
   */
  pastCut(): { epoch: ReplicaId; cut: number; held: number }[] {
    const out: { epoch: ReplicaId; cut: number; held: number }[] = [];
    for (const s of this.reapStates.values()) {
      const held = vcGet(this.vc, s.epoch);
      if (s.cut !== undefined && held > s.cut) out.push({ epoch: s.epoch, cut: s.cut, held });
    }
    return out;
  }

  stats(): ReplicaStats {
    return {
      buffered: this.buffer.size,
      bufferedBytes: this.buffer.bytes,
      objects: this.keyspace.size,
      ...this.counters,
    };
  }

  snapshot(): ReplicaSnapshot {
    return { vc: vcClone(this.vc), hlc: this.hlc, keyspace: encodeKeyspace(this.keyspace) };
  }

  /**
   * Installs a snapshot that covers everything we have (a peer's, when we are behind its
   * compacted log). Refuses one that would lose our events: push those first.
   */
  install(snap: ReplicaSnapshot): void {
    const vc = withRetiredCuts(snap.vc, snap.retired ?? new Map());
    if (!vcLeq(this.vc, vc)) {
      fail(
        ErrorCode.InvalidArgument,
        "The snapshot does not cover this replica's clock; installing it would lose events.",
      );
    }
    this.installState(snap, this.decodeSnapshotState(snap)); // throws before any change
  }

  /**
   * Decodes a snapshot's keyspace, and checks that every retired epoch it claims is retired at
   * that cut by its own reap reports (a snapshot must not pass off a live epoch as pruned).
   */
  private decodeSnapshotState(snap: ReplicaSnapshot): KeyspaceState {
    const ks = decodeKeyspace(snap.keyspace, this.limits);
    if (!snap.retired || snap.retired.size === 0) return ks;
    const states = reapStatesIn(ks);
    for (const [epoch, cut] of snap.retired) {
      if (states.get(epoch)?.cut !== cut)
        fail(
          ErrorCode.InvalidArgument,
          `The snapshot claims epoch ${epoch} retired at ${cut}, which its own reap reports do not show.`,
        );
    }
    return ks;
  }

  /**
   * Installs a snapshot that lacks some events we hold, then re-applies `kept` — exactly those
   * events, in our log's order (a causal order) — on top of it: a returning writer that kept
   * writing (or kept receiving) while it pushed still catches up. Nothing the snapshot holds
   * can depend on events it lacks, and every dependency of a kept event is in the snapshot or
   * kept before it, so this is a causal order. Throws (changing nothing) unless `kept` is
   * exactly what the snapshot lacks of our clock, per origin in seq order.
   */
  installKeeping(snap: ReplicaSnapshot, kept: readonly Event[], nowMs: number): void {
    const snapVc = withRetiredCuts(snap.vc, snap.retired ?? new Map());
    const next = new Map<ReplicaId, number>();
    for (const e of kept) {
      const n = next.get(e.origin) ?? vcGet(snapVc, e.origin) + 1;
      if (e.seq !== n)
        fail(ErrorCode.InvalidArgument, `A kept event of ${e.origin} must have seq ${n}, not ${e.seq}.`);
      next.set(e.origin, n + 1);
    }
    const covers = (o: ReplicaId, seq: number): boolean =>
      Math.max(vcGet(snapVc, o), (next.get(o) ?? 0) - 1) === Math.max(seq, vcGet(snapVc, o));
    if (![...this.vc].every(([o, seq]) => covers(o, seq)) || ![...next.keys()].every((o) => this.vc.has(o))) {
      fail(
        ErrorCode.InvalidArgument,
        "The snapshot and the kept events are not exactly this replica's clock; installing them would lose events.",
      );
    }
    this.installState(snap, this.decodeSnapshotState(snap));
    for (const e of kept) this.restore(e, nowMs);
  }

  private installState(snap: ReplicaSnapshot, ks: KeyspaceState): void {
    this.keyspace = ks;
    this.vc = withRetiredCuts(snap.vc, snap.retired ?? new Map());
    if (
      snap.hlc.wall > this.hlc.wall ||
      (snap.hlc.wall === this.hlc.wall && snap.hlc.logical > this.hlc.logical)
    ) {
      this.hlc = snap.hlc;
    }
    this.lastDeps = new Map(); // the next event carries full deps: always valid
    this.buffer.prune(this.vc);
    this.refreshAllReaps();
  }

  /**
   * Re-applies an event from the durable log during recovery (ours or a peer's), in log order,
   * after installing the latest snapshot. Events the snapshot already covers are skipped.
   */
  restore(e: Event, nowMs: number): void {
    if (e.seq <= vcGet(this.vc, e.origin)) return;
    if (e.seq !== vcGet(this.vc, e.origin) + 1) {
      fail(
        ErrorCode.InvalidEvent,
        `The log skips from ${e.origin}:${vcGet(this.vc, e.origin)} to seq ${e.seq}.`,
      );
    }
    this.deliver(e, nowMs, []);
    if (e.origin === this.id) this.lastDeps = new Map(); // the next event carries full deps
  }

  /** Folds causally stable information (see stability.ts) into compact state. */
  compact(stable: ReadonlyVectorClock): void {
    compactKeyspace(this.keyspace, stable);
  }
}

/** The reap states of the report sets `_sys/reaps/<epoch>` in `ks` (reaping.ts). */
function reapStatesIn(ks: KeyspaceState): Map<ReplicaId, ReapState> {
  const sets = new Map<ReplicaId, unknown>();
  for (const o of listObjects(ks, SYS_REAPS_PREFIX)) {
    const epoch = o.type === 'aw-set' ? epochOfReapKey(o.key) : undefined;
    if (epoch !== undefined) sets.set(epoch, o.value);
  }
  return reapStatesOf(sets);
}

function isReapsOp(o: unknown): boolean {
  const f = (o as { f?: unknown } | null)?.f;
  return typeof f === 'string' && f.startsWith(SYS_REAPS_PREFIX);
}

function rejected(e: Event, code: string, message: string): Effect {
  return { kind: 'rejected', origin: e.origin, seq: e.seq, code, message };
}

function touched(ops: readonly EntryDown[]): TouchedObject[] {
  const seen = new Set<string>();
  const out: TouchedObject[] = [];
  for (const d of ops) {
    const id = d.t + '\u0000' + d.f;
    if (!seen.has(id)) {
      seen.add(id);
      out.push({ type: d.t, key: d.f });
    }
  }
  return out;
}
