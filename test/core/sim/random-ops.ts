/**
 * Random local operations over a small shared keyspace, so that replicas in a simulation
 * conflict often: every type, create and delete, nested map updates.
 */
import type { Prng } from '../../support/prng.js';

const TYPES = ['pn-counter', 'lww-register', 'mv-register', 'aw-set', 'rw-set', 'ew-flag', 'or-map'] as const;

function leafOp(rng: Prng, type: string): unknown {
  switch (type) {
    case 'pn-counter':
      return { kind: rng.chance(0.6) ? 'increment' : 'decrement', by: rng.int(1, 5) };
    case 'lww-register':
    case 'mv-register':
      return { kind: 'set', value: rng.chance(0.5) ? rng.int(0, 9) : { v: `s${rng.int(0, 3)}` } };
    case 'aw-set':
    case 'rw-set': {
      const r = rng.next();
      if (r < 0.05) return { kind: 'clear' };
      return { kind: r < 0.6 ? 'add' : 'remove', value: rng.int(1, 4) };
    }
    case 'ew-flag':
      return { kind: rng.chance(0.5) ? 'enable' : 'disable' };
    default:
      throw new Error(`no leaf ops for ${type}`);
  }
}

function mapOp(rng: Prng, depth: number): unknown {
  const field = `f${rng.int(0, 2)}`;
  const type =
    depth < 2 && rng.chance(0.15)
      ? 'or-map'
      : rng.pick(['pn-counter', 'lww-register', 'aw-set', 'rw-set', 'ew-flag']);
  const r = rng.next();
  if (r < 0.1) return { kind: 'remove', field, type };
  if (r < 0.15) return { kind: 'create', field, type };
  return { kind: 'update', field, type, op: type === 'or-map' ? mapOp(rng, depth + 1) : leafOp(rng, type) };
}

export function randomKeyOp(rng: Prng): unknown {
  const type = rng.pick(TYPES);
  const key = `k/${rng.int(0, 2)}`;
  const r = rng.next();
  if (r < 0.06) return { type, key, op: { kind: 'delete' } };
  if (r < 0.09) return { type, key, op: { kind: 'create' } };
  return { type, key, op: type === 'or-map' ? mapOp(rng, 0) : leafOp(rng, type) };
}
