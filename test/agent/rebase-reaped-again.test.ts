// A rebase whose new epoch is reaped before it got a peer's state (test/agent/reaping.test.ts,
// "a reap racing the member's return", stuck once in CI; docs/chaos.md). A member that is
// force-left and comes back rebases: it empties its store, takes a new epoch E2 and waits for a
// peer's state. Its client writes go on meanwhile, under E2. A pending force-leave reaps every
// new epoch of the member that reaches it before its own step sees the first cut (docs/agent.md
// "A force-leave covers the member whatever epoch it is in"), so E2 can be reaped, below what the
// member wrote under it, while the member still waits. Every peer's state then retires E2 below
// what the member holds: the snapshot exchange refuses to install it and hands the cut to the
// rebaser (snapshot-exchange.ts noticeOwnCut), which dropped it while a rebase was running. The
// wait never ended: no state could ever be installed, and the member's writes were never re-run.
import { describe, expect, it } from 'vitest';
import { Rebaser } from '../../src/agent/rebase.js';
import { Replica } from '../../src/core/replica.js';
import { waitFor } from './helpers.js';
import { OLD, PEER, rebaseDeps } from './rebase-fakes.js';

const inc = (by: number) => [{ type: 'pn-counter', key: 'hits', op: { kind: 'increment', by } }];

function setUp() {
  const meta = new Map<string, string>();
  // Our client batches per epoch, by seq (the store's own-ops table).
  const ownOps = new Map<string, { seq: number; ops: string }[]>([
    [
      OLD,
      [
        { seq: 2, ops: JSON.stringify(inc(2)) },
        { seq: 3, ops: JSON.stringify(inc(3)) },
      ],
    ],
  ]);
  const store = {
    getMeta: (k: string) => meta.get(k),
    setMetaSynced: (k: string, v: string) => {
      meta.set(k, v);
    },
    ownOpsSince: (origin: string, seq: number) => (ownOps.get(origin) ?? []).filter((o) => o.seq > seq),
    dropOwnOpsBeyond: (origin: string, seq: number) => {
      ownOps.set(
        origin,
        (ownOps.get(origin) ?? []).filter((o) => o.seq <= seq),
      );
    },
    resetForRebase: () => undefined,
  };
  // Our epoch OLD was reaped at the cut 1; we hold it up to 3.
  let stopping = false;
  const written: unknown[] = [];
  // Which epochs' cuts a peer's state retires: it is installed only under an epoch it does not
  // reap below what we hold (as snapshot-exchange.ts does).
  const peerState = { reachable: false, reaps: new Map<string, number>([[OLD, 1]]) };
  const { deps, replica } = rebaseDeps(store, {
    syncOnce: () => {
      if (!peerState.reachable) return Promise.resolve();
      const mine = replica().clock();
      const refused = [...peerState.reaps].some(([e, cut]) => (mine.get(e) ?? 0) > cut);
      if (!refused && !mine.has(OLD)) {
        const empty = new Replica({ id: `${PEER}~00000other` }).snapshot();
        replica().install({ ...empty, vc: new Map([...mine, ...peerState.reaps]) });
      }
      return Promise.resolve();
    },
    write: (ops: readonly unknown[]) => {
      written.push(ops);
      return Promise.resolve();
    },
    stopping: () => stopping,
  });
  const rebaser = new Rebaser(deps);
  /** Client writes (acknowledged) under the epoch the replica writes under now. */
  const writeUnderNewEpoch = (bys: readonly number[]) => {
    for (const by of bys) {
      const { event } = replica().step({ kind: 'local', ops: inc(by) }, 1_000);
      const list = ownOps.get(replica().id) ?? [];
      list.push({ seq: event?.seq ?? 0, ops: JSON.stringify(inc(by)) });
      ownOps.set(replica().id, list);
    }
  };
  return {
    rebaser,
    writeUnderNewEpoch,
    meta,
    written,
    peerState,
    replica,
    stop: () => {
      stopping = true;
    },
  };
}

describe('a rebase whose new epoch is reaped before it got a state', () => {
  it('starts over from the new epoch, and re-runs the writes of both epochs in their order', async () => {
    const { rebaser, meta, written, peerState, replica, writeUnderNewEpoch, stop } = setUp();
    try {
      // No peer's state can be installed yet (none is reachable, say).
      rebaser.check();
      await waitFor(() => replica().id !== OLD, 'the first rebase to take a new epoch');
      const second = replica().id;
      // Two client writes under the new epoch while the rebase waits (acknowledged).
      writeUnderNewEpoch([10, 20]);
      // A pending force-leave reaped the new epoch at 1 (its first write reached the peers): every
      // peer's state now retires it there, and the snapshot exchange hands the cut over.
      peerState.reaps.set(second, 1);
      peerState.reachable = true;
      rebaser.ownEpochCut(second, 1, ['p']);
      await waitFor(() => rebaser.count === 2, 'a second rebase, from the reaped new epoch', 3_000);
      expect(replica().id).not.toBe(second);
      // The peer's state is installed under the third epoch, and every write beyond a cut is
      // re-run once, in the order it was first acknowledged: the first epoch's, then the second's.
      await waitFor(() => meta.get('rebase-pending') === '', 'the re-run to finish', 3_000);
      expect(written).toEqual([inc(2), inc(3), inc(20)]);
      expect(replica().clock().get(second)).toBe(1);
      expect(replica().clock().get(OLD)).toBe(1);
    } finally {
      stop();
    }
  });

  it('a lower cut of the epoch it rebases from, while it waits: it waits for the winners’ state and re-runs the writes between the cuts first', async () => {
    const { rebaser, meta, written, peerState, replica, writeUnderNewEpoch, stop } = setUp();
    try {
      // The first rebase, for c's reap of OLD at 2 (we hold 3): it re-runs 3, and waits for c's
      // state, which does not come (c's side lost to a's, and c rebases itself).
      rebaser.ownEpochCut(OLD, 2, ['c']);
      await waitFor(() => replica().id !== OLD, 'the first rebase to take a new epoch');
      const second = replica().id;
      // Written on the emptied replica: they depend on nothing of OLD, and stand.
      writeUnderNewEpoch([10, 20]);
      // a's state retires OLD at 1: the snapshot exchange hands the lower cut over.
      rebaser.ownEpochCut(OLD, 1, ['a']);
      const pendingCut = () => (JSON.parse(meta.get('rebase-pending') ?? '{}') as { cut?: number }).cut;
      await waitFor(() => pendingCut() === 1, 'the rebase to wait for OLD at the lower cut', 3_000);
      expect(rebaser.rebasingFrom()).toEqual({ epoch: OLD, cut: 1, side: ['a'] });
      peerState.reachable = true;
      await waitFor(() => meta.get('rebase-pending') === '', 'the re-run to finish', 3_000);
      // OLD's 2 (between the cuts), then the first rebase's re-run of 3; the writes under the
      // second epoch stand as they are.
      expect(written).toEqual([inc(2), inc(3)]);
      expect(replica().id).toBe(second);
      expect(rebaser.count).toBe(1);
      expect(replica().clock().get(OLD)).toBe(1);
    } finally {
      stop();
    }
  });
});
