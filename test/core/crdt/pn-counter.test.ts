import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { OpContext, ParseContext } from '../../../src/core/crdt/crdt.js';
import { type PnCounterOp, type PnCounterState, pnCounter } from '../../../src/core/crdt/pn-counter.js';
import { ErrorCode } from '../../../src/core/errors.js';
import type { Json } from '../../../src/core/json.js';
import { DEFAULT_LIMITS } from '../../../src/core/limits.js';
import {
  type Action,
  type HistoryEvent,
  expectConverged,
  expectSmacError,
  happenedBefore,
  opAction,
  pairScript,
  resetAction,
  runScript,
  scriptArb,
} from './harness.js';

const pc: ParseContext = { limits: DEFAULT_LIMITS, depth: 0 };
const MAX = Number.MAX_SAFE_INTEGER;

function at(origin: string, seq: number): OpContext {
  return { dot: { origin, seq }, hlc: { wall: seq, logical: 0 } };
}

/** Prepares and effects a user op at the source, as a replica would. */
function apply(state: PnCounterState, op: unknown, ctx: OpContext): void {
  pnCounter.effect(state, pnCounter.prepare(state, pnCounter.parseOp(op, pc), ctx), ctx);
}

function stateOf(...ops: [origin: string, seq: number, op: unknown][]): PnCounterState {
  const s = pnCounter.empty();
  for (const [origin, seq, op] of ops) apply(s, op, at(origin, seq));
  return s;
}

const inc = (by?: number): Action =>
  opAction(by === undefined ? { kind: 'increment' } : { kind: 'increment', by });
const dec = (by: number): Action => opAction({ kind: 'decrement', by });

function asValue(sum: bigint): Json {
  return sum >= BigInt(-MAX) && sum <= BigInt(MAX) ? Number(sum) : sum.toString();
}

/** Reference model: the deltas that no reset has observed. */
function referenceValue(events: readonly HistoryEvent<PnCounterOp>[]): Json {
  const resets = events.filter((e) => e.kind === 'reset');
  let sum = 0n;
  for (const e of events) {
    if (!e.op || resets.some((r) => happenedBefore(e, r))) continue;
    sum += BigInt(e.op.kind === 'increment' ? e.op.by : -e.op.by);
  }
  return asValue(sum);
}

const counterOp = fc.record(
  {
    kind: fc.constantFrom('increment', 'decrement'),
    by: fc.oneof(
      { weight: 9, arbitrary: fc.integer({ min: 1, max: 5 }) },
      { weight: 1, arbitrary: fc.constant(MAX) },
    ),
  },
  { requiredKeys: ['kind'] },
);

describe('pn-counter parseOp', () => {
  it.each([
    [{ kind: 'increment' }, { kind: 'increment', by: 1 }],
    [
      { kind: 'increment', by: 4 },
      { kind: 'increment', by: 4 },
    ],
    [{ kind: 'decrement' }, { kind: 'decrement', by: 1 }],
    [
      { kind: 'decrement', by: MAX },
      { kind: 'decrement', by: MAX },
    ],
  ])('accepts %j', (op, parsed) => {
    expect(pnCounter.parseOp(op, pc)).toEqual(parsed);
  });

  it.each([
    null,
    5,
    'increment',
    [],
    {},
    { kind: 'inc' },
    { kind: 'increment', by: 0 },
    { kind: 'increment', by: -1 },
    { kind: 'decrement', by: -3 },
    { kind: 'increment', by: 1.5 },
    { kind: 'increment', by: '1' },
    { kind: 'increment', by: null },
    { kind: 'increment', by: MAX + 1 },
    { kind: 'increment', by: Number.POSITIVE_INFINITY },
    { kind: 'increment', by: 1, key: 'x' },
  ])('rejects %j with INVALID_OP', (op) => {
    expectSmacError(() => pnCounter.parseOp(op, pc), ErrorCode.InvalidOp);
  });

  it('enforces limits.maxCounterDelta', () => {
    const small: ParseContext = { limits: { ...DEFAULT_LIMITS, maxCounterDelta: 10 }, depth: 0 };
    expect(pnCounter.parseOp({ kind: 'decrement', by: 10 }, small)).toEqual({ kind: 'decrement', by: 10 });
    expectSmacError(() => pnCounter.parseOp({ kind: 'increment', by: 11 }, small), ErrorCode.InvalidOp);
  });

  it('a rejected op leaves the state as it was', () => {
    const s = stateOf(['a', 1, { kind: 'increment', by: 3 }]);
    const before = pnCounter.encode(s);
    expect(() => {
      apply(s, { kind: 'increment', by: -2 }, at('a', 2));
    }).toThrow();
    expect(pnCounter.encode(s)).toEqual(before);
    expect(pnCounter.value(s)).toBe(3);
  });
});

