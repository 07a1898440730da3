/**
 * Issue 7: "A member that joined on the far side of a partition is unknown here until the heal:
 * its events must still apply correctly on state that compacted meanwhile."
 *
 * A targeted run of the lifecycle simulation (test/core/sim), driven step by step so that it hits
 * the window every time: cluster {a, b}; a | b; a removes x from a remove-wins set (E); c joins
 * through b, pulls b's state (without E) and adds x, concurrent with E, but none of c's events
 * reaches b yet (gossip lost) and c's link drops. After the heal of a | b, b delivers E and
 * reports a clock covering it before it delivered any event of c; a knows nothing of c. If a
 * counts b's report, E is stable at a: a folds E's tombstone, and c's add, when it arrives,
 * makes x present at a while every other replica (and the oracle) says absent.
 */
import { describe, expect, it } from 'vitest';
import { vcGet } from '../../src/core/clock/vector-clock.js';
import { Prng } from '../support/prng.js';
import { checkConverged } from './sim/lifecycle-check.js';
import { LifecycleCluster } from './sim/lifecycle-cluster.js';
import { membershipViewRule, ownViewRule, type StabilityRule } from './sim/stability-rules.js';
import { StabilityView } from '../../src/agent/stability-view.js';

const A = 0;
const B = 1;
const C = 2;

class Targeted extends LifecycleCluster {
  /** One heartbeat, from `from` to `to` (the simulated network decides nothing here). */
  beat(from: number, to: number): void {
    if (this.connected(from, to)) this.heartbeat(from, to, false);
  }
}

const rwAdd = { type: 'rw-set', key: 's', op: { kind: 'add', value: 'x' } };
const rwRemove = { type: 'rw-set', key: 's', op: { kind: 'remove', value: 'x' } };

function run(rule: StabilityRule = membershipViewRule): { cluster: Targeted; aStableCoversE: boolean } {
  const c = new Targeted(new Prng(1), {
    n: 3,
    rule,
    faults: { drop: 0, duplicate: 0, maxDelayMs: 0 },
    heartbeatMs: 100,
    compactEvery: 1,
    reapAfterMs: 1e9,
    reap: 'agreed-cut',
    wireVersion: () => 2,
    // a and b know each other; c (not started yet) knows b, its join address.
    seeds: (i) => (i === C ? ['n1'] : ['n0', 'n1']),
  });
  c.isolate(C); // c does not exist yet
  c.announce(A);
  c.announce(B);
  c.write(A, [rwAdd], 0);
  c.deliverDue();
  for (const [f, t] of [
    [A, B],
    [B, A],
  ] as const)
    c.beat(f, t);

  c.isolate(A); // a | b
  c.write(A, [rwRemove], 0); // E
  const e = c.node(A).replica.clock();
  c.write(B, [{ type: 'pn-counter', key: 'n', op: { kind: 'increment', by: 1 } }], 0);
  c.deliverDue();

  // c joins through b and pulls b's state; its member record and its add of x (concurrent
  // with E) are lost on their way to b, and then c's link drops.
  c.rejoin(C);
  c.pull(C, B);
  c.write(C, [{ type: 'aw-set', key: '_sys/members', op: { kind: 'add', value: { id: 'n2' } } }], 0, true, A);
  c.write(C, [rwAdd], 0, false, A);
  c.isolate(C);

  // The heal of a | b: b delivers E and reports it, before it delivered any event of c.
  c.rejoin(A);
  c.pull(B, A);
  c.pull(A, B);
  c.beat(B, A);
  c.beat(A, B);
  const stable = c.stableAt(A);
  const aStableCoversE = [...e].every(([o, s]) => vcGet(stable, o) >= s);
  c.compact(A);
  c.compact(B);
  c.settle();
  return { cluster: c, aStableCoversE };
}

describe('a member that joined on the far side of a partition (issue 7)', () => {
  it('holds compaction back at the members that do not know it yet; all converge, remove wins', () => {
    const { cluster, aStableCoversE } = run();
    const problems = checkConverged(cluster);
    expect(problems, cluster.trace.join('\n')).toEqual([]);
    expect(aStableCoversE, 'a compacted E while c, unknown to a, had not delivered it').toBe(false);
    for (const i of [A, B, C]) expect(cluster.node(i).replica.read('rw-set', 's')?.value).toEqual([]);
  });
});

describe('mutation: stability over our own view only (before the fix)', () => {
  it('a compacts E, and x stays present everywhere although the remove won', () => {
    const { cluster, aStableCoversE } = run(ownViewRule);
    expect(aStableCoversE).toBe(true);
    expect(checkConverged(cluster)).toContain('value of rw-set s at n0: ["x"]; expected []');
  });
});

describe('a peer that only pulls', () => {
  const view = (ttl?: number) =>
    new StabilityView({
      self: 'a',
      load: () => ({ retired: {}, lastSeen: {} }),
      persist: () => undefined,
      ...(ttl === undefined ? {} : { hearsayTtlMs: ttl }),
    });
  const vc = (r: Record<string, number>) => new Map(Object.entries(r));

  it('is a member with its request clock as its report, for hearsayTtlMs after its first pull', () => {
    const v = view(1_000);
    const local = vc({ 'a~0': 5 });
    v.heartbeat('b', local, false, local, 0, []);
    v.pulled('z', vc({ 'a~0': 2 }), local, 0);
    expect(v.stabilityMembers(['a', 'b'], 500)).toEqual(['b', 'z']);
    expect(v.firstHandMembers(['a', 'b'], 500)).toEqual(['b', 'z']);
    expect(v.stable(local, v.stabilityMembers(['a', 'b'], 500)).get('a~0')).toBe(2);
    // It pulls again, further along: its report advances (it never heartbeats).
    v.pulled('z', vc({ 'a~0': 4 }), local, 800);
    expect(v.stable(local, v.stabilityMembers(['a', 'b'], 900)).get('a~0')).toBe(4);
    // Its time ran out and nothing else shows it as a member: it no longer counts, and pulling
    // again (with a clock we lack, say) does not bring it back.
    expect(v.stabilityMembers(['a', 'b'], 1_100)).toEqual(['b']);
    v.pulled('z', vc({ 'a~0': 9 }), local, 1_200);
    expect(v.stabilityMembers(['a', 'b'], 1_300)).toEqual(['b']);
    expect(v.stable(local, v.stabilityMembers(['a', 'b'], 1_300)).get('a~0')).toBe(5);
    // Its heartbeats make it a member (the agent's candidates then name it), as for any peer.
    v.heartbeat('z', vc({ 'a~0': 3 }), false, local, 1_400, []);
    expect(v.stable(local, v.stabilityMembers(['a', 'b', 'z'], 1_400)).get('a~0')).toBe(3);
  });

  it('a member named by another member waits until it reports itself, and goes when no longer named', () => {
    const v = view();
    const local = vc({ 'a~0': 5 });
    v.heartbeat('b', local, false, local, 0, ['a', 'c']);
    expect(v.stabilityMembers(['a', 'b'], 0)).toEqual(['b', 'c']);
    expect(v.stable(local, v.stabilityMembers(['a', 'b'], 0)).size).toBe(0);
    v.heartbeat('c', vc({ 'a~0': 3 }), false, local, 1, ['b']);
    expect(v.stable(local, v.stabilityMembers(['a', 'b'], 1)).get('a~0')).toBe(3);
    // b retired: what it named goes with it (c is still a member through its own heartbeats).
    v.retire('b', 'left', 2);
    expect(v.stabilityMembers(['a', 'c'], 2)).toEqual(['c']);
  });
});
