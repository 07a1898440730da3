import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type AwSetOp, type AwSetState, awSet, elementKey } from '../../../src/core/crdt/aw-set.js';
import type { OpContext, ParseContext } from '../../../src/core/crdt/crdt.js';
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
const small: ParseContext = { limits: { ...DEFAULT_LIMITS, maxValueBytes: 8 }, depth: 0 };

function at(origin: string, seq: number): OpContext {
  return { dot: { origin, seq }, hlc: { wall: seq, logical: 0 } };
}

/** Parses, prepares and effects a user op at its source; returns the downstream op as sent. */
function apply(state: AwSetState, op: unknown, ctx: OpContext): Json {
  const d = awSet.prepare(state, awSet.parseOp(op, pc), ctx);
  awSet.effect(state, d, ctx);
  return JSON.parse(JSON.stringify(d)) as Json;
}

function stateOf(...ops: [origin: string, seq: number, op: unknown][]): AwSetState {
  const s = awSet.empty();
  for (const [origin, seq, op] of ops) apply(s, op, at(origin, seq));
  return s;
}

const add = (value: Json): Action => opAction({ kind: 'add', value });
const remove = (value: Json): Action => opAction({ kind: 'remove', value });
const clear: Action = opAction({ kind: 'clear' });

/**
 * Reference model (RR-7506 Spec 15): an element is present iff some add of it happened before
 * no remove of it, no clear and no reset.
 */
function referenceValue(events: readonly HistoryEvent<AwSetOp>[]): Json {
  const present = new Map<string, Json>();
  for (const e of events) {
    if (e.op?.kind !== 'add') continue;
    const key = elementKey(e.op.value);
    const cancelled = events.some(
      (y) =>
        happenedBefore(e, y) &&
        (y.kind === 'reset' ||
          y.op?.kind === 'clear' ||
          (y.op?.kind === 'remove' && elementKey(y.op.value) === key)),
    );
    if (!cancelled) present.set(key, e.op.value);
  }
  return [...present.keys()].sort().map((k) => present.get(k) ?? null);
}

// Includes two spellings of one object and 0/-0, which are one element.
const element = fc.constantFrom<Json>(
  1,
  0,
  -0,
  'a',
  null,
  true,
  [1, 'a'],
  { p: 1, q: 2 },
  JSON.parse('{"q":2,"p":1}'),
);
const setOp = fc.oneof(
  { weight: 5, arbitrary: element.map((value) => ({ kind: 'add', value })) },
  { weight: 3, arbitrary: element.map((value) => ({ kind: 'remove', value })) },
  { weight: 1, arbitrary: fc.constant({ kind: 'clear' }) },
);

