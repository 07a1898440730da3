// OR-map tests: fields addressed by (type, name), update-wins against a concurrent remove with
// causal reset of what the remover saw, nesting, and convergence over random histories.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { orMap } from '../../../src/core/crdt/or-map.js';
import { ErrorCode } from '../../../src/core/errors.js';
import { DEFAULT_LIMITS } from '../../../src/core/limits.js';
import {
  expectConverged,
  expectSmacError,
  opAction,
  pairScript,
  resetAction,
  runScript,
  scriptArb,
} from './harness.js';

const pc = { limits: DEFAULT_LIMITS, depth: 1 };
const upd = (field: string, type: string, op: unknown) => opAction({ kind: 'update', field, type, op });
const inc = (field: string, by = 1) => upd(field, 'pn-counter', { kind: 'increment', by });
const rm = (field: string, type: string) => opAction({ kind: 'remove', field, type });
const create = (field: string, type: string) => opAction({ kind: 'create', field, type });

function pair(
  prefix: Parameters<typeof pairScript>[0],
  a: Parameters<typeof pairScript>[1],
  b: Parameters<typeof pairScript>[2],
) {
  return expectConverged(orMap, runScript(orMap, pairScript(prefix, a, b)));
}

describe('or-map: sequential behaviour', () => {
  it('an update creates the field; remove deletes it', () => {
    expect(pair([inc('hits', 2)], [], [])).toEqual({ hits: 2 });
    expect(pair([inc('hits', 2), rm('hits', 'pn-counter')], [], [])).toEqual({});
  });

  it('create makes an empty field of the given type', () => {
    expect(pair([create('tags', 'aw-set')], [], [])).toEqual({ tags: [] });
  });

  it('a field name used with two types shows both as field@type', () => {
    expect(pair([inc('x'), upd('x', 'lww-register', { kind: 'set', value: 'v' })], [], [])).toEqual({
      'x@lww-register': 'v',
      'x@pn-counter': 1,
    });
  });

  it('nests maps', () => {
    const v = pair(
      [
        upd('inner', 'or-map', {
          kind: 'update',
          field: 'n',
          type: 'pn-counter',
          op: { kind: 'increment', by: 3 },
        }),
      ],
      [],
      [],
    );
    expect(v).toEqual({ inner: { n: 3 } });
  });
});

describe('or-map: concurrent semantics (docs/semantics.md)', () => {
  it.each([
    ['update ‖ update (same counter field)', [inc('c', 1)], [inc('c', 2)], [inc('c', 4)], { c: 7 }],
    [
      'remove ‖ update: update wins, remover-observed effects are reset',
      [inc('c', 5)],
      [rm('c', 'pn-counter')],
      [inc('c', 2)],
      { c: 2 },
    ],
    ['remove ‖ remove', [inc('c', 5)], [rm('c', 'pn-counter')], [rm('c', 'pn-counter')], {}],
    [
      'remove ‖ create: create wins, empty',
      [inc('c', 5)],
      [rm('c', 'pn-counter')],
      [create('c', 'pn-counter')],
      { c: 0 },
    ],
    ['update ‖ update of different fields', [], [inc('a')], [inc('b')], { a: 1, b: 1 }],
    [
      'remove ‖ register set: the concurrent write survives',
      [upd('r', 'lww-register', { kind: 'set', value: 1 })],
      [rm('r', 'lww-register')],
      [upd('r', 'lww-register', { kind: 'set', value: 2 })],
      { r: 2 },
    ],
    [
      'remove ‖ set add: the concurrent add survives alone',
      [upd('s', 'aw-set', { kind: 'add', value: 'x' })],
      [rm('s', 'aw-set')],
      [upd('s', 'aw-set', { kind: 'add', value: 'y' })],
      { s: ['y'] },
    ],
    [
      'reset of the whole map ‖ update: the update survives',
      [inc('a', 3), inc('b', 1)],
      [resetAction()],
      [inc('a', 2)],
      { a: 2 },
    ],
  ])('%s', (_name, prefix, a, b, expected) => {
    expect(pair(prefix, a, b)).toEqual(expected);
  });
});

