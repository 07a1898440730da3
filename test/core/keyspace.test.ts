// Object create/delete under concurrency (docs/semantics.md, "Objects: create and delete"):
// each row runs on two replicas that share a prefix, apply A and B concurrently, then exchange.
import { describe, expect, it } from 'vitest';
import { Replica } from '../../src/core/replica.js';
import { checkKey } from '../../src/core/keyspace.js';
import { DEFAULT_LIMITS } from '../../src/core/limits.js';
import { SmacError } from '../../src/core/errors.js';

const NOW = 1_700_000_000_000;
const K = { type: 'pn-counter', key: 'obj' };
const create = { ...K, op: { kind: 'create' } };
const del = { ...K, op: { kind: 'delete' } };
const inc = (by: number) => ({ ...K, op: { kind: 'increment', by } });

function concurrently(prefix: unknown[], a: unknown[], b: unknown[]): [Replica, Replica] {
  const ra = new Replica({ id: 'a' });
  const rb = new Replica({ id: 'b' });
  if (prefix.length > 0) {
    const e = ra.step({ kind: 'local', ops: prefix }, NOW).event!;
    rb.step({ kind: 'remote', event: e, bytes: 1 }, NOW);
  }
  const ea = a.length > 0 ? ra.step({ kind: 'local', ops: a }, NOW + 1).event : undefined;
  const eb = b.length > 0 ? rb.step({ kind: 'local', ops: b }, NOW + 1).event : undefined;
  if (eb) ra.step({ kind: 'remote', event: eb, bytes: 1 }, NOW + 2);
  if (ea) rb.step({ kind: 'remote', event: ea, bytes: 1 }, NOW + 2);
  expect(ra.snapshot().keyspace).toEqual(rb.snapshot().keyspace);
  return [ra, rb];
}

describe('objects: concurrent create and delete', () => {
  it.each([
    ['delete ‖ update: only the update survives', [inc(5)], [del], [inc(2)], 2],
    ['delete ‖ create: exists, empty', [inc(5)], [del], [create], 0],
    ['delete ‖ delete: gone', [inc(5)], [del], [del], undefined],
    ['create ‖ create: exists', [], [create], [create], 0],
    ['update ‖ update: the type decides', [inc(1)], [inc(2)], [inc(3)], 6],
    ['delete then update in one batch ‖ nothing: the update stands', [inc(5)], [del, inc(1)], [], 1],
  ])('%s', (_name, prefix, a, b, expected) => {
    const [ra] = concurrently(prefix, a, b);
    expect(ra.read('pn-counter', 'obj')?.value).toBe(expected);
  });
});

describe('keys', () => {
  it.each(['a', 'app/config/db', 'ünïcode/キー', 'x'.repeat(512)])('accepts %s', (k) => {
    expect(checkKey(k, DEFAULT_LIMITS)).toBe(k);
  });
  it.each([
    '',
    '/a',
    'a/',
    'a//b',
    '.',
    '..',
    'a/./b',
    'a/..',
    'a\u0000b',
    'tab\tkey',
    'x'.repeat(513),
    7,
    null,
  ])('rejects %j', (k) => {
    expect(() => checkKey(k, DEFAULT_LIMITS)).toThrow(SmacError);
  });
});