describe('aw-set parseOp', () => {
  it.each([
    [
      { kind: 'add', value: 1 },
      { kind: 'add', value: 1 },
    ],
    [
      { kind: 'remove', value: 'x' },
      { kind: 'remove', value: 'x' },
    ],
    [
      { kind: 'add', value: null },
      { kind: 'add', value: null },
    ],
    [
      { kind: 'add', value: -0 },
      { kind: 'add', value: 0 },
    ],
    [{ kind: 'clear' }, { kind: 'clear' }],
  ])('accepts %j', (op, parsed) => {
    expect(awSet.parseOp(op, pc)).toStrictEqual(parsed);
  });

  it('returns the canonical form of an element (sorted keys, a copy)', () => {
    const value = { b: [1, { d: 1, c: 2 }], a: 'x' };
    const parsed = awSet.parseOp({ kind: 'add', value }, pc);
    expect(JSON.stringify(parsed)).toBe('{"kind":"add","value":{"a":"x","b":[1,{"c":2,"d":1}]}}');
    value.a = 'changed';
    expect(parsed).toEqual({ kind: 'add', value: { a: 'x', b: [1, { c: 2, d: 1 }] } });
  });

  it.each([
    null,
    5,
    'add',
    [],
    {},
    { kind: 'insert', value: 1 },
    { kind: 'add' },
    { kind: 'remove', value: undefined },
    { kind: 'add', value: 1, extra: 1 },
    { kind: 'clear', value: 1 },
  ])('rejects %j with INVALID_OP', (op) => {
    expectSmacError(() => awSet.parseOp(op, pc), ErrorCode.InvalidOp);
  });

  it.each([
    ['NaN', Number.NaN],
    ['a function', () => 1],
    ['a Date', new Date(0)],
    ['a nested Infinity', { x: [Number.POSITIVE_INFINITY] }],
  ])('rejects %s as an element with INVALID_VALUE', (_name, value) => {
    expectSmacError(() => awSet.parseOp({ kind: 'add', value }, pc), ErrorCode.InvalidValue);
    expectSmacError(() => awSet.parseOp({ kind: 'remove', value }, pc), ErrorCode.InvalidValue);
  });

  it('enforces limits.maxValueBytes with TOO_LARGE', () => {
    expect(awSet.parseOp({ kind: 'add', value: 'abcdef' }, small)).toEqual({ kind: 'add', value: 'abcdef' });
    expectSmacError(() => awSet.parseOp({ kind: 'add', value: 'abcdefg' }, small), ErrorCode.TooLarge);
    expectSmacError(() => awSet.parseOp({ kind: 'remove', value: [1, 2, 3, 4] }, small), ErrorCode.TooLarge);
  });

  it('a rejected op leaves the state as it was', () => {
    const s = stateOf(['a', 1, { kind: 'add', value: 1 }]);
    const before = awSet.encode(s);
    expect(() => apply(s, { kind: 'add', value: Number.NaN }, at('a', 2))).toThrow();
    expect(() => apply(s, { kind: 'remove' }, at('a', 2))).toThrow();
    expect(awSet.encode(s)).toEqual(before);
  });
});

describe('aw-set parseDownstream', () => {
  it('accepts what prepare produces, through JSON', () => {
    const s = awSet.empty();
    awSet.effect(s, { a: 1, c: {} }, at('a', 1));
    awSet.effect(s, { a: 1, c: {} }, at('b', 4));
    const ops: [unknown, Json][] = [
      [
        { kind: 'add', value: 1 },
        { a: 1, c: { a: 1, b: 4 } },
      ],
      [
        { kind: 'remove', value: 1 },
        { r: 1, c: { a: 1, b: 4 } },
      ],
      [
        { kind: 'add', value: 2 },
        { a: 2, c: {} },
      ],
      [{ kind: 'clear' }, { x: 1, c: { a: 1, b: 4 } }],
    ];
    for (const [op, expected] of ops) {
      const d = awSet.prepare(s, awSet.parseOp(op, pc), at('a', 2));
      expect(d).toEqual(expected);
      expect(awSet.parseDownstream(JSON.parse(JSON.stringify(d)), pc)).toEqual(d);
    }
  });

  it('normalizes an element spelled differently by a peer', () => {
    expect(awSet.parseDownstream(JSON.parse('{"a":{"z":1,"y":2},"c":{}}'), pc)).toStrictEqual({
      a: { y: 2, z: 1 },
      c: {},
    });
  });

  it.each([
    null,
    [],
    'x',
    {},
    { c: {} },
    { a: 1 },
    { a: 1, c: 5 },
    { a: 1, c: { a: -1 } },
    { a: 1, c: { a: 1.5 } },
    { a: 1, c: { '': 1 } },
    { a: 1, r: 1, c: {} },
    { a: 1, x: 1, c: {} },
    { x: 2, c: {} },
    { x: true, c: {} },
    { a: 1, c: {}, z: 0 },
  ])('rejects %j with INVALID_OP', (d) => {
    expectSmacError(() => awSet.parseDownstream(d, pc), ErrorCode.InvalidOp);
  });

  it('rejects bad and oversized elements with INVALID_VALUE and TOO_LARGE', () => {
    expectSmacError(() => awSet.parseDownstream({ a: Number.NaN, c: {} }, pc), ErrorCode.InvalidValue);
    expectSmacError(() => awSet.parseDownstream({ r: new Map(), c: {} }, pc), ErrorCode.InvalidValue);
    expectSmacError(() => awSet.parseDownstream({ a: 'abcdefg', c: {} }, small), ErrorCode.TooLarge);
  });
});

