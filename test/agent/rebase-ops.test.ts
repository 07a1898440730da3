// Which client batches a rebase re-runs, and in which order (src/agent/rebase-ops.ts), on a real
// store: a second rebase from the same epoch at a lower cut re-runs that epoch's batches between
// the cuts, then the first rebase's re-runs and what was written since, in the order all of them
// were acknowledged (test/agent/rebase-lower-cut.test.ts drives it with agents).
import { describe, expect, it } from 'vitest';
import { batchesToRerun, dropMoved, ownEpochs, recordOwnEpochs } from '../../src/agent/rebase-ops.js';
import { Store } from '../../src/store/store.js';
import { ev, useTempDirs } from '../store/helpers.js';

const tempDir = useTempDirs();

/** Logs `seqs` of `origin`, each with the client batch `[origin's tag, seq]`. */
function wrote(store: Store, origin: string, seqs: readonly number[]): void {
  store.appendEvents(seqs.map((seq) => ({ ...ev(origin, seq), clientOps: JSON.stringify([origin, seq]) })));
}

const batch = (origin: string, seq: number) => JSON.stringify([origin, seq]);

describe('the batches a rebase re-runs', () => {
  it('a lower cut of an epoch rebased from: its batches between the cuts, then the later epochs’', () => {
    const store = Store.open({ dataDir: tempDir() });
    wrote(store, 'me~0', [1, 2, 3, 4, 5, 6]);
    // The first rebase, from me~0 at 4 (while writing under it): 5 and 6 are moved.
    const first = batchesToRerun(store, 'me~0', 4, 'me~0', undefined);
    expect(first.ops).toEqual([batch('me~0', 5), batch('me~0', 6)]);
    dropMoved(store, first.moved);
    recordOwnEpochs(store, ['me~1']);
    store.resetForRebase();
    // Under me~1: the re-runs of 5 and 6, then a new write.
    wrote(store, 'me~1', [1, 2, 3]);
    // me~0 is retired at 2 after all: 3 and 4 were acknowledged before everything of me~1.
    const second = batchesToRerun(store, 'me~0', 2, 'me~1', undefined);
    expect(second.ops).toEqual([
      batch('me~0', 3),
      batch('me~0', 4),
      ...[1, 2, 3].map((s) => batch('me~1', s)),
    ]);
    expect(second.moved).toEqual({ 'me~0': 2, 'me~1': 0 });
    dropMoved(store, second.moved);
    expect(store.ownOpsSince('me~0', 0).map((o) => o.seq)).toEqual([1, 2]);
    expect(store.ownOpsSince('me~1', 0)).toEqual([]);
    expect(ownEpochs(store)).toEqual(['me~0', 'me~1']);
    store.close();
  });

  it('a pending record goes after the batches of its last epoch, or first when that is older', () => {
    const store = Store.open({ dataDir: tempDir() });
    recordOwnEpochs(store, ['me~0', 'me~1']);
    wrote(store, 'me~0', [1, 2, 3]);
    wrote(store, 'me~1', [1, 2]);
    const pending = { ops: ['"p"'], last: 'me~0' };
    // From me~0 at 1: me~0's 2 and 3, the pending batches (taken from me~0 earlier), me~1's.
    expect(batchesToRerun(store, 'me~0', 1, 'me~1', pending).ops).toEqual([
      batch('me~0', 2),
      batch('me~0', 3),
      '"p"',
      batch('me~1', 1),
      batch('me~1', 2),
    ]);
    // From me~1 (a rebase whose new epoch was reaped before it got a state): pending first.
    expect(batchesToRerun(store, 'me~1', 1, 'me~1', pending).ops).toEqual(['"p"', batch('me~1', 2)]);
    store.close();
  });

  it('an epoch taken before `from` is not re-run; epochs not recorded are ordered `from`, current', () => {
    const store = Store.open({ dataDir: tempDir() });
    wrote(store, 'me~a', [1, 2]);
    wrote(store, 'me~b', [1]);
    // No record (a store of before): the epoch rebased from, then the current one.
    expect(batchesToRerun(store, 'me~a', 1, 'me~b', undefined).ops).toEqual([
      batch('me~a', 2),
      batch('me~b', 1),
    ]);
    expect(ownEpochs(store)).toEqual(['me~a', 'me~b']);
    wrote(store, 'me~c', [1]);
    recordOwnEpochs(store, ['me~c']);
    expect(batchesToRerun(store, 'me~b', 0, 'me~c', undefined).ops).toEqual([
      batch('me~b', 1),
      batch('me~c', 1),
    ]);
    store.close();
  });
});