describe('pn-counter parseDownstream', () => {
  it('accepts what prepare produces', () => {
    const s = pnCounter.empty();
    for (const op of [
      { kind: 'increment', by: 7 },
      { kind: 'decrement', by: 2 },
    ]) {
      const d = pnCounter.prepare(s, pnCounter.parseOp(op, pc), at('a', 1));
      expect(pnCounter.parseDownstream(JSON.parse(JSON.stringify(d)), pc)).toEqual(d);
    }
    expect(pnCounter.prepare(s, { kind: 'decrement', by: 2 }, at('a', 1))).toEqual({ d: -2 });
  });

  it.each([
    null,
    [],
    {},
    { d: 0 },
    { d: 1.5 },
    { d: '1' },
    { d: MAX + 1 },
    { d: -(MAX + 1) },
    { d: 1, c: {} },
  ])('rejects %j with INVALID_OP', (d) => {
    expectSmacError(() => pnCounter.parseDownstream(d, pc), ErrorCode.InvalidOp);
  });

  it('enforces limits.maxCounterDelta on peers too', () => {
    const small: ParseContext = { limits: { ...DEFAULT_LIMITS, maxCounterDelta: 10 }, depth: 0 };
    expect(pnCounter.parseDownstream({ d: -10 }, small)).toEqual({ d: -10 });
    expectSmacError(() => pnCounter.parseDownstream({ d: -11 }, small), ErrorCode.InvalidOp);
  });
});

describe('pn-counter effect and value', () => {
  it('sums increments and decrements', () => {
    const s = stateOf(
      ['a', 1, { kind: 'increment' }],
      ['b', 1, { kind: 'increment', by: 10 }],
      ['a', 2, { kind: 'decrement', by: 4 }],
    );
    expect(pnCounter.value(s)).toBe(7);
    expect(pnCounter.isEmpty(s)).toBe(false);
    expect(pnCounter.value(pnCounter.empty())).toBe(0);
    expect(pnCounter.isEmpty(pnCounter.empty())).toBe(true);
  });

  it('two ops of one event share one entry', () => {
    const s = stateOf(['a', 1, { kind: 'increment', by: 5 }], ['a', 1, { kind: 'decrement', by: 2 }]);
    expect(pnCounter.encode(s)).toEqual({ entries: [['a', 1, '3']] });
    expect(pnCounter.value(s)).toBe(3);
  });

  it('stays exact beyond 2^53 and reports such sums as decimal strings', () => {
    const s = stateOf(['a', 1, { kind: 'increment', by: MAX }], ['b', 1, { kind: 'increment', by: MAX }]);
    expect(pnCounter.value(s)).toBe('18014398509481982');
    apply(s, { kind: 'decrement', by: MAX }, at('a', 2));
    expect(pnCounter.value(s)).toBe(MAX);
    const neg = stateOf(['a', 1, { kind: 'decrement', by: MAX }], ['a', 2, { kind: 'decrement', by: 2 }]);
    expect(pnCounter.value(neg)).toBe('-9007199254740993');
  });

  it('observed is the last seq per origin', () => {
    const s = stateOf(
      ['a', 1, { kind: 'increment' }],
      ['a', 3, { kind: 'increment' }],
      ['b', 2, { kind: 'increment' }],
    );
    expect(pnCounter.observed(s)).toEqual(
      new Map([
        ['a', 3],
        ['b', 2],
      ]),
    );
  });

  it('reset drops exactly the covered entries', () => {
    const s = stateOf(
      ['a', 1, { kind: 'increment', by: 1 }],
      ['a', 2, { kind: 'increment', by: 2 }],
      ['b', 1, { kind: 'increment', by: 4 }],
    );
    pnCounter.reset(s, new Map([['a', 1]]));
    expect(pnCounter.value(s)).toBe(6);
    expect(pnCounter.observed(s)).toEqual(
      new Map([
        ['a', 2],
        ['b', 1],
      ]),
    );
    pnCounter.reset(
      s,
      new Map([
        ['b', 9],
        ['z', 4],
      ]),
    );
    expect(pnCounter.value(s)).toBe(2);
    pnCounter.reset(s, new Map([['a', 2]]));
    expect(pnCounter.isEmpty(s)).toBe(true);
    expect(pnCounter.encode(s)).toEqual(pnCounter.encode(pnCounter.empty()));
  });

  it('clone is independent, including entries shared with a later op of the same event', () => {
    const s = stateOf(['a', 1, { kind: 'increment', by: 2 }]);
    const c = pnCounter.clone(s);
    apply(c, { kind: 'increment', by: 5 }, at('a', 1));
    apply(c, { kind: 'increment', by: 5 }, at('b', 1));
    expect(pnCounter.value(s)).toBe(2);
    expect(pnCounter.encode(s)).toEqual({ entries: [['a', 1, '2']] });
    expect(pnCounter.value(c)).toBe(12);
  });
});