describe('aw-set effect and value', () => {
  it('add makes an element present; adding again from the same origin keeps one tag', () => {
    const s = stateOf(['a', 1, { kind: 'add', value: 'x' }], ['a', 2, { kind: 'add', value: 'x' }]);
    expect(awSet.value(s)).toEqual(['x']);
    expect(awSet.encode(s)).toEqual({ elems: [['x', [['a', 2]]]] });
    expect(awSet.isEmpty(s)).toBe(false);
  });

  it('an add replaces the tags it observed, keeping those of concurrent adders', () => {
    const s = awSet.empty();
    awSet.effect(s, { a: 'x', c: {} }, at('a', 1));
    awSet.effect(s, { a: 'x', c: {} }, at('b', 1));
    expect(awSet.encode(s)).toEqual({
      elems: [
        [
          'x',
          [
            ['a', 1],
            ['b', 1],
          ],
        ],
      ],
    });
    awSet.effect(s, { a: 'x', c: { a: 1 } }, at('c', 1));
    expect(awSet.encode(s)).toEqual({
      elems: [
        [
          'x',
          [
            ['b', 1],
            ['c', 1],
          ],
        ],
      ],
    });
  });

  it('remove drops the observed tags only', () => {
    const s = awSet.empty();
    awSet.effect(s, { a: 'x', c: {} }, at('a', 1));
    awSet.effect(s, { a: 'x', c: {} }, at('b', 1));
    awSet.effect(s, { r: 'x', c: { a: 1 } }, at('c', 1));
    expect(awSet.encode(s)).toEqual({ elems: [['x', [['b', 1]]]] });
    awSet.effect(s, { r: 'x', c: { b: 1 } }, at('c', 2));
    expect(awSet.value(s)).toEqual([]);
    expect(awSet.isEmpty(s)).toBe(true);
    expect(awSet.encode(s)).toEqual(awSet.encode(awSet.empty()));
  });

  it('removing an element that is not there changes nothing', () => {
    const s = stateOf(['a', 1, { kind: 'add', value: 1 }]);
    apply(s, { kind: 'remove', value: 2 }, at('a', 2));
    expect(awSet.encode(s)).toEqual({ elems: [[1, [['a', 1]]]] });
  });

  it('clear drops every observed tag and keeps unobserved ones', () => {
    const s = stateOf(['a', 1, { kind: 'add', value: 1 }], ['a', 2, { kind: 'add', value: 2 }]);
    awSet.effect(s, { a: 3, c: {} }, at('b', 1));
    awSet.effect(s, { x: 1, c: { a: 2 } }, at('c', 1));
    expect(awSet.value(s)).toEqual([3]);
    apply(s, { kind: 'clear' }, at('c', 2));
    expect(awSet.isEmpty(s)).toBe(true);
  });

  it('within one event the later op decides', () => {
    const s = awSet.empty();
    awSet.effect(s, { a: 1, c: {} }, at('a', 1));
    awSet.effect(s, { r: 1, c: {} }, at('a', 1));
    expect(awSet.value(s)).toEqual([]);
    awSet.effect(s, { a: 2, c: {} }, at('a', 2));
    awSet.effect(s, { a: 2, c: {} }, at('a', 2));
    expect(awSet.encode(s)).toEqual({ elems: [[2, [['a', 2]]]] });
  });

  it('one element per canonical form, returned in canonical form', () => {
    const s = stateOf(
      ['a', 1, { kind: 'add', value: { q: 2, p: 1 } }],
      ['b', 1, { kind: 'add', value: { p: 1, q: 2 } }],
    );
    expect(awSet.value(s)).toEqual([{ p: 1, q: 2 }]);
    expect(JSON.stringify(awSet.value(s))).toBe('[{"p":1,"q":2}]');
    apply(s, { kind: 'remove', value: { q: 2, p: 1 } }, at('c', 1));
    expect(awSet.isEmpty(s)).toBe(true);
  });

  it('value orders elements by canonical JSON', () => {
    const s = awSet.empty();
    const values: Json[] = ['b', 1, { a: 1 }, [1], null, 'a', 10, false];
    values.forEach((value, i) => apply(s, { kind: 'add', value }, at('a', i + 1)));
    // '"a"' < '"b"' < '1' < '10' < '[1]' < 'false' < 'null' < '{"a":1}'
    expect(awSet.value(s)).toEqual(['a', 'b', 1, 10, [1], false, null, { a: 1 }]);
  });

  it('observed is the last seq per origin over all tags', () => {
    const s = awSet.empty();
    awSet.effect(s, { a: 1, c: {} }, at('a', 3));
    awSet.effect(s, { a: 2, c: {} }, at('a', 5));
    awSet.effect(s, { a: 2, c: {} }, at('b', 2));
    expect(awSet.observed(s)).toEqual(
      new Map([
        ['a', 5],
        ['b', 2],
      ]),
    );
    expect(awSet.observed(awSet.empty())).toEqual(new Map());
  });

  it('reset drops exactly the covered tags', () => {
    const s = awSet.empty();
    awSet.effect(s, { a: 1, c: {} }, at('a', 1));
    awSet.effect(s, { a: 2, c: {} }, at('a', 2));
    awSet.effect(s, { a: 2, c: {} }, at('b', 1));
    awSet.reset(s, new Map([['a', 2]]));
    expect(awSet.encode(s)).toEqual({ elems: [[2, [['b', 1]]]] });
    awSet.reset(s, new Map([['b', 1]]));
    expect(awSet.isEmpty(s)).toBe(true);
  });

  it('compact changes nothing', () => {
    const s = stateOf(['a', 1, { kind: 'add', value: 1 }], ['b', 1, { kind: 'add', value: 2 }]);
    const before = awSet.encode(s);
    awSet.compact(
      s,
      new Map([
        ['a', 9],
        ['b', 9],
      ]),
    );
    expect(awSet.encode(s)).toEqual(before);
    expect(awSet.value(s)).toEqual([1, 2]);
  });

  it('clone is independent', () => {
    const s = stateOf(['a', 1, { kind: 'add', value: 1 }]);
    const c = awSet.clone(s);
    awSet.effect(c, { a: 1, c: {} }, at('b', 1));
    apply(c, { kind: 'add', value: 2 }, at('b', 2));
    apply(s, { kind: 'remove', value: 1 }, at('a', 2));
    expect(awSet.value(s)).toEqual([]);
    expect(awSet.encode(c)).toEqual({
      elems: [
        [
          1,
          [
            ['a', 1],
            ['b', 1],
          ],
        ],
        [2, [['b', 2]]],
      ],
    });
  });
});

