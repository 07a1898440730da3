// LWW-register tests. The entry list it shares with the MV-register (register-entries.ts) is
// tested here against both types: parsing, reset, clone, encode/decode.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compareHlc } from '../../../src/core/clock/hlc.js';
import type { CrdtType, OpContext, ParseContext } from '../../../src/core/crdt/crdt.js';
import { lwwRegister } from '../../../src/core/crdt/lww-register.js';
import { mvRegister } from '../../../src/core/crdt/mv-register.js';
import type { RegisterDown, RegisterOp, RegisterState } from '../../../src/core/crdt/register-entries.js';
import { ErrorCode } from '../../../src/core/errors.js';
import type { Json } from '../../../src/core/json.js';
import { DEFAULT_LIMITS } from '../../../src/core/limits.js';
import {
  type Action,
  type HistoryEvent,
  expectConverged,
  expectSmacError,
  isFollowed,
  opAction,
  pairScript,
  resetAction,
  runScript,
  scriptArb,
} from './harness.js';

type Register = CrdtType<RegisterState, RegisterOp, RegisterDown>;

const pc: ParseContext = { limits: DEFAULT_LIMITS, depth: 0 };

function at(origin: string, seq: number, wall = seq, logical = 0): OpContext {
  return { dot: { origin, seq }, hlc: { wall, logical } };
}

function set(type: Register, state: RegisterState, value: unknown, ctx: OpContext): void {
  type.effect(state, type.prepare(state, type.parseOp({ kind: 'set', value }, pc), ctx), ctx);
}

const setA = (value: Json, wall?: number, logical = 0): Action =>
  opAction({ kind: 'set', value }, wall === undefined ? undefined : { wall, logical });

/** Reference model: the writes no event has observed; the greatest (HLC, origin, seq) is read. */
function referenceValue(events: readonly HistoryEvent<RegisterOp>[]): Json {
  let best: HistoryEvent<RegisterOp> | undefined;
  for (const e of events) {
    if (!e.op || isFollowed(e, events)) continue;
    const order = best
      ? compareHlc(e.hlc, best.hlc) ||
        (e.dot.origin === best.dot.origin
          ? e.dot.seq - best.dot.seq
          : e.dot.origin < best.dot.origin
            ? -1
            : 1)
      : 1;
    if (order > 0) best = e;
  }
  return best?.op?.value ?? null;
}

const registerValue: fc.Arbitrary<Json> = fc.oneof(
  fc.constantFrom<Json>(null, 0, 1, 'x', 'y', { a: 1, b: 2 }, { b: 2, a: 1 }, [1, 2]),
  fc.jsonValue({ maxDepth: 2 }) as fc.Arbitrary<Json>,
);