describe('or-map: input validation', () => {
  it.each([
    [{ kind: 'update', field: 'f', type: 'nope', op: {} }, ErrorCode.UnknownType],
    [{ kind: 'update', field: '', type: 'pn-counter', op: { kind: 'increment' } }, ErrorCode.InvalidOp],
    [
      { kind: 'update', field: 'x'.repeat(300), type: 'pn-counter', op: { kind: 'increment' } },
      ErrorCode.TooLarge,
    ],
    [{ kind: 'update', field: 'f', type: 'pn-counter', op: { kind: 'set' } }, ErrorCode.InvalidOp],
    [{ kind: 'frobnicate', field: 'f', type: 'pn-counter' }, ErrorCode.InvalidOp],
    ['update', ErrorCode.InvalidOp],
  ])('rejects %j with %s', (op, code) => {
    expectSmacError(() => orMap.parseOp(op, pc), code);
  });

  it('bounds nesting depth', () => {
    let op: unknown = { kind: 'increment' };
    let type = 'pn-counter';
    for (let i = 0; i < 8; i++) {
      op = { kind: 'update', field: 'f', type, op };
      type = 'or-map';
    }
    expectSmacError(() => orMap.parseOp(op, pc), ErrorCode.InvalidOp);
  });

  it.each([
    [{ f: 'x', t: 'pn-counter' }, ErrorCode.InvalidOp],
    [{ f: 'x', t: 'pn-counter', o: { d: 'one' } }, ErrorCode.InvalidOp],
    [{ f: 'x', t: 'pn-counter', d: { a: -1 } }, ErrorCode.InvalidOp],
    [{ f: 'x', t: 'pn-counter', o: { d: 1 }, zz: 1 }, ErrorCode.InvalidOp],
    [{ f: 7, t: 'pn-counter', o: { d: 1 } }, ErrorCode.InvalidOp],
    [{ f: 'x', t: 'gcounter', o: { d: 1 } }, ErrorCode.UnknownType],
  ])('rejects downstream %j with %s', (d, code) => {
    expectSmacError(() => orMap.parseDownstream(d, pc), code);
  });

  it('decode rejects garbage', () => {
    for (const bad of [{}, [[1, 2, 3, 4]], [['pn-counter', 'f', { dots: [] }]], 'x']) {
      expectSmacError(() => orMap.decode(bad, pc), ErrorCode.DecodeError);
    }
  });
});

const leafOp = fc.oneof(
  fc
    .record({ kind: fc.constantFrom('increment', 'decrement'), by: fc.integer({ min: 1, max: 5 }) })
    .map((op) => ({ type: 'pn-counter', op })),
  fc.integer({ min: 0, max: 3 }).map((value) => ({ type: 'lww-register', op: { kind: 'set', value } })),
  fc
    .record({ kind: fc.constantFrom('add', 'remove'), value: fc.integer({ min: 0, max: 2 }) })
    .map((op) => ({ type: 'aw-set', op })),
  fc.constantFrom('enable', 'disable').map((kind) => ({ type: 'ew-flag', op: { kind } })),
);

const mapOp: fc.Arbitrary<unknown> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc
      .tuple(fc.constantFrom('a', 'b'), leafOp)
      .map(([field, l]) => ({ kind: 'update', field, ...l })),
  },
  {
    weight: 1,
    arbitrary: fc
      .tuple(fc.constantFrom('a', 'b'), fc.constantFrom('pn-counter', 'aw-set'))
      .map(([field, type]) => ({ kind: 'remove', field, type })),
  },
  {
    weight: 1,
    arbitrary: fc
      .tuple(fc.constantFrom('a', 'b'), fc.constantFrom('pn-counter', 'aw-set'))
      .map(([field, type]) => ({ kind: 'create', field, type })),
  },
  {
    weight: 1,
    arbitrary: leafOp.map((l) => ({
      kind: 'update',
      field: 'm',
      type: 'or-map',
      op: { kind: 'update', field: 'n', ...l },
    })),
  },
);

describe('or-map: convergence', () => {
  it('replicas converge over random causal histories with removes, resets and compaction', () => {
    fc.assert(
      fc.property(scriptArb({ op: mapOp, compaction: true }), (script) => {
        expectConverged(orMap, runScript(orMap, script));
      }),
      { numRuns: 200 },
    );
  });

  it('encode/decode round-trips', () => {
    fc.assert(
      fc.property(scriptArb({ op: mapOp }), (script) => {
        const run = runScript(orMap, script);
        const s = run.replicas[0]!.state;
        expect(orMap.encode(orMap.decode(orMap.encode(s), pc))).toEqual(orMap.encode(s));
        expect(orMap.value(orMap.clone(s))).toEqual(orMap.value(s));
      }),
      { numRuns: 100 },
    );
  });
});
