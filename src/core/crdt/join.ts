/**
 * Joining two replica states whose histories diverged (docs/semantics.md "Merging two
 * histories"): the state a replica would reach after delivering the events of both, computed
 * from the two states and their delivered clocks alone, without the events.
 *
 * Every type here is dot-based (crdt.ts), and the delivered clock of a replica is its causal
 * context in the sense of Almeida, Shoker & Baquero, "Delta State Replicated Data Types"
 * (JPDC 2018), §5: a dot the clock covers but the state lacks was delivered and then removed
 * (or never touched this object, and then the other state lacks it too, since an event's ops
 * are the same everywhere). So, for a dot set, the join keeps a dot held by both, or held by
 * one and not covered by the other's clock (the other never saw it, so nothing there removed
 * it): exactly what delivering the missing events would leave, because an op removes only
 * dots its source had delivered.
 *
 * What compaction folded (crdt.ts `compact`) is where exactness can end:
 * - pn-counter folds a stable prefix of one origin's deltas into one entry. Per origin, the
 *   entries that survive are a suffix by seq (a reset drops a prefix), so the join keeps the
 *   suffix of the side that reset further. That is exact unless a folded entry spans a point
 *   where the other side cut (a reset, or its clock): only possible for an origin whose events
 *   both sides delivered, which replicas that never shared a member do not have.
 * - rw-set drops removes and clears once stable (a remove-wins tombstone no future op of its
 *   own cluster can meet). A remove or clear one side folded away no longer wins over the
 *   other side's concurrent add of the same element: the join shows the element, while a
 *   replica that delivered both histories would not. The join cannot know it (the dot is gone);
 *   test/core/merge.test.ts shows the case.
 *
 * Pure, and never mutates its arguments: the result shares no mutable part with them.
 */
import {
  type Dot,
  type ReadonlyVectorClock,
  compareDots,
  covers,
  vcGet,
  vcMerge,
} from '../clock/vector-clock.js';
import type { AwSetState } from './aw-set.js';
import type { TypeName } from './crdt.js';
import { type EwFlagState, ewFlag } from './ew-flag.js';
import { entryPresent, type MapEntry, type OrMapState } from './or-map.js';
import type { PnCounterEntry, PnCounterState } from './pn-counter.js';
import type { RegisterEntry, RegisterState } from './register-entries.js';
import { getType } from './registry.js';
import type { RwSetEntry, RwSetState } from './rw-set.js';

/** One side of a join: a state and the delivered clock of the replica holding it. */
export interface Side<S> {
  readonly state: S;
  readonly ctx: ReadonlyVectorClock;
}

const dotKey = (d: Dot): string => `${d.origin}\u0000${d.seq}`;

/** The join of two sets of dots, each with its context, sorted by `compareDots`. */
export function joinDotItems<T>(
  a: readonly T[],
  ctxA: ReadonlyVectorClock,
  b: readonly T[],
  ctxB: ReadonlyVectorClock,
  dotOf: (x: T) => Dot,
): T[] {
  const inB = new Set(b.map((x) => dotKey(dotOf(x))));
  const inA = new Set(a.map((x) => dotKey(dotOf(x))));
  const out = a.filter((x) => inB.has(dotKey(dotOf(x))) || !covers(ctxB, dotOf(x)));
  for (const x of b) if (!inA.has(dotKey(dotOf(x))) && !covers(ctxA, dotOf(x))) out.push(x);
  return out.sort((x, y) => compareDots(dotOf(x), dotOf(y)));
}

function joinDots(
  a: readonly Dot[],
  ctxA: ReadonlyVectorClock,
  b: readonly Dot[],
  ctxB: ReadonlyVectorClock,
) {
  return joinDotItems(a, ctxA, b, ctxB, (d) => d).map((d) => ({ origin: d.origin, seq: d.seq }));
}

function joinAwSet(a: Side<AwSetState>, b: Side<AwSetState>): AwSetState {
  const out: AwSetState = new Map();
  for (const key of new Set([...a.state.keys(), ...b.state.keys()])) {
    const ea = a.state.get(key);
    const eb = b.state.get(key);
    const tags = joinDots(ea?.tags ?? [], a.ctx, eb?.tags ?? [], b.ctx);
    const value = ea?.value ?? eb?.value;
    if (tags.length > 0 && value !== undefined) out.set(key, { value, tags });
  }
  return out;
}

function joinEwFlag(a: Side<EwFlagState>, b: Side<EwFlagState>): EwFlagState {
  return { dots: joinDots(a.state.dots, a.ctx, b.state.dots, b.ctx) };
}

function joinRegister(a: Side<RegisterState>, b: Side<RegisterState>): RegisterState {
  return {
    entries: joinDotItems(a.state.entries, a.ctx, b.state.entries, b.ctx, (e: RegisterEntry) => e.dot),
  };
}

/** `list`'s entries with seq in (from, to]. */
function between(list: readonly PnCounterEntry[], from: number, to: number): PnCounterEntry[] {
  return list.filter(([seq]) => seq > from && seq <= to);
}

/**
 * One origin's counter entries. Both sides delivered the origin's events up to `common`; each
 * holds the suffix its resets left of them (folded or not). The side whose first common entry
 * comes later reset further (a reset never cuts inside a range the other folded: that range
 * was stable there); equal first entries mean equal resets, and the more folded form is kept.
 */
