/**
 * Causal-history harness for CmRDT tests, generic over `CrdtType` (in the spirit of the yjs
 * randomized tests). Replicas prepare ops against their own state; events reach the others in
 * random orders that respect causality; at the end every replica is compared, and a test
 * checks the common value against a reference model computed from the causal history.
 *
 * API
 * - `REPLICA_IDS`: replica i is named `REPLICA_IDS[i]` ('a' < 'b' < ...), so origin order is index order.
 * - `Action`: what a replica does in one event: `opAction(userOp, hlc?)` (parsed with `parseOp`,
 *   prepared against the replica's state, effected locally) or `resetAction(hlc?)` (a causal reset
 *   carrying the replica's `observed` context). Without `hlc` the event gets { wall: n, logical: 0 }
 *   for the n-th event of the run.
 * - `Script` = { replicas, steps, finalPicks }. Steps (`at` is taken mod `replicas`):
 *     { t: 'act', at, action }   replica `at` makes one event;
 *     { t: 'recv', at, pick }    replica `at` delivers one deliverable event, the `pick`-th (mod count);
 *     { t: 'sync', at }          replica `at` delivers everything deliverable;
 *     { t: 'syncAll' }           every replica delivers everything (a full round of anti-entropy;
 *                                this is what lets the stable frontier advance mid-run);
 *     { t: 'compact', at }       replica `at` compacts with a frontier honouring the `compact`
 *                                contract: covered by every replica's clock and by the source clock
 *                                of every event it has not delivered yet.
 *   Afterwards every replica delivers all that is left, choosing among deliverable events with
 *   `finalPicks` (cycled): a random linear extension of the causal order.
 * - `scriptArb(opts)`: fast-check arbitrary of scripts (2-5 replicas, random ops/resets/deliveries,
 *   random small HLCs so ties and "later event, smaller HLC" both occur).
 * - `pairScript(prefix, a, b)`: two replicas; `prefix` (actions at replica 0, or [at, action] pairs)
 *   is synced to both; then replica 0 makes the events `a` and replica 1 the events `b`
 *   concurrently; then each delivers the other's, so replica 0 applies a-then-b and replica 1 b-then-a.
 * - `runScript(type, script, limits?)`: executes a script. Downstream ops travel through
 *   JSON and `parseDownstream`, contexts through `vcToRecord`/`vcFromRecord`. Returns a `Run`.
 * - `expectConverged(type, run)`: all replicas have delivered everything; asserts equal values, equal
 *   encodings (after a final compaction with the full clock if the script compacted), encode/decode
 *   round trip, and `isEmpty` agreeing with the encoding of `empty()`. Returns the common value.
 * - `happenedBefore(x, y)`, `isFollowed(x, events)`: the causal order of recorded events, for
 *   reference models.
 * - `expectSmacError(fn, code)`: asserts `fn` throws a SmacError with `code`.
 */
import fc from 'fast-check';
import { expect } from 'vitest';
import {
  type Dot,
  type VectorClock,
  covers,
  vcFromRecord,
  vcGet,
  vcLeq,
  vcMin,
  vcToRecord,
} from '../../../src/core/clock/vector-clock.js';
import type { Hlc } from '../../../src/core/clock/hlc.js';
import type { CrdtType, ParseContext } from '../../../src/core/crdt/crdt.js';
import { type ErrorCode, SmacError } from '../../../src/core/errors.js';
import type { Json } from '../../../src/core/json.js';
import { DEFAULT_LIMITS, type Limits } from '../../../src/core/limits.js';

export const REPLICA_IDS = ['a', 'b', 'c', 'd', 'e'] as const;

export type Action =
  | { readonly kind: 'op'; readonly op: unknown; readonly hlc?: Hlc }
  | { readonly kind: 'reset'; readonly hlc?: Hlc };

export function opAction(op: unknown, hlc?: Hlc): Action {
  return hlc ? { kind: 'op', op, hlc } : { kind: 'op', op };
}

export function resetAction(hlc?: Hlc): Action {
  return hlc ? { kind: 'reset', hlc } : { kind: 'reset' };
}

export type Step =
  | { readonly t: 'act'; readonly at: number; readonly action: Action }
  | { readonly t: 'recv'; readonly at: number; readonly pick: number }
  | { readonly t: 'sync'; readonly at: number }
  | { readonly t: 'syncAll' }
  | { readonly t: 'compact'; readonly at: number };

export interface Script {
  readonly replicas: number;
  readonly steps: readonly Step[];
  readonly finalPicks: readonly number[];
}