describe.each([
  ['lww-register', lwwRegister],
  ['mv-register', mvRegister],
] as const)('%s (shared entry list)', (_name, type) => {
  it('parseOp accepts a set of any JSON value and stores a frozen canonical copy', () => {
    const input = { z: [1, { y: 2 }], a: null };
    const op = type.parseOp({ kind: 'set', value: input }, pc);
    expect(op).toEqual({ kind: 'set', value: input });
    expect(Object.keys(op.value as object)).toEqual(['a', 'z']);
    expect(Object.isFrozen(op.value)).toBe(true);
    input.z.push(3);
    expect(op.value).toEqual({ z: [1, { y: 2 }], a: null });
    expect(type.parseOp({ kind: 'set', value: null }, pc)).toEqual({ kind: 'set', value: null });
  });

  it.each([null, 1, [], {}, { kind: 'put', value: 1 }, { kind: 'set' }, { kind: 'set', value: 1, key: 'k' }])(
    'parseOp rejects %j with INVALID_OP',
    (op) => {
      expectSmacError(() => type.parseOp(op, pc), ErrorCode.InvalidOp);
    },
  );

  it.each([
    Number.NaN,
    Number.POSITIVE_INFINITY,
    undefined,
    new Date(0),
    () => 1,
    { x: 1n },
    { x: Symbol('s') },
  ])('parseOp rejects the non-JSON value %s with INVALID_VALUE', (value) => {
    expectSmacError(() => type.parseOp({ kind: 'set', value }, pc), ErrorCode.InvalidValue);
  });

  it('parseOp and parseDownstream enforce limits.maxValueBytes with TOO_LARGE', () => {
    const small: ParseContext = { limits: { ...DEFAULT_LIMITS, maxValueBytes: 10 }, depth: 0 };
    expect(type.parseOp({ kind: 'set', value: '12345678' }, small).value).toBe('12345678');
    expectSmacError(() => type.parseOp({ kind: 'set', value: '123456789' }, small), ErrorCode.TooLarge);
    expectSmacError(() => type.parseDownstream({ v: '123456789', c: {} }, small), ErrorCode.TooLarge);
  });

  it('parseDownstream accepts what prepare produces', () => {
    const s = type.empty();
    type.effect(s, { v: 'p', c: {} }, at('a', 1));
    type.effect(s, { v: 'q', c: {} }, at('b', 1));
    const d = type.prepare(s, type.parseOp({ kind: 'set', value: { k: [1] } }, pc), at('c', 1));
    expect(d).toEqual({ v: { k: [1] }, c: { a: 1, b: 1 } });
    expect(type.parseDownstream(JSON.parse(JSON.stringify(d)), pc)).toEqual(d);
  });

  it.each([
    null,
    [],
    {},
    { v: 1 },
    { c: {} },
    { v: 1, c: [] },
    { v: 1, c: { a: -1 } },
    { v: 1, c: { a: 1.5 } },
    { v: 1, c: { a: '1' } },
    { v: 1, c: {}, x: 0 },
  ])('parseDownstream rejects %j with INVALID_OP', (d) => {
    expectSmacError(() => type.parseDownstream(d, pc), ErrorCode.InvalidOp);
  });

  it('parseDownstream rejects a non-JSON value with INVALID_VALUE', () => {
    expectSmacError(() => type.parseDownstream({ v: Number.NaN, c: {} }, pc), ErrorCode.InvalidValue);
  });

  it('a write overwrites what it observed, even with a smaller HLC', () => {
    const s = type.empty();
    set(type, s, 'old', at('a', 1, 100));
    set(type, s, 'new', at('b', 1, 1));
    expect(type.encode(s)).toEqual({ entries: [['b', 1, 1, 0, 'new']] });
    expect(type.observed(s)).toEqual(new Map([['b', 1]]));
  });

  it('a later op of the same event replaces an earlier one', () => {
    const s = type.empty();
    set(type, s, 'old', at('a', 1));
    const ctx = at('b', 1);
    const first = type.prepare(s, type.parseOp({ kind: 'set', value: 'x' }, pc), ctx);
    const second = type.prepare(s, type.parseOp({ kind: 'set', value: 'y' }, pc), ctx);
    type.effect(s, first, ctx);
    type.effect(s, second, ctx);
    expect(type.encode(s)).toEqual({ entries: [['b', 1, 1, 0, 'y']] });
  });

  it('reset removes the covered entries only; isEmpty follows', () => {
    const s = type.empty();
    set(type, s, 'x', at('a', 1));
    type.effect(s, type.parseDownstream({ v: 'z', c: {} }, pc), at('c', 1));
    expect(type.observed(s)).toEqual(
      new Map([
        ['a', 1],
        ['c', 1],
      ]),
    );
    type.reset(
      s,
      new Map([
        ['a', 1],
        ['b', 5],
      ]),
    );
    expect(type.encode(s)).toEqual({ entries: [['c', 1, 1, 0, 'z']] });
    expect(type.isEmpty(s)).toBe(false);
    type.reset(s, new Map([['c', 1]]));
    expect(type.isEmpty(s)).toBe(true);
    expect(type.encode(s)).toEqual(type.encode(type.empty()));
  });

  it('clone is independent; compact changes nothing', () => {
    const s = type.empty();
    set(type, s, 'x', at('a', 1));
    const c = type.clone(s);
    set(type, c, 'y', at('a', 2));
    type.reset(c, new Map([['a', 2]]));
    expect(type.encode(s)).toEqual({ entries: [['a', 1, 1, 0, 'x']] });
    type.compact(s, new Map([['a', 1]]));
    expect(type.encode(s)).toEqual({ entries: [['a', 1, 1, 0, 'x']] });
  });

  it('values read out cannot be mutated', () => {
    const s = type.empty();
    set(type, s, { list: [1] }, at('a', 1));
    const v = type.value(s);
    const obj = (Array.isArray(v) ? v[0] : v) as { list: number[] };
    expect(() => obj.list.push(2)).toThrow(TypeError);
    expect(type.encode(s)).toEqual({ entries: [['a', 1, 1, 0, { list: [1] }]] });
  });

  const canonical = fc
    .uniqueArray(fc.tuple(fc.constantFrom('a', 'b', 'c'), fc.integer({ min: 1, max: 9 })), {
      selector: ([o, s]) => `${o}:${s}`,
      maxLength: 5,
    })
    .chain((dots) =>
      fc.tuple(
        fc.constant(dots.sort(([o1, s1], [o2, s2]) => (o1 === o2 ? s1 - s2 : o1 < o2 ? -1 : 1))),
        fc.array(fc.tuple(fc.nat(), fc.nat(), registerValue), {
          minLength: dots.length,
          maxLength: dots.length,
        }),
      ),
    )
    .map(([dots, rest]) => ({ entries: dots.map(([o, s], i) => [o, s, ...(rest[i] ?? [0, 0, null])]) }));

  it('decode accepts every canonical encoding and encode gives it back', () => {
    fc.assert(
      fc.property(canonical, (j) => {
        // Values are stored canonically, so -0 comes back as 0, as JSON would carry it anyway.
        const expected = JSON.parse(JSON.stringify(j));
        const s = type.decode(j, pc);
        expect(type.encode(s)).toEqual(expected);
        expect(type.encode(type.decode(JSON.parse(JSON.stringify(type.encode(s))), pc))).toEqual(expected);
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
            type.decode(j, pc);
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
    {},
    { entries: {} },
    { entries: [], x: 1 },
    { entries: [['a', 1, 1, 0]] },
    { entries: [['', 1, 1, 0, 1]] },
    { entries: [['a', 0, 1, 0, 1]] },
    { entries: [['a', 1, -1, 0, 1]] },
    { entries: [['a', 1, 1, 0.5, 1]] },
    { entries: [['a', 1, 1, 0, Number.NaN]] },
    { entries: [['a', 1, 1, 0, 'x'.repeat(DEFAULT_LIMITS.maxValueBytes)]] },
    {
      entries: [
        ['a', 2, 1, 0, 1],
        ['a', 1, 1, 0, 1],
      ],
    },
    {
      entries: [
        ['a', 1, 1, 0, 1],
        ['a', 1, 1, 0, 2],
      ],
    },
  ])('decode rejects %j with DECODE_ERROR', (j) => {
    expectSmacError(() => type.decode(j, pc), ErrorCode.DecodeError);
  });
});

describe('lww-register value', () => {
  it('is null when unset', () => {
    expect(lwwRegister.value(lwwRegister.empty())).toBeNull();
  });

  it('keeps concurrent writes and reads the greatest (HLC, origin)', () => {
    const s = lwwRegister.empty();
    lwwRegister.effect(s, { v: 'a-late', c: {} }, at('a', 1, 5, 1));
    lwwRegister.effect(s, { v: 'b-early', c: {} }, at('b', 1, 5, 0));
    expect(lwwRegister.value(s)).toBe('a-late');
    lwwRegister.effect(s, { v: 'c-tie', c: {} }, at('c', 1, 5, 1));
    expect(lwwRegister.value(s)).toBe('c-tie');
    expect((lwwRegister.encode(s) as { entries: Json[] }).entries).toHaveLength(3);
    // A delete that saw only the winner leaves the losers, exactly as at every other replica.
    lwwRegister.reset(s, new Map([['c', 1]]));
    expect(lwwRegister.value(s)).toBe('a-late');
  });
});

describe('lww-register under concurrency', () => {
  const rows: [string, (Action | readonly [number, Action])[], Action[], Action[], Json][] = [
    ['set ‖ set: higher HLC wins (a)', [], [setA('x', 2)], [setA('y', 1)], 'x'],
    ['set ‖ set: higher HLC wins (b)', [], [setA('x', 1)], [setA('y', 2)], 'y'],
    ['set ‖ set: logical counter breaks a wall tie', [], [setA('x', 1, 1)], [setA('y', 1, 0)], 'x'],
    ['set ‖ set: equal HLC, higher origin wins', [], [setA('x', 1)], [setA('y', 1)], 'y'],
    ['set ‖ set over an older value with a larger HLC', [setA('p', 9)], [setA('x', 1)], [setA('y', 2)], 'y'],
    ['reset ‖ set: the set survives', [setA('p', 1)], [resetAction()], [setA('y', 2)], 'y'],
    ['set ‖ reset: the set survives', [setA('p', 1)], [setA('x', 2)], [resetAction()], 'x'],
    ['reset ‖ reset', [setA('p', 1)], [resetAction()], [resetAction()], null],
    [
      'set then reset ‖ losing set: the loser survives',
      [],
      [setA('x', 5), resetAction()],
      [setA('y', 1)],
      'y',
    ],
  ];
  it.each(rows)('%s', (_name, prefix, a, b, outcome) => {
    const run = runScript(lwwRegister, pairScript(prefix, a, b));
    expect(expectConverged(lwwRegister, run)).toEqual(outcome);
  });
});

describe('lww-register properties', () => {
  it('replicas converge to the greatest (HLC, origin) of the writes no event observed', () => {
    fc.assert(
      fc.property(scriptArb({ op: registerValue.map((value) => ({ kind: 'set', value })) }), (script) => {
        const run = runScript(lwwRegister, script);
        expect(expectConverged(lwwRegister, run)).toEqual(referenceValue(run.events));
      }),
      { numRuns: 200 },
    );
  });
});
