// A force-leave whose cut every member agreed is done (src/agent/reap-starts.ts; docs/agent.md
// "A force-leave covers the member whatever epoch it is in"). A new epoch of the member that
// shows up after that is the member coming back, as after any agreed reap; one that shows up
// while the cut is not yet agreed is reaped too. Driven with fakes of the replica, store and
// stability view: which epoch shows up before which step is then exact, not a matter of timing.
import { describe, expect, it } from 'vitest';
import { ReapStarts } from '../../src/agent/reap-starts.js';
import type { StabilityView } from '../../src/agent/stability-view.js';
import { type ReapState, reapKey } from '../../src/core/reaping.js';
import type { Replica } from '../../src/core/replica.js';
import type { Store } from '../../src/store/store.js';
import { quiet } from './helpers.js';

const E1 = 'peer-c~e1';
const E2 = 'peer-c~e2';

/** Agent peer-a with members peer-b and peer-c; peer-c wrote under E1. */
function setup() {
  const clock = new Map<string, number>([
    ['peer-a~a1', 3],
    ['peer-b~b1', 2],
    [E1, 5],
  ]);
  const reaps = new Map<string, ReapState>();
  const replica = {
    id: 'peer-a~a1',
    clock: () => clock,
    reaps: () => [...reaps.values()],
    reapOf: (e: string) => reaps.get(e),
  } as unknown as Replica;
  const meta = new Map<string, string>();
  const store = {
    logStats: () => ({ events: 0 }),
    getMeta: (k: string) => meta.get(k),
    setMetaSynced: (k: string, v: string) => meta.set(k, v),
  } as unknown as Store;
  const retired = new Map<string, string>();
  const returned: string[] = [];
  const view = {
    noticed: () => undefined,
    silentSince: () => undefined,
    isRetired: (p: string) => retired.has(p),
    retire: (p: string, reason: string) => retired.set(p, reason),
    returned: (p: string) => {
      returned.push(p);
      return retired.delete(p);
    },
    retirements: () => Object.fromEntries([...retired].map(([p, reason]) => [p, { reason }])),
    blockers: () => [],
  } as unknown as StabilityView;
  /** Reap markers this agent wrote, by epoch. */
  const marked: string[] = [];
  const write = (ops: readonly unknown[]) => {
    for (const op of ops as { key: string; op: { value: { members?: unknown } } }[])
      if (op.op.value.members !== undefined) marked.push(op.key);
    return Promise.resolve();
  };
  const rs = new ReapStarts({
    self: 'peer-a',
    store,
    replica: () => replica,
    log: quiet,
    now: () => 1000,
    reapAfterMs: 1e9,
    maxLogEvents: 1e9,
    isAlive: () => true,
    write,
    counters: { reaps: 0 },
    view,
    members: () => ['peer-b', 'peer-c'].filter((p) => !retired.has(p)),
    stabilityMembers: () => ['peer-b', 'peer-c'].filter((p) => !retired.has(p)),
  });
  /** The state now holds a marker for `epoch` (cut: every member agreed). */
  const state = (epoch: string, cut: number | undefined) =>
    reaps.set(epoch, {
      epoch,
      participants: ['peer-a', 'peer-b'],
      reports: new Map(
        cut === undefined
          ? [['peer-a', 5]]
          : [
              ['peer-a', cut],
              ['peer-b', cut],
            ],
      ),
      missing: cut === undefined ? ['peer-b'] : [],
      excused: [],
      limit: cut ?? 5,
      cut,
    });
  // Lets the reaper's write promises settle (its in-flight markers are then in the state).
  const settled = () => new Promise((r) => setImmediate(r));
  return { rs, clock, state, marked, returned, retired, settled };
}

describe('a force-leave', () => {
  it('is done once the cut is agreed: a new epoch that shows up by the next step is not reaped', async () => {
    const { rs, clock, state, marked, returned, retired, settled } = setup();
    expect(rs.forceLeave('peer-c')).toBe(true);
    expect(marked).toEqual([reapKey(E1)]);
    await settled();
    state(E1, undefined);
    rs.step(1000);
    expect(rs.forceLeavePending('peer-c')).toBe(true);

    // The cut is agreed; peer-c learns it, rebases, and its writes under E2 arrive, all before
    // our next step.
    state(E1, 5);
    clock.set(E2, 2);
    rs.step(2000);
    await settled();
    expect(marked).toEqual([reapKey(E1)]);
    expect(rs.forceLeavePending('peer-c')).toBe(false);
    // Retired at the agreed cut, then a member again under E2, as after any agreed reap.
    expect(retired.get('peer-c')).toBe('force-left');
    rs.step(3000);
    await settled();
    expect(returned).toEqual(['peer-c']);
    expect(retired.has('peer-c')).toBe(false);
    expect(marked).toEqual([reapKey(E1)]);
  });

  it('reaps a new epoch that shows up while the cut is not agreed yet, and is done once both are', async () => {
    const { rs, clock, state, marked, settled } = setup();
    expect(rs.forceLeave('peer-c')).toBe(true);
    await settled();
    state(E1, undefined);
    // peer-c restarted (or rebased) where we could not see it; E1's cut is still not agreed.
    clock.set(E2, 2);
    rs.step(1000);
    expect(marked).toEqual([reapKey(E1), reapKey(E2)]);
    await settled();
    state(E2, undefined);
    state(E1, 5);
    rs.step(2000);
    expect(rs.forceLeavePending('peer-c')).toBe(true);
    state(E2, 2);
    rs.step(3000);
    expect(rs.forceLeavePending('peer-c')).toBe(false);
  });

  // Found by the nemesis (docs/chaos.md, seed 12 with 5 agents, session 10): a3, back from a
  // store loss, took the force-leave of a0 before a peer's state had brought it a0's epochs
  // (inferred: had its clock held one, the reap would have started and noticeReturns() would
  // have skipped a0). a3 logged "an operator removed the member" and, 7 s later when the state arrived, "a reaped
  // member came back under a new epoch" for the epoch a0 had written under all along; no agent
  // ever showed a reap of a0 ("no force-leave completed a reap"). Today forceLeave() records no
  // intent when it knows no epoch of the member, retires it at once, and noticeReturns() then
  // takes its epochs for a return. Marked `fails` until reap-starts.ts is fixed: a force-leave
  // should reap the epochs of the member that reach this agent after it (as it does while a
  // reap is pending).
  it.fails(
    'given before this agent holds any epoch of the member, still reaps the epochs that arrive',
    async () => {
      const { rs, clock, marked, returned, settled } = setup();
      clock.delete(E1); // a fresh store: the member is known (heartbeats), its events are not here yet
      expect(rs.forceLeave('peer-c')).toBe(true);
      expect(marked).toEqual([]);
      clock.set(E1, 5); // a peer's state arrives
      rs.step(1000);
      await settled();
      expect(returned).toEqual([]);
      expect(marked).toEqual([reapKey(E1)]);
    },
  );

  it('of a member already held reaped stays pending until a later epoch is reaped', async () => {
    const { rs, clock, state, marked, settled } = setup();
    state(E1, 5);
    rs.step(1000); // retired at the agreed cut (a reap of our timer or another agent's)
    expect(rs.forceLeave('peer-c')).toBe(true);
    rs.step(2000);
    expect(rs.forceLeavePending('peer-c')).toBe(true);
    clock.set(E2, 2);
    rs.step(3000);
    expect(marked).toEqual([reapKey(E2)]);
    await settled();
    state(E2, 2);
    rs.step(4000);
    expect(rs.forceLeavePending('peer-c')).toBe(false);
  });
});