export interface HistoryEvent<Op> {
  readonly dot: Dot;
  readonly hlc: Hlc;
  /** The source's clock just before this event (its own entry is seq - 1). */
  readonly clock: VectorClock;
  readonly kind: 'op' | 'reset';
  /** The parsed op (kind 'op'). */
  readonly op: Op | undefined;
  /** What travels: the downstream op as JSON text, or the reset context. */
  readonly wire: string;
}

export interface ReplicaRun<S> {
  readonly id: string;
  readonly state: S;
  readonly clock: VectorClock;
}

export interface Run<S, Op> {
  readonly replicas: readonly ReplicaRun<S>[];
  readonly events: readonly HistoryEvent<Op>[];
  /** True when some `compact` step ran. */
  readonly compacted: boolean;
  readonly pc: ParseContext;
}

/** x happened before y: y's source had delivered x when it made y. */
export function happenedBefore<Op>(x: HistoryEvent<Op>, y: HistoryEvent<Op>): boolean {
  return covers(y.clock, x.dot);
}

/** Some recorded event causally follows x. */
export function isFollowed<Op>(x: HistoryEvent<Op>, events: readonly HistoryEvent<Op>[]): boolean {
  return events.some((y) => happenedBefore(x, y));
}

export function runScript<S, Op, D>(
  type: CrdtType<S, Op, D>,
  script: Script,
  limits: Limits = DEFAULT_LIMITS,
): Run<S, Op> {
  const pc: ParseContext = { limits, depth: 0 };
  const n = Math.max(1, Math.min(script.replicas, REPLICA_IDS.length));
  const reps = REPLICA_IDS.slice(0, n).map((id) => ({
    id,
    state: type.empty(),
    clock: new Map<string, number>(),
  }));
  const events: HistoryEvent<Op>[] = [];
  let compacted = false;

  const replica = (at: number) => reps[at % n]!;
  const deliverable = (r: ReplicaRun<S>) =>
    events.filter((e) => vcGet(r.clock, e.dot.origin) === e.dot.seq - 1 && vcLeq(e.clock, r.clock));

  const deliver = (r: ReplicaRun<S>, e: HistoryEvent<Op>) => {
    if (e.kind === 'op') {
      const d = type.parseDownstream(JSON.parse(e.wire), pc);
      type.effect(r.state, d, { dot: e.dot, hlc: e.hlc });
    } else {
      type.reset(r.state, vcFromRecord(JSON.parse(e.wire)));
    }
    r.clock.set(e.dot.origin, e.dot.seq);
  };

  const act = (r: ReplicaRun<S>, action: Action) => {
    const dot = { origin: r.id, seq: vcGet(r.clock, r.id) + 1 };
    const hlc = action.hlc ?? { wall: events.length + 1, logical: 0 };
    const clock = new Map(r.clock);
    if (action.kind === 'op') {
      const op = type.parseOp(action.op, pc);
      const d = type.prepare(r.state, op, { dot, hlc });
      events.push({ dot, hlc, clock, kind: 'op', op, wire: JSON.stringify(d) });
      type.effect(r.state, d, { dot, hlc });
    } else {
      const ctx = type.observed(r.state);
      events.push({ dot, hlc, clock, kind: 'reset', op: undefined, wire: JSON.stringify(vcToRecord(ctx)) });
      type.reset(r.state, ctx);
    }
    r.clock.set(r.id, dot.seq);
  };

  const compact = (r: ReplicaRun<S>) => {
    const pending = events.filter((e) => !covers(r.clock, e.dot)).map((e) => e.clock);
    type.compact(r.state, vcMin([...reps.map((x) => x.clock), ...pending]));
    compacted = true;
  };

  const sync = (r: ReplicaRun<S>) => {
    for (let ds = deliverable(r); ds.length > 0; ds = deliverable(r)) deliver(r, ds[0]!);
  };

  for (const step of script.steps) {
    switch (step.t) {
      case 'act':
        act(replica(step.at), step.action);
        break;
      case 'recv': {
        const r = replica(step.at);
        const ds = deliverable(r);
        if (ds.length > 0) deliver(r, ds[step.pick % ds.length]!);
        break;
      }
      case 'sync':
        sync(replica(step.at));
        break;
      case 'syncAll':
        reps.forEach(sync);
        break;
      case 'compact':
        compact(replica(step.at));
        break;
    }
  }
  let k = 0;
  for (const r of reps) {
    for (let ds = deliverable(r); ds.length > 0; ds = deliverable(r)) {
      const pick = script.finalPicks.length > 0 ? script.finalPicks[k++ % script.finalPicks.length]! : 0;
      deliver(r, ds[pick % ds.length]!);
    }
  }
  return { replicas: reps, events, compacted, pc };
}

