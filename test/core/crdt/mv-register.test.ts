// MV-register tests. Parsing, reset, clone and encode/decode of the entry list it shares with
// the LWW-register are tested against both types in lww-register.test.ts.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { OpContext, ParseContext } from '../../../src/core/crdt/crdt.js';
import { mvRegister } from '../../../src/core/crdt/mv-register.js';
import type { RegisterOp } from '../../../src/core/crdt/register-entries.js';
import { ErrorCode } from '../../../src/core/errors.js';
import { type Json, canonicalJson } from '../../../src/core/json.js';
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

const pc: ParseContext = { limits: DEFAULT_LIMITS, depth: 0 };

function at(origin: string, seq: number): OpContext {
  return { dot: { origin, seq }, hlc: { wall: seq, logical: 0 } };
}

const setA = (value: Json): Action => opAction({ kind: 'set', value });

/** Reference model: the distinct values of the writes no event observed, by canonical JSON. */
function referenceValue(events: readonly HistoryEvent<RegisterOp>[]): Json {
  const live = new Map<string, Json>();
  for (const e of events) {
    if (e.op && !isFollowed(e, events))
      live.set(canonicalJson(e.op.value, Number.POSITIVE_INFINITY), e.op.value);
  }
  return [...live.keys()].sort().map((k) => live.get(k) ?? null);
}

const registerValue: fc.Arbitrary<Json> = fc.oneof(
  fc.constantFrom<Json>(null, 0, 1, 'x', 'y', { a: 1, b: 2 }, { b: 2, a: 1 }, [1, 2]),
  fc.jsonValue({ maxDepth: 2 }) as fc.Arbitrary<Json>,
);

describe('mv-register ops and value', () => {
  it('is [] when unset and [v] after a single write', () => {
    const s = mvRegister.empty();
    expect(mvRegister.value(s)).toEqual([]);
    const op = mvRegister.parseOp({ kind: 'set', value: { n: 1 } }, pc);
    mvRegister.effect(s, mvRegister.prepare(s, op, at('a', 1)), at('a', 1));
    expect(mvRegister.value(s)).toEqual([{ n: 1 }]);
  });

  it('returns concurrent writes as siblings ordered by canonical JSON, without duplicates', () => {
    const s = mvRegister.empty();
    mvRegister.effect(s, { v: 2, c: {} }, at('a', 1));
    mvRegister.effect(s, { v: 'a', c: {} }, at('b', 1));
    mvRegister.effect(s, { v: { y: 1, x: 2 }, c: {} }, at('c', 1));
    mvRegister.effect(s, { v: { x: 2, y: 1 }, c: {} }, at('d', 1));
    // '"a"' < '2' < '{"x":2,"y":1}' as strings.
    expect(mvRegister.value(s)).toEqual(['a', 2, { x: 2, y: 1 }]);
    // A write that observed every sibling replaces them all.
    const op = mvRegister.parseOp({ kind: 'set', value: 'merged' }, pc);
    mvRegister.effect(s, mvRegister.prepare(s, op, at('a', 2)), at('a', 2));
    expect(mvRegister.value(s)).toEqual(['merged']);
  });

  it('rejects a malformed op with INVALID_OP and leaves the state as it was', () => {
    const s = mvRegister.empty();
    mvRegister.effect(s, { v: 1, c: {} }, at('a', 1));
    const before = mvRegister.encode(s);
    expectSmacError(() => mvRegister.parseOp({ kind: 'add', value: 2 }, pc), ErrorCode.InvalidOp);
    expectSmacError(() => mvRegister.parseDownstream({ v: 2 }, pc), ErrorCode.InvalidOp);
    expect(mvRegister.encode(s)).toEqual(before);
  });
});

describe('mv-register under concurrency', () => {
  const rows: [string, (Action | readonly [number, Action])[], Action[], Action[], Json][] = [
    ['set ‖ set: siblings', [], [setA('x')], [setA('y')], ['x', 'y']],
    [
      'set ‖ set of the same value: one sibling',
      [],
      [setA({ a: 1, b: 2 })],
      [setA({ b: 2, a: 1 })],
      [{ a: 1, b: 2 }],
    ],
    ['set ‖ set over an older value', [setA('p')], [setA(2)], [setA(1)], [1, 2]],
    ['set observing both siblings ‖ nothing', [setA('x'), [1, setA('y')]], [setA('z')], [], ['z']],
    [
      'set ‖ set, both observing the siblings',
      [setA('x'), [1, setA('y')]],
      [setA('z')],
      [setA('w')],
      ['w', 'z'],
    ],
    ['reset ‖ set: the set survives', [setA('p')], [resetAction()], [setA('y')], ['y']],
    ['set ‖ reset: the set survives', [setA('p')], [setA('x')], [resetAction()], ['x']],
    ['reset ‖ reset', [setA('p')], [resetAction()], [resetAction()], []],
    ['set then reset ‖ set', [], [setA('x'), resetAction()], [setA('y')], ['y']],
  ];
  it.each(rows)('%s', (_name, prefix, a, b, outcome) => {
    const run = runScript(mvRegister, pairScript(prefix, a, b));
    expect(expectConverged(mvRegister, run)).toEqual(outcome);
  });
});

describe('mv-register properties', () => {
  it('replicas converge to the values of the writes no event observed', () => {
    fc.assert(
      fc.property(scriptArb({ op: registerValue.map((value) => ({ kind: 'set', value })) }), (script) => {
        const run = runScript(mvRegister, script);
        expect(expectConverged(mvRegister, run)).toEqual(referenceValue(run.events));
      }),
      { numRuns: 200 },
    );
  });
});
