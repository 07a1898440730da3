// The rebase starts from maintain(), which the owner runs inside a drain (src/agent/owner.ts):
// events prepared earlier in the same drain are committed to the store only after maintain()
// returns. A rebase that empties the store right there gets those events appended to the
// emptied store afterwards (seen in the nemesis, seed 7: the store then held the reaped epoch up
// to seq 421 beyond the cut 58, every peer snapshot was refused with STORE_NO_SNAPSHOT, the
// re-run never ran, and after a restart the store no longer opened: "The log skips from …").
// So check() must not change the store or the replica before the drain is over.
import { describe, expect, it } from 'vitest';
import { Rebaser } from '../../src/agent/rebase.js';
import { OLD, rebaseDeps } from './rebase-fakes.js';

function setUp() {
  const meta = new Map<string, string>();
  const calls: string[] = [];
  const store = {
    getMeta: (k: string) => meta.get(k),
    setMetaSynced: (k: string, v: string) => {
      meta.set(k, v);
    },
    ownOpsSince: (origin: string, seq: number) => {
      calls.push(`ownOpsSince ${origin.slice(-3)} ${String(seq)}`);
      return [{ seq: seq + 1, ops: '[]' }];
    },
    dropOwnOpsBeyond: (origin: string, seq: number) => {
      calls.push(`drop ${origin.slice(-3)} ${String(seq)}`);
    },
    resetForRebase: () => {
      calls.push('reset');
    },
  };
  // Our epoch OLD was reaped at the cut 1; we hold it up to 3.
  const { deps, old, replica } = rebaseDeps(store, {}, () => calls.push('setReplica'));
  return { rebaser: new Rebaser(deps), calls, old, replica };
}

describe('rebase and the owner drain', () => {
  it('check() (inside a drain) changes neither the store nor the replica; the rebase runs after the drain', async () => {
    const { rebaser, calls, old, replica } = setUp();
    rebaser.check();
    // The drain goes on: its rows are committed now, before anything was emptied.
    expect(calls).toEqual([]);
    expect(replica()).toBe(old);
    rebaser.check(); // the next maintain, before the rebase ran: no second rebase
    await new Promise((r) => setTimeout(r, 20));
    // The batches moved into the pending record leave the table (again as the wait starts: a
    // crash may have come between).
    expect(calls).toEqual([`ownOpsSince old 1`, 'drop old 1', 'reset', 'setReplica', 'drop old 1']);
    expect(replica().id).not.toBe(OLD);
    expect(rebaser.count).toBe(1);
  });
});
