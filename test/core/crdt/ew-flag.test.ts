import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { OpContext, ParseContext } from '../../../src/core/crdt/crdt.js';
import { type EwFlagOp, type EwFlagState, ewFlag } from '../../../src/core/crdt/ew-flag.js';
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

const pc: ParseContext = { limits: DEFAULT_LIMITS, depth: 0 };

function at(origin: string, seq: number): OpContext {
  return { dot: { origin, seq }, hlc: { wall: seq, logical: 0 } };
}

function apply(state: EwFlagState, kind: string, ctx: OpContext): void {
  ewFlag.effect(state, ewFlag.prepare(state, ewFlag.parseOp({ kind }, pc), ctx), ctx);
}

const enable: Action = opAction({ kind: 'enable' });
const disable: Action = opAction({ kind: 'disable' });

/** Reference model: on iff some enable has not been observed by any later event. */
function referenceValue(events: readonly HistoryEvent<EwFlagOp>[]): Json {
  return events.some((e) => e.op?.kind === 'enable' && !isFollowed(e, events));
}

describe('ew-flag ops', () => {
  it.each([
    [{ kind: 'enable' }, { kind: 'enable' }],
    [{ kind: 'disable' }, { kind: 'disable' }],
  ])('parseOp accepts %j', (op, parsed) => {
    expect(ewFlag.parseOp(op, pc)).toEqual(parsed);
  });

  it.each([null, 'enable', [], {}, { kind: 'on' }, { kind: 'enable', value: true }])(
    'parseOp rejects %j with INVALID_OP',
    (op) => {
      expectSmacError(() => ewFlag.parseOp(op, pc), ErrorCode.InvalidOp);
    },
  );

  it('prepare captures the observed context; parseDownstream accepts it', () => {
    const s = ewFlag.empty();
    ewFlag.effect(s, { e: true, c: {} }, at('a', 2));
    ewFlag.effect(s, { e: true, c: {} }, at('b', 1));
    for (const kind of ['enable', 'disable']) {
      const d = ewFlag.prepare(s, ewFlag.parseOp({ kind }, pc), at('c', 1));
      expect(d).toEqual({ e: kind === 'enable', c: { a: 2, b: 1 } });
      expect(ewFlag.parseDownstream(JSON.parse(JSON.stringify(d)), pc)).toEqual(d);
    }
  });

  it.each([
    null,
    {},
    { e: true },
    { c: {} },
    { e: 1, c: {} },
    { e: 'true', c: {} },
    { e: true, c: [] },
    { e: true, c: { a: 0.5 } },
    { e: true, c: {}, x: 1 },
  ])('parseDownstream rejects %j with INVALID_OP', (d) => {
    expectSmacError(() => ewFlag.parseDownstream(d, pc), ErrorCode.InvalidOp);
  });

  it('enable turns it on, disable off; a rejected op leaves the state as it was', () => {
    const s = ewFlag.empty();
    expect(ewFlag.value(s)).toBe(false);
    apply(s, 'enable', at('a', 1));
    expect(ewFlag.value(s)).toBe(true);
    apply(s, 'enable', at('a', 2));
    expect(ewFlag.encode(s)).toEqual({ dots: [['a', 2]] });
    expect(() => {
      apply(s, 'toggle', at('a', 3));
    }).toThrow();
    expect(ewFlag.encode(s)).toEqual({ dots: [['a', 2]] });
    apply(s, 'disable', at('b', 1));
    expect(ewFlag.value(s)).toBe(false);
    expect(ewFlag.isEmpty(s)).toBe(true);
    apply(s, 'disable', at('b', 2));
    expect(ewFlag.value(s)).toBe(false);
  });

  it('the last op of an event decides, even when all were prepared before any was applied', () => {
    for (const [first, second, on] of [
      ['enable', 'disable', false],
      ['disable', 'enable', true],
    ] as const) {
      const s = ewFlag.empty();
      const ctx = at('a', 1);
      const d1 = ewFlag.prepare(s, ewFlag.parseOp({ kind: first }, pc), ctx);
      const d2 = ewFlag.prepare(s, ewFlag.parseOp({ kind: second }, pc), ctx);
      ewFlag.effect(s, d1, ctx);
      ewFlag.effect(s, d2, ctx);
      expect(ewFlag.value(s)).toBe(on);
    }
  });

  it('observed, reset, clone and compact', () => {
    const s = ewFlag.empty();
    ewFlag.effect(s, { e: true, c: {} }, at('b', 3));
    ewFlag.effect(s, { e: true, c: {} }, at('a', 1));
    expect(ewFlag.encode(s)).toEqual({
      dots: [
        ['a', 1],
        ['b', 3],
      ],
    });
    expect(ewFlag.observed(s)).toEqual(
      new Map([
        ['a', 1],
        ['b', 3],
      ]),
    );
    const c = ewFlag.clone(s);
    ewFlag.reset(c, new Map([['b', 3]]));
    expect(ewFlag.encode(c)).toEqual({ dots: [['a', 1]] });
    expect(ewFlag.encode(s)).toEqual({
      dots: [
        ['a', 1],
        ['b', 3],
      ],
    });
    ewFlag.compact(
      s,
      new Map([
        ['a', 1],
        ['b', 3],
      ]),
    );
    expect(ewFlag.encode(s)).toEqual({
      dots: [
        ['a', 1],
        ['b', 3],
      ],
    });
    ewFlag.reset(c, new Map([['a', 1]]));
    expect(ewFlag.isEmpty(c)).toBe(true);
    expect(ewFlag.value(c)).toBe(false);
  });
});