describe('aw-set under concurrency (each row applied in both orders)', () => {
  const rows: [string, (Action | readonly [number, Action])[], Action[], Action[], Json][] = [
    ['add ‖ remove of a present element: add wins', [add(1)], [add(1)], [remove(1)], [1]],
    ['remove ‖ add of a present element: add wins', [add(1)], [remove(1)], [add(1)], [1]],
    ['add ‖ remove of a new element: add wins', [], [add(1)], [remove(1)], [1]],
    ['add ‖ add', [], [add(1)], [add(1)], [1]],
    ['add ‖ add of different elements', [], [add(1)], [add(2)], [1, 2]],
    ['remove ‖ remove', [add(1), add(2)], [remove(1)], [remove(1)], [2]],
    ['clear ‖ add of a new element', [add(1), add(2)], [clear], [add(3)], [3]],
    ['clear ‖ add of an observed element: add wins', [add(1), add(2)], [clear], [add(1)], [1]],
    ['clear ‖ remove', [add(1), add(2)], [clear], [remove(1)], []],
    ['clear ‖ clear', [add(1), [1, add(2)]], [clear], [clear], []],
    [
      'reset (delete) ‖ add of an observed element: add wins',
      [add(1), add(2)],
      [resetAction()],
      [add(1)],
      [1],
    ],
    ['reset (delete) ‖ add of a new element', [add(1)], [resetAction()], [add(3)], [3]],
    ['reset (delete) ‖ remove', [add(1), add(2)], [resetAction()], [remove(1)], []],
    ['reset (delete) ‖ clear', [add(1)], [resetAction()], [clear], []],
    ['reset (delete) ‖ reset (delete)', [add(1), [1, add(2)]], [resetAction()], [resetAction()], []],
    ['remove then add ‖ remove', [add(1)], [remove(1), add(1)], [remove(1)], [1]],
  ];
  it.each(rows)('%s', (_name, prefix, a, b, outcome) => {
    const run = runScript(awSet, pairScript(prefix, a, b));
    expect(expectConverged(awSet, run)).toEqual(outcome);
  });
});

