/**
 * Issue 7, "Documented semantics broken by compaction", the two scenarios as observed, each
 * driven step by step in the lifecycle simulation (test/core/sim: replicas, compacting logs,
 * stability views fed by heartbeats through the simulated network, compaction by the injected
 * stability rule) with three nodes a, b, c:
 *
 * - rw-set: a adds x, everyone sees it; c is cut off and adds x while a removes x; a compacts;
 *   heal: x must be absent everywhere (remove wins, docs/semantics.md).
 * - pn-counter: a adds +5, everyone sees it; c, cut off, deletes the counter it saw at 5 while a
 *   adds +3; a compacts; heal: 3 everywhere (the delete resets only what it saw).
 *
 * With the rule before issue 7 (stability over the members heard from in the last three
 * heartbeats, `heardRecentlyRule`), c stops counting once silent: a's stable frontier covers its
 * remove (or its +3), compaction folds the tombstone (or the counter's entries), and after the
 * heal x is present everywhere (or the counter reads 8), as the issue reported. The end-to-end
 * version with real agents and a real cut is test/agent/compaction-semantics.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { type VectorClock, vcGet } from '../../src/core/clock/vector-clock.js';
import { Prng } from '../support/prng.js';
import { checkConverged } from './sim/lifecycle-check.js';
import { LifecycleCluster } from './sim/lifecycle-cluster.js';
import { heardRecentlyRule, membershipViewRule, type StabilityRule } from './sim/stability-rules.js';

const A = 0;
const B = 1;
const C = 2;
const HEARTBEAT_MS = 100;

const rw = (kind: 'add' | 'remove') => ({ type: 'rw-set', key: 's', op: { kind, value: 'x' } });
const inc = (by: number) => ({ type: 'pn-counter', key: 'n', op: { kind: 'increment', by } });
const del = { type: 'pn-counter', key: 'n', op: { kind: 'delete' } };

/**
 * c writes one op while cut off: far fewer than the agent's snapshotEveryEvents, so c does not
 * compact during the cut (as in the observed runs). Were it to compact alone under the old
 * rule, it would fold its own op out of its log before pushing it, and the cluster would stay
 * forked instead (issue 7's first report, test/core/lifecycle-simulation.test.ts).
 */
class Cluster extends LifecycleCluster {
  override compact(i: number): VectorClock {
    return i === C && this.isolated(C) ? new Map<string, number>() : super.compact(i);
  }
}

interface Run {
  readonly cluster: Cluster;
  /** Compactions (of any node) while c was cut off. */
  readonly compactionsDuringCut: number;
  /** Whether a's stable frontier, at its last compaction during the cut, covered a's own op. */
  readonly aFoldedItsOp: boolean;
}

/**
 * Everyone sees `before` (written at a); c is cut off for 30 heartbeats (ten times the old
 * window), during which c writes `atC` and a writes `atA`, and a and b compact every heartbeat; then everything heals and the cluster settles.
 */
function run(rule: StabilityRule, before: unknown[], atC: unknown[], atA: unknown[]): Run {
  const c = new Cluster(new Prng(1), {
    n: 3,
    rule,
    faults: { drop: 0, duplicate: 0, maxDelayMs: 0 },
    heartbeatMs: HEARTBEAT_MS,
    compactEvery: 1,
    reapAfterMs: 1e9,
    reap: 'agreed-cut',
    wireVersion: () => 2,
  });
  for (const i of [A, B, C]) c.announce(i);
  c.write(A, before, 0);
  c.advance(5 * HEARTBEAT_MS); // delivered and reported everywhere
  for (const i of [A, B, C]) expect(c.node(i).replica.clock()).toEqual(c.node(A).replica.clock());

  c.isolate(C);
  c.advance(5 * HEARTBEAT_MS); // c silent for longer than three heartbeats
  const compactionsBefore = c.stats.compactions;
  c.write(C, atC, 0);
  c.write(A, atA, 0);
  const op: VectorClock = new Map([[c.node(A).origin, vcGet(c.node(A).replica.clock(), c.node(A).origin)]]);
  c.advance(25 * HEARTBEAT_MS);
  const stable = c.stableAt(A);
  const aFoldedItsOp = [...op].every(([o, s]) => vcGet(stable, o) >= s);
  const compactionsDuringCut = c.stats.compactions - compactionsBefore;
  c.settle();
  return { cluster: c, compactionsDuringCut, aFoldedItsOp };
}

const rwRun = (rule: StabilityRule) => run(rule, [rw('add')], [rw('add')], [rw('remove')]);
const counterRun = (rule: StabilityRule) => run(rule, [inc(5)], [del], [inc(3)]);
const read = (r: Run, type: 'rw-set' | 'pn-counter', key: string) =>
  [A, B, C].map((i) => r.cluster.node(i).replica.read(type, key)?.value);

describe('compaction keeps the documented semantics across a partition (issue 7)', () => {
  it('rw-set: c adds x while cut off, a removes it and compacts; after the heal x is absent everywhere', () => {
    const r = rwRun(membershipViewRule);
    expect(r.compactionsDuringCut, 'a compacted during the cut').toBeGreaterThan(0);
    expect(r.aFoldedItsOp, 'a folded its remove while c had not delivered it').toBe(false);
    expect(checkConverged(r.cluster), r.cluster.trace.join('\n')).toEqual([]);
    expect(read(r, 'rw-set', 's')).toEqual([[], [], []]);
  });

  it('pn-counter: c deletes the counter it saw at 5, a adds 3 and compacts; after the heal 3 everywhere', () => {
    const r = counterRun(membershipViewRule);
    expect(r.compactionsDuringCut, 'a compacted during the cut').toBeGreaterThan(0);
    expect(r.aFoldedItsOp, 'a folded its +3 while c had not delivered it').toBe(false);
    expect(checkConverged(r.cluster), r.cluster.trace.join('\n')).toEqual([]);
    expect(read(r, 'pn-counter', 'n')).toEqual([3, 3, 3]);
  });
});

describe('mutation: stability over the members heard from in the last three heartbeats', () => {
  it('rw-set: a folds its remove during the cut, and x is present everywhere after the heal', () => {
    const r = rwRun(heardRecentlyRule);
    expect(r.aFoldedItsOp).toBe(true);
    expect(read(r, 'rw-set', 's')).toEqual([['x'], ['x'], ['x']]);
    expect(checkConverged(r.cluster)).toContain('value of rw-set s at n0: ["x"]; expected []');
  });

  it('pn-counter: a folds its +3 during the cut, and the counter reads 8 everywhere after the heal', () => {
    const r = counterRun(heardRecentlyRule);
    expect(r.aFoldedItsOp).toBe(true);
    expect(read(r, 'pn-counter', 'n')).toEqual([8, 8, 8]);
    expect(checkConverged(r.cluster)).toContain('value of pn-counter n at n0: 8; expected 3');
  });
});