describe('pn-counter compact', () => {
  it('folds a steady stream of increments into one entry per origin', () => {
    const s = pnCounter.empty();
    for (let seq = 1; seq <= 100; seq++) apply(s, { kind: 'increment' }, at('a', seq));
    pnCounter.compact(s, new Map([['a', 50]]));
    expect((pnCounter.encode(s) as { entries: Json[] }).entries).toHaveLength(51);
    expect(pnCounter.value(s)).toBe(100);
    pnCounter.compact(s, new Map([['a', 100]]));
    expect(pnCounter.encode(s)).toEqual({ entries: [['a', 100, '100']] });
    expect(pnCounter.value(s)).toBe(100);
    expect(pnCounter.observed(s)).toEqual(new Map([['a', 100]]));
  });

  it('keeps later resets exact', () => {
    const build = () => {
      const s = pnCounter.empty();
      for (let seq = 1; seq <= 10; seq++) apply(s, { kind: 'increment', by: seq }, at('a', seq));
      apply(s, { kind: 'decrement', by: 100 }, at('b', 1));
      return s;
    };
    for (const upTo of [6, 8, 10]) {
      const plain = build();
      const compacted = build();
      pnCounter.compact(
        compacted,
        new Map([
          ['a', 6],
          ['b', 1],
        ]),
      );
      expect(pnCounter.value(compacted)).toBe(pnCounter.value(plain));
      pnCounter.reset(plain, new Map([['a', upTo]]));
      pnCounter.reset(compacted, new Map([['a', upTo]]));
      expect(pnCounter.value(compacted)).toBe(pnCounter.value(plain));
    }
    const s = build();
    pnCounter.compact(s, new Map([['a', 6]]));
    pnCounter.reset(s, new Map([['a', 8]]));
    expect(pnCounter.value(s)).toBe(9 + 10 - 100);
  });
});

describe('pn-counter under concurrency', () => {
  const rows: [string, (Action | readonly [number, Action])[], Action[], Action[], Json][] = [
    ['inc ‖ inc', [], [inc(2)], [inc(3)], 5],
    ['inc ‖ dec', [], [inc(2)], [dec(5)], -3],
    ['dec ‖ dec', [], [dec(1)], [dec(1)], -2],
    ['inc (default 1) ‖ inc', [inc(10)], [inc()], [inc(MAX)], '9007199254741002'],
    ['reset ‖ inc: the increment survives', [inc(5)], [resetAction()], [inc(2)], 2],
    ['inc ‖ reset', [inc(5)], [inc(2)], [resetAction()], 2],
    ['reset ‖ reset', [inc(5), [1, inc(1)]], [resetAction()], [resetAction()], 0],
    ['reset ‖ dec, both origins observed', [inc(5), [1, inc(7)]], [resetAction()], [dec(1)], -1],
    ['inc then reset ‖ inc', [], [inc(4), resetAction()], [inc(2)], 2],
  ];
  it.each(rows)('%s', (_name, prefix, a, b, outcome) => {
    const run = runScript(pnCounter, pairScript(prefix, a, b));
    expect(expectConverged(pnCounter, run)).toEqual(outcome);
  });
});