describe('aw-set properties', () => {
  it('replicas converge to the reference model over random causal histories', () => {
    fc.assert(
      fc.property(scriptArb({ op: setOp }), (script) => {
        const run = runScript(awSet, script);
        expect(expectConverged(awSet, run)).toEqual(referenceValue(run.events));
      }),
      { numRuns: 200 },
    );
  });

  it('tags stay bounded by the number of concurrent adders', () => {
    fc.assert(
      fc.property(scriptArb({ op: setOp }), (script) => {
        const run = runScript(awSet, script);
        for (const r of run.replicas) {
          for (const e of r.state.values()) {
            expect(new Set(e.tags.map((t) => t.origin)).size).toBe(e.tags.length);
          }
        }
      }),
      { numRuns: 100 },
    );
  });

  it('encode/decode round-trips every reachable state, and clone is equal', () => {
    fc.assert(
      fc.property(scriptArb({ op: setOp, maxSteps: 20 }), (script) => {
        const run = runScript(awSet, script);
        for (const r of run.replicas) {
          const j = awSet.encode(r.state);
          const back = awSet.decode(JSON.parse(JSON.stringify(j)), pc);
          expect(awSet.encode(back)).toEqual(j);
          expect(awSet.value(back)).toEqual(awSet.value(r.state));
          expect(awSet.observed(back)).toEqual(awSet.observed(r.state));
          expect(awSet.encode(awSet.clone(r.state))).toEqual(j);
        }
      }),
      { numRuns: 100 },
    );
  });

  it('decode of anything either succeeds or throws DECODE_ERROR', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.anything(),
          fc.record({ elems: fc.array(fc.anything(), { maxLength: 3 }) }),
          fc.record({
            elems: fc.array(fc.tuple(fc.anything(), fc.array(fc.anything(), { maxLength: 2 })), {
              maxLength: 3,
            }),
          }),
        ),
        (j) => {
          try {
            awSet.decode(j, pc);
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
    { elems: 5 },
    { elems: [], extra: 1 },
    { elems: [[1]] },
    { elems: [[1, [['a', 1]], 3]] },
    { elems: [[1, []]] },
    { elems: [[1, 'a']] },
    { elems: [[1, [['a', 0]]]] },
    { elems: [[1, [['', 1]]]] },
    { elems: [[1, [['a', 1.5]]]] },
    {
      elems: [
        [
          1,
          [
            ['a', 1],
            ['a', 1],
          ],
        ],
      ],
    },
    {
      elems: [
        [1, [['a', 1]]],
        [1, [['b', 1]]],
      ],
    },
    {
      elems: [
        [{ p: 1, q: 2 }, [['a', 1]]],
        [JSON.parse('{"q":2,"p":1}'), [['b', 1]]],
      ],
    },
    { elems: [[Number.NaN, [['a', 1]]]] },
    { elems: [[() => 1, [['a', 1]]]] },
    { elems: [['x'.repeat(DEFAULT_LIMITS.maxValueBytes), [['a', 1]]]] },
  ])('decode rejects %j with DECODE_ERROR', (j) => {
    expectSmacError(() => awSet.decode(j, pc), ErrorCode.DecodeError);
  });
});