describe('ew-flag under concurrency', () => {
  const rows: [string, Action[], Action[], Action[], Json][] = [
    ['enable ‖ disable: enable wins', [], [enable], [disable], true],
    ['disable ‖ enable: enable wins', [], [disable], [enable], true],
    ['enable ‖ enable', [], [enable], [enable], true],
    ['disable ‖ disable', [enable], [disable], [disable], false],
    ['enable ‖ disable, both over on', [enable], [enable], [disable], true],
    ['reset ‖ enable: the enable survives', [enable], [resetAction()], [enable], true],
    ['reset ‖ disable', [enable], [resetAction()], [disable], false],
    ['reset ‖ reset', [enable], [resetAction()], [resetAction()], false],
    ['enable then disable ‖ enable', [], [enable, disable], [enable], true],
  ];
  it.each(rows)('%s', (_name, prefix, a, b, outcome) => {
    const run = runScript(ewFlag, pairScript(prefix, a, b));
    expect(expectConverged(ewFlag, run)).toBe(outcome);
  });
});

describe('ew-flag properties', () => {
  it('replicas converge to "some enable not observed by a later event"', () => {
    fc.assert(
      fc.property(scriptArb({ op: fc.constantFrom({ kind: 'enable' }, { kind: 'disable' }) }), (script) => {
        const run = runScript(ewFlag, script);
        expect(expectConverged(ewFlag, run)).toBe(referenceValue(run.events));
      }),
      { numRuns: 200 },
    );
  });

  const canonical = fc
    .uniqueArray(fc.tuple(fc.constantFrom('a', 'b', 'c'), fc.integer({ min: 1, max: 9 })), {
      selector: ([o, s]) => `${o}:${s}`,
      maxLength: 6,
    })
    .map((dots) => ({ dots: dots.sort(([o1, s1], [o2, s2]) => (o1 === o2 ? s1 - s2 : o1 < o2 ? -1 : 1)) }));

  it('decode accepts every canonical encoding and encode gives it back', () => {
    fc.assert(
      fc.property(canonical, (j) => {
        const s = ewFlag.decode(j, pc);
        expect(ewFlag.encode(s)).toEqual(j);
        expect(ewFlag.value(s)).toBe(j.dots.length > 0);
      }),
      { numRuns: 200 },
    );
  });

  it('decode of anything either succeeds or throws DECODE_ERROR', () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.anything(), fc.record({ dots: fc.array(fc.anything(), { maxLength: 3 }) })),
        (j) => {
          try {
            ewFlag.decode(j, pc);
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
    { dots: {} },
    { dots: [], x: 1 },
    { dots: [['a']] },
    { dots: [['a', 0]] },
    { dots: [['', 1]] },
    { dots: [[1, 1]] },
    {
      dots: [
        ['b', 1],
        ['a', 1],
      ],
    },
    {
      dots: [
        ['a', 1],
        ['a', 1],
      ],
    },
  ])('decode rejects %j with DECODE_ERROR', (j) => {
    expectSmacError(() => ewFlag.decode(j, pc), ErrorCode.DecodeError);
  });
});
