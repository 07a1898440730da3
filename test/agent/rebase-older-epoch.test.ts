// A rebase that empties the store while an older epoch of ours holds events no peer may hold
// (issue 7; docs/chaos.md "a winner of a mutual reap rebased for the losers' reap"). Found by the
// nemesis (long run seed 21, 5 agents): a3 wrote under an epoch E1 while cut off, was killed,
// restarted uncleanly under `storeSync: normal` and so took a new epoch E2, and then rebased
// from a foreign epoch it held beyond its cut (rebaseFromForeign). It handed over and re-ran
// only E2's events (`handedOver 0, rerun 2`); E1's, held by no other replica, were dropped with
// the store: 2,020 acknowledged ops beyond every clock. The same holds for a rebase from our own
// current epoch reaped at 0 (held > cut: the store is emptied) with an older epoch of ours
// behind it.
//
// What must happen: the events of our older epochs (and of the current one before the point we
// delivered anything beyond a cut) are carried across the emptied store in the pending record,
// delivered again once the peer's state is in, and only then are the client writes re-run.
import { describe, expect, it } from 'vitest';
import { Rebaser } from '../../src/agent/rebase.js';
import type { Replica } from '../../src/core/replica.js';
import { OLD, PEER, rebaseDeps } from './rebase-fakes.js';

const E1 = `${PEER}~00000000e1`;
const FOREIGN = '12D3KooWQ8sJ3CzqUFEhaQ9tdWqX8u9gcbPk4nKUzB9Fi4ypX3Ww~00000other';

interface Ev {
  origin: string;
  seq: number;
  bytes: Uint8Array;
}
const ev = (origin: string, seq: number): Ev => ({
  origin,
  seq,
  bytes: new TextEncoder().encode(`${origin.slice(-5)}:${String(seq)}`),
});
const name = (b: Uint8Array) => new TextDecoder().decode(b);

function fakeStore(events: Ev[], meta: Map<string, string>, calls: string[]) {
  return {
    getMeta: (k: string) => meta.get(k),
    setMetaSynced: (k: string, v: string) => {
      meta.set(k, v);
    },
    compactedClock: () => new Map<string, number>(),
    eventsSince: function* (since: ReadonlyMap<string, number>) {
      for (const e of events) if (e.seq > (since.get(e.origin) ?? 0)) yield e;
    },
    ownOpsSince: (origin: string, seq: number) =>
      events
        .filter((e) => e.origin === origin && e.seq > seq)
        .map((e) => ({ seq: e.seq, ops: JSON.stringify([name(e.bytes)]) })),
    dropOwnOpsBeyond: () => undefined,
    resetForRebase: () => {
      calls.push('reset');
    },
  };
}

/** Runs `rebaser.check()` and lets the rebase finish against a state that arrives at once. */
async function rebaseWith(
  replica: Replica,
  events: Ev[],
  clockAfter: Map<string, number>,
): Promise<{ calls: string[]; redelivered: string[]; rerun: string[] }> {
  const meta = new Map<string, string>([['own-epochs', JSON.stringify([E1, OLD])]]);
  const calls: string[] = [];
  const redelivered: string[] = [];
  const rerun: string[] = [];
  const store = fakeStore(events, meta, calls);
  let current = replica;
  let done = false;
  const { deps } = rebaseDeps(store, {
    replica: () => current,
    setReplica: (r: Replica) => {
      // The new, empty replica; the peer's state (and later, what we deliver again) arrives
      // through syncOnce and redeliver below.
      current = {
        id: r.id,
        clock: () => new Map(clockAfter),
        pastCut: () => [],
        reaps: () => [],
        reapOf: () => undefined,
      } as unknown as Replica;
    },
    stopping: () => done,
    handOver: () => Promise.resolve(),
    redeliver: (envelopes: readonly Uint8Array[]) => {
      for (const e of envelopes) {
        const n = name(e);
        redelivered.push(n);
        const [tail, seq] = n.split(':');
        const origin = [E1, OLD, FOREIGN].find((o) => o.endsWith(tail ?? '')) ?? '';
        clockAfter.set(origin, Math.max(clockAfter.get(origin) ?? 0, Number(seq)));
      }
      return Promise.resolve();
    },
    write: (ops: unknown[]) => {
      rerun.push(...(ops as string[]));
      calls.push('write');
      return Promise.resolve();
    },
  });
  const rebaser = new Rebaser(deps);
  rebaser.check();
  for (let i = 0; i < 200 && meta.get('rebase-pending') !== ''; i++)
    await new Promise((r) => setTimeout(r, 10));
  done = true;
  return { calls, redelivered, rerun };
}

describe('a rebase with an older epoch of ours behind the current one', () => {
  it('from a foreign epoch: carries the older epoch’s events over the emptied store', async () => {
    // E1 1-6 (written cut off, then killed; no peer holds them), OLD (the epoch the unclean
    // restart took) 1-2, FOREIGN 3 (beyond its cut 2), OLD 3-4.
    const events = [
      ...[1, 2, 3, 4, 5, 6].map((s) => ev(E1, s)),
      ev(OLD, 1),
      ev(OLD, 2),
      ev(FOREIGN, 3),
      ev(OLD, 3),
      ev(OLD, 4),
    ];
    const replica = {
      id: OLD,
      pastCut: () => [{ epoch: FOREIGN, cut: 2 }],
      reaps: () => [],
      reapOf: (e: string) =>
        e === FOREIGN ? { cut: 2, participants: ['p'], reports: new Map([['p', 2]]) } : undefined,
      clock: () =>
        new Map([
          [E1, 6],
          [OLD, 4],
          [FOREIGN, 3],
        ]),
    } as unknown as Replica;
    // The peer's state holds FOREIGN up to its cut, and none of E1 beyond 2.
    const { calls, redelivered, rerun } = await rebaseWith(
      replica,
      events,
      new Map([
        [FOREIGN, 2],
        [E1, 2],
      ]),
    );
    expect(calls[0]).toBe('reset');
    // Every event of ours before we delivered FOREIGN 3: E1's all and OLD 1-2, delivered again.
    expect(redelivered).toEqual(expect.arrayContaining(['000e1:3', '000e1:6', '00old:1', '00old:2']));
    expect(redelivered).not.toContain('00old:3');
    // The writes after it are re-run, after what was carried.
    expect(rerun).toEqual(['00old:3', '00old:4']);
  });

  it('from our own epoch reaped at 0: carries the older epoch’s events', async () => {
    const events = [...[1, 2, 3].map((s) => ev(E1, s)), ev(OLD, 1), ev(OLD, 2)];
    const replica = {
      id: OLD,
      pastCut: () => [],
      reaps: () => [],
      reapOf: (e: string) =>
        e === OLD ? { cut: 0, participants: ['p'], reports: new Map([['p', 0]]) } : undefined,
      clock: () =>
        new Map([
          [E1, 3],
          [OLD, 2],
        ]),
    } as unknown as Replica;
    const { calls, redelivered, rerun } = await rebaseWith(replica, events, new Map([[E1, 1]]));
    expect(calls[0]).toBe('reset');
    expect(redelivered).toEqual(expect.arrayContaining(['000e1:2', '000e1:3']));
    expect(rerun).toEqual(['00old:1', '00old:2']);
  });
});
