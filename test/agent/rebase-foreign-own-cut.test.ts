// A member whose own epoch is reaped while it also holds another member's reaped epoch beyond
// that epoch's cut (issue 7; docs/chaos.md "Mutual and opposite-order reaps"). Found by the
// nemesis's opposite-reaps fault (seed 1, 4 agents, 30 s): x and y were cut off and force-left
// together, the two reaps completed together, and x held y's events beyond y's cut. x's check()
// found the foreign epoch past its cut first and rebased from it (rebaseFromForeign): it handed
// its own events up to just before its first event after y's beyond-cut ones over to its peers
// and re-ran only the client writes since. But its own epoch was reaped too, at a lower seq:
// every replica refuses its events beyond its own cut, so the writes between that cut and its
// delivery of y's events were neither kept nor re-run. The run: `a0 re-ran 18 writes beyond the
// cut 263, but acknowledged 116 there`, handedOver 398, and pn-counters short by 14 and 33.
import { describe, expect, it } from 'vitest';
import { Rebaser } from '../../src/agent/rebase.js';
import type { Replica } from '../../src/core/replica.js';
import { OLD, rebaseDeps } from './rebase-fakes.js';

const FOREIGN = '12D3KooWQ8sJ3CzqUFEhaQ9tdWqX8u9gcbPk4nKUzB9Fi4ypX3Ww~00000other';

describe('a rebase from a foreign epoch when our own epoch is reaped too', () => {
  it('re-runs our writes beyond our own cut, and hands over nothing beyond it', async () => {
    const meta = new Map<string, string>();
    const written: string[] = [];
    const calls: string[] = [];
    let reset = false;
    // We hold OLD up to 30, reaped at 5; FOREIGN up to 4, reaped at 2. In log order: our
    // events 1-20, FOREIGN 3 (beyond its cut), our 21-30.
    const bytes = new Uint8Array([1]);
    const events = [
      ...Array.from({ length: 20 }, (_, i) => ({ origin: OLD, seq: i + 1, bytes })),
      { origin: FOREIGN, seq: 3, bytes },
      { origin: FOREIGN, seq: 4, bytes },
      ...Array.from({ length: 10 }, (_, i) => ({ origin: OLD, seq: i + 21, bytes })),
    ];
    const store = {
      getMeta: (k: string) => meta.get(k),
      setMetaSynced: (k: string, v: string) => {
        meta.set(k, v);
        if (k === 'rebase-pending') written.push(v);
      },
      compactedClock: () => new Map<string, number>(),
      eventsSince: function* (since: ReadonlyMap<string, number>) {
        for (const e of events) if (e.seq > (since.get(e.origin) ?? 0)) yield e;
      },
      ownOpsSince: (origin: string, seq: number) => {
        calls.push(`ownOpsSince ${origin.slice(-3)} ${String(seq)}`);
        return Array.from({ length: Math.max(0, 30 - seq) }, (_, i) => ({ seq: seq + 1 + i, ops: '[]' }));
      },
      dropOwnOpsBeyond: (origin: string, seq: number) => {
        calls.push(`drop ${origin.slice(-3)} ${String(seq)}`);
      },
      resetForRebase: () => {
        reset = true;
        calls.push('reset');
      },
    };
    const reap = (cut: number) => ({ cut, participants: ['p'], reports: new Map([['p', cut]]) });
    const replica = {
      id: OLD,
      pastCut: () => [{ epoch: FOREIGN, cut: 2 }],
      reaps: () => [],
      reapOf: (e: string) => (e === OLD ? reap(5) : e === FOREIGN ? reap(2) : undefined),
      clock: () =>
        new Map([
          [OLD, 30],
          [FOREIGN, 4],
        ]),
    } as unknown as Replica;
    const { deps } = rebaseDeps(store, {
      replica: () => replica,
      setReplica: () => undefined,
      stopping: () => reset,
      handOver: (self: string, upTo: number) => {
        calls.push(`handOver ${self.slice(-3)} ${String(upTo)}`);
        return Promise.resolve();
      },
    });
    const rebaser = new Rebaser(deps);
    rebaser.check();
    for (let i = 0; i < 50 && calls.length < 4; i++) await new Promise((r) => setTimeout(r, 10));
    // Our events beyond 5 are refused everywhere: none is handed over, all are re-run.
    // (The resumed rebase drops the moved batches again: harmless, rebase-ops.ts dropMoved.)
    expect(calls.slice(0, 4)).toEqual(['handOver old 5', 'ownOpsSince old 5', 'drop old 5', 'reset']);
    expect(calls.slice(4).filter((c) => c !== 'drop old 5')).toEqual([]);
    const pending = JSON.parse(meta.get('rebase-pending') ?? '{}') as { ops: unknown[] };
    expect(pending.ops).toHaveLength(25);
    // Our events up to our own cut are carried across the emptied store (rebase-carry.ts).
    const first = JSON.parse(written[0] ?? '{}') as { carry?: [string, number][] };
    const carried = first.carry ?? [];
    expect(carried.map(([, seq]) => seq)).toEqual([1, 2, 3, 4, 5]);
  });
});
