import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { elementKey } from '../../../src/core/crdt/aw-set.js';
import type { OpContext, ParseContext } from '../../../src/core/crdt/crdt.js';
import { type RwSetOp, type RwSetState, rwSet } from '../../../src/core/crdt/rw-set.js';
import { ErrorCode } from '../../../src/core/errors.js';
import type { Json } from '../../../src/core/json.js';
import { DEFAULT_LIMITS } from '../../../src/core/limits.js';
import {
  type Action,
  type HistoryEvent,
  type Script,
  type Step,
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

/** A replica for hand-written scenarios: ops are prepared here and travel as JSON. */
class Node {
  state: RwSetState = rwSet.empty();
  private seq = 0;
  constructor(readonly id: string) {}

  op(op: unknown): { d: unknown; ctx: OpContext } {
    const ctx = at(this.id, ++this.seq);
    const d = rwSet.prepare(this.state, rwSet.parseOp(op, pc), ctx);
    rwSet.effect(this.state, d, ctx);
    return { d: JSON.parse(JSON.stringify(d)), ctx };
  }

  recv(...msgs: { d: unknown; ctx: OpContext }[]): void {
    for (const m of msgs) rwSet.effect(this.state, rwSet.parseDownstream(m.d, pc), m.ctx);
  }

  get value(): Json {
    return rwSet.value(this.state);
  }
}

const add = (value: Json): Action => opAction({ kind: 'add', value });
const remove = (value: Json): Action => opAction({ kind: 'remove', value });
const clear: Action = opAction({ kind: 'clear' });

/**
 * Reference model: every op on an element (its adds and removes, every clear and reset) drops
 * the effects of the ops on it that happened before; the element is present iff the ops on it
 * that no other op on it follows include an add and no remove or clear.
 */
function referenceValue(events: readonly HistoryEvent<RwSetOp>[]): Json {
  const elements = new Map<string, Json>();
  for (const e of events) if (e.op && e.op.kind !== 'clear') elements.set(elementKey(e.op.value), e.op.value);
  const out: Json[] = [];
  for (const key of [...elements.keys()].sort()) {
    const on = events.filter(
      (y) =>
        y.kind === 'reset' ||
        y.op?.kind === 'clear' ||
        (y.op !== undefined && elementKey(y.op.value) === key),
    );
    const maximal = on.filter((y) => !on.some((z) => happenedBefore(y, z)));
    const added = maximal.some((y) => y.op?.kind === 'add');
    const removed = maximal.some((y) => y.op?.kind === 'remove' || y.op?.kind === 'clear');
    if (added && !removed) out.push(elements.get(key) ?? null);
  }
  return out;
}

const element = fc.constantFrom<Json>(
  1,
  0,
  -0,
  'a',
  null,
  [1, 'a'],
  { p: 1, q: 2 },
  JSON.parse('{"q":2,"p":1}'),
);
const setOp = fc.oneof(
  { weight: 5, arbitrary: element.map((value) => ({ kind: 'add', value })) },
  { weight: 3, arbitrary: element.map((value) => ({ kind: 'remove', value })) },
  { weight: 1, arbitrary: fc.constant({ kind: 'clear' }) },
);

describe('rw-set parseOp and parseDownstream', () => {
  it.each([
    [
      { kind: 'add', value: 1 },
      { kind: 'add', value: 1 },
    ],
    [
      { kind: 'remove', value: { b: 1, a: 2 } },
      { kind: 'remove', value: { a: 2, b: 1 } },
    ],
    [{ kind: 'clear' }, { kind: 'clear' }],
  ])('accepts %j', (op, parsed) => {
    expect(rwSet.parseOp(op, pc)).toEqual(parsed);
  });

  it.each([
    null,
    'x',
    {},
    { kind: 'toggle' },
    { kind: 'add' },
    { kind: 'add', value: 1, at: 2 },
    { kind: 'clear', c: {} },
  ])('parseOp rejects %j with INVALID_OP', (op) => {
    expectSmacError(() => rwSet.parseOp(op, pc), ErrorCode.InvalidOp);
  });

  it('rejects bad and oversized elements with INVALID_VALUE and TOO_LARGE', () => {
    expectSmacError(() => rwSet.parseOp({ kind: 'add', value: Number.NaN }, pc), ErrorCode.InvalidValue);
    expectSmacError(() => rwSet.parseOp({ kind: 'remove', value: 'abcdefg' }, small), ErrorCode.TooLarge);
    expectSmacError(() => rwSet.parseDownstream({ r: [Symbol('x')], c: {} }, pc), ErrorCode.InvalidValue);
    expectSmacError(() => rwSet.parseDownstream({ a: 'abcdefg', c: {} }, small), ErrorCode.TooLarge);
  });

  it.each([
    null,
    {},
    { a: 1 },
    { r: 1, c: [] },
    { a: 1, r: 1, c: {} },
    { x: 0, c: {} },
    { x: 1, c: {}, y: 1 },
  ])('parseDownstream rejects %j with INVALID_OP', (d) => {
    expectSmacError(() => rwSet.parseDownstream(d, pc), ErrorCode.InvalidOp);
  });

  it('parseDownstream accepts what prepare produces', () => {
    const n = new Node('a');
    n.op({ kind: 'add', value: 1 });
    n.op({ kind: 'remove', value: 2 });
    for (const op of [{ kind: 'add', value: 1 }, { kind: 'remove', value: 2 }, { kind: 'clear' }]) {
      const d = rwSet.prepare(n.state, rwSet.parseOp(op, pc), at('a', 3));
      expect(rwSet.parseDownstream(JSON.parse(JSON.stringify(d)), pc)).toEqual(d);
    }
    expect(rwSet.prepare(n.state, { kind: 'clear' }, at('a', 3))).toEqual({ x: 1, c: { a: 2 } });
  });

  it('a rejected op leaves the state as it was', () => {
    const n = new Node('a');
    n.op({ kind: 'add', value: 1 });
    const before = rwSet.encode(n.state);
    expect(() => n.op({ kind: 'add', value: () => 1 })).toThrow();
    expect(() => {
      n.recv({ d: { a: 1, c: 'x' }, ctx: at('b', 1) });
    }).toThrow();
    expect(rwSet.encode(n.state)).toEqual(before);
  });
});

describe('rw-set effect and value', () => {
  it('add, remove and add again', () => {
    const n = new Node('a');
    n.op({ kind: 'add', value: 'x' });
    expect(n.value).toEqual(['x']);
    n.op({ kind: 'remove', value: 'x' });
    expect(n.value).toEqual([]);
    expect(rwSet.encode(n.state)).toEqual({ elems: [['x', [], [['a', 2]]]], clears: [], floor: {} });
    n.op({ kind: 'add', value: 'x' });
    expect(rwSet.encode(n.state)).toEqual({ elems: [['x', [['a', 3]], []]], clears: [], floor: {} });
  });

  it('a remove of an element never added records its dot, which blocks a concurrent add', () => {
    const a = new Node('a');
    const b = new Node('b');
    const r = a.op({ kind: 'remove', value: 1 });
    expect(a.value).toEqual([]);
    expect(rwSet.isEmpty(a.state)).toBe(false);
    const x = b.op({ kind: 'add', value: 1 });
    a.recv(x);
    b.recv(r);
    expect(a.value).toEqual([]);
    expect(rwSet.encode(b.state)).toEqual(rwSet.encode(a.state));
    // A later add that observed both brings it back.
    a.recv(b.op({ kind: 'add', value: 1 }));
    expect(a.value).toEqual([1]);
  });

  it('clear removes every element, observed or not, and blocks concurrent adds of new ones', () => {
    const a = new Node('a');
    const b = new Node('b');
    const x1 = a.op({ kind: 'add', value: 1 });
    b.recv(x1);
    const c = a.op({ kind: 'clear' });
    const x2 = b.op({ kind: 'add', value: 2 });
    a.recv(x2);
    b.recv(c);
    expect(a.value).toEqual([]);
    expect(rwSet.encode(b.state)).toEqual(rwSet.encode(a.state));
    expect(rwSet.encode(a.state)).toEqual({
      elems: [[2, [['b', 1]], [['a', 2]]]],
      clears: [['a', 2]],
      floor: {},
    });
    // An add that observed the clear is not blocked by it.
    a.recv(b.op({ kind: 'add', value: 3 }));
    expect(a.value).toEqual([3]);
  });

  it('within one event the later op decides', () => {
    const s = rwSet.empty();
    rwSet.effect(s, { a: 1, c: {} }, at('a', 1));
    rwSet.effect(s, { r: 1, c: {} }, at('a', 1));
    expect(rwSet.encode(s)).toEqual({ elems: [[1, [], [['a', 1]]]], clears: [], floor: {} });
    rwSet.effect(s, { x: 1, c: { a: 1 } }, at('a', 2));
    expect(rwSet.encode(s)).toEqual({ elems: [], clears: [['a', 2]], floor: {} });
    // Prepared before the clear was applied (empty context): the event's own dot still counts as seen.
    rwSet.effect(s, { a: 1, c: {} }, at('a', 2));
    expect(rwSet.value(s)).toEqual([1]);
  });

  it('observed covers every dot and the floor', () => {
    const s = rwSet.empty();
    rwSet.effect(s, { a: 1, c: {} }, at('a', 3));
    rwSet.effect(s, { r: 2, c: {} }, at('b', 2));
    rwSet.effect(s, { x: 1, c: {} }, at('c', 1));
    expect(rwSet.observed(s)).toEqual(
      new Map([
        ['a', 3],
        ['b', 2],
        ['c', 1],
      ]),
    );
    s.floor.set('d', 7);
    expect(rwSet.observed(s).get('d')).toBe(7);
  });

  it('reset drops the covered dots everywhere and the floor', () => {
    const s = rwSet.empty();
    rwSet.effect(s, { a: 1, c: {} }, at('a', 1));
    rwSet.effect(s, { r: 1, c: {} }, at('b', 1));
    rwSet.effect(s, { a: 2, c: {} }, at('b', 2));
    rwSet.effect(s, { x: 1, c: { a: 1, b: 2 } }, at('c', 1));
    s.floor.set('a', 1);
    rwSet.reset(
      s,
      new Map([
        ['a', 1],
        ['b', 2],
      ]),
    );
    expect(rwSet.encode(s)).toEqual({ elems: [], clears: [['c', 1]], floor: {} });
    rwSet.reset(s, new Map([['c', 1]]));
    expect(rwSet.isEmpty(s)).toBe(true);
    expect(rwSet.encode(s)).toEqual(rwSet.encode(rwSet.empty()));
  });

  it('value lists present elements in canonical JSON order', () => {
    const n = new Node('a');
    for (const value of ['b', 2, { z: 1 }, null, 'a'] as Json[]) n.op({ kind: 'add', value });
    n.op({ kind: 'remove', value: null });
    expect(n.value).toEqual(['a', 'b', 2, { z: 1 }]);
  });

  it('clone is independent', () => {
    const n = new Node('a');
    n.op({ kind: 'add', value: 1 });
    n.op({ kind: 'clear' });
    n.state.floor.set('z', 1);
    const c = rwSet.clone(n.state);
    const before = rwSet.encode(n.state);
    rwSet.effect(c, { a: 1, c: { a: 2 } }, at('b', 1));
    rwSet.effect(c, { x: 1, c: {} }, at('b', 2));
    rwSet.compact(
      c,
      new Map([
        ['a', 9],
        ['b', 9],
      ]),
    );
    expect(rwSet.encode(n.state)).toEqual(before);
  });
});

describe('rw-set compact', () => {
  it('drops stable tombstones without changing the value', () => {
    const a = new Node('a');
    const b = new Node('b');
    const msgs = [
      a.op({ kind: 'add', value: 1 }),
      a.op({ kind: 'add', value: 2 }),
      a.op({ kind: 'remove', value: 1 }),
    ];
    b.recv(...msgs);
    const r3 = b.op({ kind: 'remove', value: 3 });
    a.recv(r3);
    const value = a.value;
    expect(value).toEqual([2]);
    // Not yet stable: b's remove of 3.
    rwSet.compact(a.state, new Map([['a', 3]]));
    expect(a.value).toEqual(value);
    expect((rwSet.encode(a.state) as { elems: Json[] }).elems).toEqual([
      [2, [['a', 2]], []],
      [3, [], [['b', 1]]],
    ]);
    rwSet.compact(
      a.state,
      new Map([
        ['a', 3],
        ['b', 1],
      ]),
    );
    expect(a.value).toEqual(value);
    expect(rwSet.encode(a.state)).toEqual({
      elems: [[2, [['a', 2]], []]],
      clears: [],
      floor: { a: 3, b: 1 },
    });
  });

  it('keeps a tombstone whose concurrent add is not stable yet', () => {
    const s = rwSet.empty();
    rwSet.effect(s, { r: 1, c: {} }, at('a', 1));
    rwSet.effect(s, { a: 1, c: {} }, at('b', 1));
    rwSet.compact(s, new Map([['a', 1]]));
    expect(rwSet.encode(s)).toEqual({ elems: [[1, [['b', 1]], [['a', 1]]]], clears: [], floor: { a: 1 } });
    rwSet.compact(
      s,
      new Map([
        ['a', 1],
        ['b', 1],
      ]),
    );
    expect(rwSet.encode(s)).toEqual({ elems: [], clears: [], floor: { a: 1, b: 1 } });
    expect(rwSet.value(s)).toEqual([]);
  });

  it('keeps tombstones while a clear is not stable, and drops the clear once it is', () => {
    const s = rwSet.empty();
    rwSet.effect(s, { a: 1, c: {} }, at('a', 1));
    rwSet.effect(s, { r: 1, c: { a: 1 } }, at('a', 2));
    rwSet.effect(s, { x: 1, c: {} }, at('b', 1));
    rwSet.compact(s, new Map([['a', 2]]));
    expect(rwSet.encode(s)).toEqual({
      elems: [
        [
          1,
          [],
          [
            ['a', 2],
            ['b', 1],
          ],
        ],
      ],
      clears: [['b', 1]],
      floor: { a: 2 },
    });
    rwSet.compact(
      s,
      new Map([
        ['a', 2],
        ['b', 1],
      ]),
    );
    expect(rwSet.encode(s)).toEqual({ elems: [], clears: [], floor: { a: 2, b: 1 } });
  });

  it('leaves an empty state empty', () => {
    const s = rwSet.empty();
    rwSet.compact(s, new Map([['a', 5]]));
    expect(rwSet.isEmpty(s)).toBe(true);
    expect(rwSet.encode(s)).toEqual(rwSet.encode(rwSet.empty()));
  });

  it('a replica that compacted still makes a peer that did not drop the tombstone it dropped', () => {
    const s = new Node('s');
    const t = new Node('t');
    t.recv(s.op({ kind: 'add', value: 'x' }));
    s.recv(t.op({ kind: 'remove', value: 'x' }));
    // Both have delivered both events: the tombstone is stable. Only s compacts it away.
    rwSet.compact(
      s.state,
      new Map([
        ['s', 1],
        ['t', 1],
      ]),
    );
    expect(s.state.elems.size).toBe(0);
    const again = s.op({ kind: 'add', value: 'x' });
    expect(again.d).toEqual({ a: 'x', c: { s: 1, t: 1 } });
    t.recv(again);
    expect(s.value).toEqual(['x']);
    expect(t.value).toEqual(['x']);
    rwSet.compact(
      t.state,
      new Map([
        ['s', 1],
        ['t', 1],
      ]),
    );
    expect(rwSet.encode(t.state)).toEqual(rwSet.encode(s.state));
    // The same holds for a remove and for a clear.
    rwSet.compact(
      s.state,
      new Map([
        ['s', 2],
        ['t', 1],
      ]),
    );
    rwSet.compact(
      t.state,
      new Map([
        ['s', 2],
        ['t', 1],
      ]),
    );
    t.recv(s.op({ kind: 'remove', value: 'y' }), s.op({ kind: 'clear' }));
    expect(rwSet.encode(t.state)).toEqual(rwSet.encode(s.state));
  });

  it('a delete (reset with the deleter context) after compaction leaves an empty state', () => {
    const n = new Node('a');
    n.op({ kind: 'add', value: 1 });
    n.op({ kind: 'remove', value: 1 });
    rwSet.compact(n.state, new Map([['a', 2]]));
    expect(rwSet.isEmpty(n.state)).toBe(false);
    expect(n.value).toEqual([]);
    rwSet.reset(n.state, rwSet.observed(n.state));
    expect(rwSet.isEmpty(n.state)).toBe(true);
  });
});

describe('rw-set under concurrency (each row applied in both orders)', () => {
  const rows: [string, (Action | readonly [number, Action])[], Action[], Action[], Json][] = [
    ['add ‖ remove of a present element: remove wins', [add(1)], [add(1)], [remove(1)], []],
    ['remove ‖ add of a present element: remove wins', [add(1)], [remove(1)], [add(1)], []],
    ['add ‖ remove of a new element: remove wins', [], [add(1)], [remove(1)], []],
    ['add ‖ add', [], [add(1)], [add(1)], [1]],
    ['add ‖ add of different elements', [], [add(1)], [add(2)], [1, 2]],
    ['remove ‖ remove', [add(1), add(2)], [remove(1)], [remove(1)], [2]],
    ['clear ‖ add of a new element: clear wins', [add(1), add(2)], [clear], [add(3)], []],
    ['clear ‖ add of an observed element: clear wins', [add(1), add(2)], [clear], [add(1)], []],
    ['clear ‖ remove', [add(1), add(2)], [clear], [remove(1)], []],
    ['clear ‖ clear', [add(1), [1, add(2)]], [clear], [clear], []],
    [
      'reset (delete) ‖ add of an observed element: add survives',
      [add(1), add(2)],
      [resetAction()],
      [add(1)],
      [1],
    ],
    ['reset (delete) ‖ add of a new element', [add(1)], [resetAction()], [add(3)], [3]],
    ['reset (delete) ‖ remove', [add(1), add(2)], [resetAction()], [remove(1)], []],
    ['reset (delete) ‖ clear', [add(1)], [resetAction()], [clear], []],
    ['reset (delete) ‖ reset (delete)', [add(1), [1, add(2)]], [resetAction()], [resetAction()], []],
    [
      'remove then add ‖ remove: the add did not observe the other remove',
      [add(1)],
      [remove(1), add(1)],
      [remove(1)],
      [],
    ],
  ];
  it.each(rows)('%s', (_name, prefix, a, b, outcome) => {
    const run = runScript(rwSet, pairScript(prefix, a, b));
    expect(expectConverged(rwSet, run)).toEqual(outcome);
  });

  it('add ‖ remove, then an add that observed both: present', () => {
    const steps: Step[] = [
      { t: 'act', at: 0, action: add(1) },
      { t: 'sync', at: 1 },
      { t: 'act', at: 0, action: add(1) },
      { t: 'act', at: 1, action: remove(1) },
      { t: 'sync', at: 0 },
      { t: 'sync', at: 1 },
    ];
    const before: Script = { replicas: 2, steps, finalPicks: [] };
    expect(expectConverged(rwSet, runScript(rwSet, before))).toEqual([]);
    const after: Script = { ...before, steps: [...steps, { t: 'act', at: 1, action: add(1) }] };
    expect(expectConverged(rwSet, runScript(rwSet, after))).toEqual([1]);
  });
});

describe('rw-set properties', () => {
  it('replicas converge to the reference model over random causal histories', () => {
    fc.assert(
      fc.property(scriptArb({ op: setOp }), (script) => {
        const run = runScript(rwSet, script);
        expect(expectConverged(rwSet, run)).toEqual(referenceValue(run.events));
      }),
      { numRuns: 200 },
    );
  });

  it('compaction at random points keeps convergence and the outcome, and leaves no tombstone once all is stable', () => {
    fc.assert(
      fc.property(scriptArb({ op: setOp, compaction: true }), (script) => {
        const run = runScript(rwSet, script);
        expect(expectConverged(rwSet, run)).toEqual(referenceValue(run.events));
        for (const r of run.replicas) {
          rwSet.compact(r.state, r.clock);
          expect(r.state.clears).toEqual([]);
          for (const e of r.state.elems.values()) expect([e.adds.length > 0, e.removes]).toEqual([true, []]);
        }
      }),
      { numRuns: 200 },
    );
  });

  it('encode/decode round-trips every reachable state, and clone is equal', () => {
    fc.assert(
      fc.property(scriptArb({ op: setOp, maxSteps: 20, compaction: true }), (script) => {
        const run = runScript(rwSet, script);
        for (const r of run.replicas) {
          const j = rwSet.encode(r.state);
          const back = rwSet.decode(JSON.parse(JSON.stringify(j)), pc);
          expect(rwSet.encode(back)).toEqual(j);
          expect(rwSet.value(back)).toEqual(rwSet.value(r.state));
          expect(rwSet.observed(back)).toEqual(rwSet.observed(r.state));
          expect(rwSet.isEmpty(back)).toBe(rwSet.isEmpty(r.state));
          expect(rwSet.encode(rwSet.clone(r.state))).toEqual(j);
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
          fc.record({
            elems: fc.array(fc.anything(), { maxLength: 3 }),
            clears: fc.anything(),
            floor: fc.anything(),
          }),
          fc.record({
            elems: fc.array(
              fc.tuple(fc.anything(), fc.array(fc.anything(), { maxLength: 2 }), fc.constant([])),
              {
                maxLength: 3,
              },
            ),
            clears: fc.constant([]),
            floor: fc.dictionary(fc.string(), fc.anything(), { maxKeys: 2 }),
          }),
        ),
        (j) => {
          try {
            rwSet.decode(j, pc);
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

  const ok = { elems: [], clears: [], floor: {} };
  it.each([
    null,
    [],
    {},
    { elems: [], clears: [] },
    { elems: [], floor: {} },
    { ...ok, extra: 1 },
    { ...ok, floor: { a: -1 } },
    { ...ok, floor: 5 },
    {
      ...ok,
      clears: [
        ['a', 1],
        ['a', 1],
      ],
    },
    { ...ok, clears: [['a', 0]] },
    { ...ok, elems: [[1, []]] },
    { ...ok, elems: [[1, [], [], []]] },
    { ...ok, elems: [[1, [], []]] },
    { ...ok, elems: [[1, [['a', 1]], 'x']] },
    {
      ...ok,
      elems: [
        [
          1,
          [
            ['a', 1],
            ['a', 1],
          ],
          [],
        ],
      ],
    },
    {
      ...ok,
      elems: [
        [1, [['a', 1]], []],
        [1, [['a', 2]], []],
      ],
    },
    { ...ok, elems: [[Number.NaN, [['a', 1]], []]] },
    { ...ok, elems: [['x'.repeat(DEFAULT_LIMITS.maxValueBytes), [['a', 1]], []]] },
    { elems: [[1, [], [['b', 1]]]], clears: [['b', 1]], floor: {} },
  ])('decode rejects %j with DECODE_ERROR', (j) => {
    expectSmacError(() => rwSet.decode(j, pc), ErrorCode.DecodeError);
  });

  it('decode accepts an entry that differs from the default', () => {
    const j = { elems: [[1, [], []]], clears: [['b', 1]], floor: { a: 2 } };
    expect(rwSet.encode(rwSet.decode(j, pc))).toEqual(j);
  });
});