describe('pn-counter properties', () => {
  it('replicas converge to the sum of the deltas no reset observed', () => {
    fc.assert(
      fc.property(scriptArb({ op: counterOp }), (script) => {
        const run = runScript(pnCounter, script);
        expect(expectConverged(pnCounter, run)).toEqual(referenceValue(run.events));
      }),
      { numRuns: 200 },
    );
  });

  it('compaction at random points changes neither convergence nor the outcome of resets', () => {
    fc.assert(
      fc.property(scriptArb({ op: counterOp, compaction: true }), (script) => {
        const run = runScript(pnCounter, script);
        expect(expectConverged(pnCounter, run)).toEqual(referenceValue(run.events));
      }),
      { numRuns: 200 },
    );
  });

  const canonicalEntries = fc
    .uniqueArray(fc.tuple(fc.constantFrom('a', 'b', 'c'), fc.integer({ min: 1, max: 50 })), {
      selector: ([o, s]) => `${o}:${s}`,
      maxLength: 12,
    })
    .chain((dots) =>
      fc.tuple(
        fc.constant(dots.sort(([o1, s1], [o2, s2]) => (o1 === o2 ? s1 - s2 : o1 < o2 ? -1 : 1))),
        fc.array(fc.bigInt({ min: -(10n ** 30n), max: 10n ** 30n }), {
          minLength: dots.length,
          maxLength: dots.length,
        }),
      ),
    )
    .map(([dots, deltas]) => ({ entries: dots.map(([o, s], i) => [o, s, (deltas[i] ?? 0n).toString()]) }));

  it('decode accepts every canonical encoding and encode gives it back', () => {
    fc.assert(
      fc.property(canonicalEntries, (j) => {
        const s = pnCounter.decode(j, pc);
        expect(pnCounter.encode(s)).toEqual(j);
        expect(pnCounter.encode(pnCounter.clone(s))).toEqual(j);
        const sum = j.entries.reduce((acc, [, , d]) => acc + BigInt(d as string), 0n);
        expect(pnCounter.value(s)).toEqual(asValue(sum));
      }),
      { numRuns: 200 },
    );
  });

  it('decode of anything either succeeds or throws DECODE_ERROR', () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.anything(), fc.record({ entries: fc.array(fc.anything(), { maxLength: 3 }) })),
        (j) => {
          try {
            pnCounter.decode(j, pc);
          } catch (e) {
            expectSmacError(() => {
              throw e;
            }, ErrorCode.DecodeError);
          }
        },
      ),
      { numRuns: 200 },
    );
  });

  it.each([
    null,
    [],
    'x',
    {},
    { entries: 5 },
    { entries: [], extra: 1 },
    { entries: [['a', 1]] },
    { entries: [['a', 1, 5]] },
    { entries: [['', 1, '5']] },
    { entries: [['a', 0, '5']] },
    { entries: [['a', 1.5, '5']] },
    { entries: [['a', 1, '05']] },
    { entries: [['a', 1, '-0']] },
    { entries: [['a', 1, '1.0']] },
    { entries: [['a', 1, ' 1']] },
    { entries: [['a', 1, '']] },
    { entries: [['a', 1, '1'.repeat(41)]] },
    {
      entries: [
        ['a', 2, '1'],
        ['a', 1, '1'],
      ],
    },
    {
      entries: [
        ['a', 1, '1'],
        ['a', 1, '1'],
      ],
    },
    {
      entries: [
        ['b', 1, '1'],
        ['a', 1, '1'],
      ],
    },
  ])('decode rejects %j with DECODE_ERROR', (j) => {
    expectSmacError(() => pnCounter.decode(j, pc), ErrorCode.DecodeError);
  });
});