export function expectConverged<S, Op, D>(type: CrdtType<S, Op, D>, run: Run<S, Op>): Json {
  const [first, ...rest] = run.replicas;
  if (!first) throw new Error('a run has at least one replica');
  for (const e of run.events) expect(covers(first.clock, e.dot)).toBe(true);
  for (const r of rest) expect(vcToRecord(r.clock)).toEqual(vcToRecord(first.clock));
  const value = type.value(first.state);
  for (const r of rest) expect(type.value(r.state), `value at ${r.id}`).toEqual(value);
  if (run.compacted) {
    for (const r of run.replicas) type.compact(r.state, first.clock);
    for (const r of run.replicas)
      expect(type.value(r.state), `value at ${r.id} after compaction`).toEqual(value);
  }
  const encoded = type.encode(first.state);
  for (const r of rest) expect(type.encode(r.state), `encoding at ${r.id}`).toEqual(encoded);
  const copy = type.decode(JSON.parse(JSON.stringify(encoded)), run.pc);
  expect(type.encode(copy)).toEqual(encoded);
  expect(type.value(copy)).toEqual(value);
  expect(type.isEmpty(first.state)).toBe(
    JSON.stringify(encoded) === JSON.stringify(type.encode(type.empty())),
  );
  return value;
}

export interface ScriptOptions {
  /** User ops to draw from (valid ones: an invalid op fails the run). */
  readonly op: fc.Arbitrary<unknown>;
  readonly minReplicas?: number;
  readonly maxReplicas?: number;
  readonly maxSteps?: number;
  /** Include causal resets (default true). */
  readonly resets?: boolean;
  /** Include compaction steps (default false). */
  readonly compaction?: boolean;
}

const hlcArb: fc.Arbitrary<Hlc> = fc.record({
  wall: fc.integer({ min: 0, max: 3 }),
  logical: fc.integer({ min: 0, max: 2 }),
});

export function scriptArb(opts: ScriptOptions): fc.Arbitrary<Script> {
  const at = fc.nat({ max: REPLICA_IDS.length - 1 });
  const steps: fc.WeightedArbitrary<Step>[] = [
    {
      weight: 5,
      arbitrary: fc.record({
        t: fc.constant('act' as const),
        at,
        action: fc.tuple(opts.op, hlcArb).map(([op, h]) => opAction(op, h)),
      }),
    },
    { weight: 5, arbitrary: fc.record({ t: fc.constant('recv' as const), at, pick: fc.nat() }) },
    { weight: 1, arbitrary: fc.record({ t: fc.constant('sync' as const), at }) },
    { weight: 1, arbitrary: fc.constant({ t: 'syncAll' as const }) },
  ];
  if (opts.resets ?? true) {
    steps.push({
      weight: 1,
      arbitrary: fc.record({ t: fc.constant('act' as const), at, action: hlcArb.map((h) => resetAction(h)) }),
    });
  }
  if (opts.compaction ?? false) {
    steps.push({ weight: 2, arbitrary: fc.record({ t: fc.constant('compact' as const), at }) });
  }
  return fc.record({
    replicas: fc.integer({ min: opts.minReplicas ?? 2, max: opts.maxReplicas ?? 5 }),
    steps: fc.array(fc.oneof(...steps), { maxLength: opts.maxSteps ?? 40, size: 'max' }),
    finalPicks: fc.array(fc.nat(), { maxLength: 16 }),
  });
}

export function pairScript(
  prefix: readonly (Action | readonly [number, Action])[],
  a: readonly Action[],
  b: readonly Action[],
): Script {
  const steps: Step[] = [];
  for (const p of prefix) {
    const [at, action] = Array.isArray(p) ? (p as readonly [number, Action]) : [0, p as Action];
    steps.push({ t: 'act', at, action });
  }
  steps.push({ t: 'sync', at: 0 }, { t: 'sync', at: 1 }, { t: 'sync', at: 0 });
  for (const action of a) steps.push({ t: 'act', at: 0, action });
  for (const action of b) steps.push({ t: 'act', at: 1, action });
  return { replicas: 2, steps, finalPicks: [] };
}

export function expectSmacError(fn: () => unknown, code: ErrorCode): void {
  let thrown: unknown;
  try {
    fn();
  } catch (e) {
    thrown = e;
  }
  expect(thrown, `expected SmacError ${code}`).toBeInstanceOf(SmacError);
  expect((thrown as SmacError).code).toBe(code);
}