function joinCounterOrigin(
  la: readonly PnCounterEntry[],
  ca: number,
  lb: readonly PnCounterEntry[],
  cb: number,
): PnCounterEntry[] {
  const common = Math.min(ca, cb);
  const ownA = between(la, common, Number.POSITIVE_INFINITY);
  const ownB = between(lb, common, Number.POSITIVE_INFINITY);
  const sharedA = between(la, 0, common);
  const sharedB = between(lb, 0, common);
  let shared: PnCounterEntry[];
  if (sharedA.length === 0 || sharedB.length === 0) shared = [];
  else {
    const fa = sharedA[0]?.[0] ?? 0;
    const fb = sharedB[0]?.[0] ?? 0;
    if (fa !== fb) shared = fa > fb ? sharedA : sharedB;
    else if (sharedA.length !== sharedB.length) shared = sharedA.length < sharedB.length ? sharedA : sharedB;
    else shared = encodeEntries(sharedA) <= encodeEntries(sharedB) ? sharedA : sharedB;
  }
  return [...shared, ...ownA, ...ownB].map(([s, d]): PnCounterEntry => [s, d]);
}

function encodeEntries(list: readonly PnCounterEntry[]): string {
  return list.map(([s, d]) => `${s}:${d}`).join(',');
}

function joinCounter(a: Side<PnCounterState>, b: Side<PnCounterState>): PnCounterState {
  const out: PnCounterState = { entries: new Map(), total: 0n };
  const origins = [...new Set([...a.state.entries.keys(), ...b.state.entries.keys()])].sort();
  for (const origin of origins) {
    const list = joinCounterOrigin(
      a.state.entries.get(origin) ?? [],
      vcGet(a.ctx, origin),
      b.state.entries.get(origin) ?? [],
      vcGet(b.ctx, origin),
    );
    if (list.length === 0) continue;
    out.entries.set(origin, list);
    for (const [, d] of list) out.total += d;
  }
  return out;
}

const sameDotSet = (x: readonly Dot[], y: readonly Dot[]): boolean =>
  x.length === y.length && x.every((d) => y.some((e) => e.origin === d.origin && e.seq === d.seq));

function joinRwSet(a: Side<RwSetState>, b: Side<RwSetState>): RwSetState {
  const clears = joinDots(a.state.clears, a.ctx, b.state.clears, b.ctx);
  const out: RwSetState = { elems: new Map(), clears, floor: vcMerge(a.state.floor, b.state.floor) };
  for (const key of new Set([...a.state.elems.keys(), ...b.state.elems.keys()])) {
    // An element without an entry holds the default: no adds, the clears as removes.
    const ea: RwSetEntry | undefined = a.state.elems.get(key);
    const eb: RwSetEntry | undefined = b.state.elems.get(key);
    const value = ea?.value ?? eb?.value;
    if (value === undefined) continue;
    const adds = joinDots(ea?.adds ?? [], a.ctx, eb?.adds ?? [], b.ctx);
    const removes = joinDots(ea?.removes ?? a.state.clears, a.ctx, eb?.removes ?? b.state.clears, b.ctx);
    if (adds.length > 0 || !sameDotSet(removes, clears)) out.elems.set(key, { value, adds, removes });
  }
  return out;
}

/** The join of two states of one type. */
export function joinState(type: TypeName, a: Side<unknown>, b: Side<unknown>): unknown {
  switch (type) {
    case 'aw-set':
      return joinAwSet(a as Side<AwSetState>, b as Side<AwSetState>);
    case 'ew-flag':
      return joinEwFlag(a as Side<EwFlagState>, b as Side<EwFlagState>);
    case 'lww-register':
    case 'mv-register':
      return joinRegister(a as Side<RegisterState>, b as Side<RegisterState>);
    case 'pn-counter':
      return joinCounter(a as Side<PnCounterState>, b as Side<PnCounterState>);
    case 'rw-set':
      return joinRwSet(a as Side<RwSetState>, b as Side<RwSetState>);
    case 'or-map':
      return joinContainer(a as Side<OrMapState>, b as Side<OrMapState>);
  }
}

/**
 * The join of two maps (or keyspaces): entry by entry, an entry one side lacks joined as an
 * empty state under that side's clock, so what it removed stays removed. Entries are
 * addressed by (type, field), so two types under one name (created concurrently, the way
 * type-conflict.ts describes) are two entries, each joined on its own.
 */
export function joinContainer(a: Side<OrMapState>, b: Side<OrMapState>): OrMapState {
  const out: OrMapState = new Map();
  for (const id of new Set([...a.state.keys(), ...b.state.keys()])) {
    const ea = a.state.get(id);
    const eb = b.state.get(id);
    const some = ea ?? eb;
    if (!some) continue;
    const crdt = getType(some.type);
    const joined: MapEntry = {
      type: some.type,
      field: some.field,
      presence: joinEwFlag(
        { state: ea?.presence ?? ewFlag.empty(), ctx: a.ctx },
        { state: eb?.presence ?? ewFlag.empty(), ctx: b.ctx },
      ),
      state: crdt.clone(
        joinState(
          some.type,
          { state: ea?.state ?? crdt.empty(), ctx: a.ctx },
          { state: eb?.state ?? crdt.empty(), ctx: b.ctx },
        ),
      ),
    };
    if (entryPresent(joined)) out.set(id, joined);
  }
  return out;
}
