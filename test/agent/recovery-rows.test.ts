// Recovery on start decodes the stored snapshot's keyspace into the replica's state row by row
// (src/agent/recovery.ts), as a peer's snapshot is: the state it recovers is the one the stored
// snapshot holds, and a stored snapshot with a bad object is refused as before (DECODE_ERROR).
import { describe, expect, it } from 'vitest';
import { recoverReplica } from '../../src/agent/recovery.js';
import { encodeSnapshot } from '../../src/core/codec/index.js';
import { SmacError } from '../../src/core/errors.js';
import type { Json } from '../../src/core/json.js';
import { Replica } from '../../src/core/replica.js';
import { Store } from '../../src/store/store.js';
import { useTempDirs } from '../store/helpers.js';

const tempDir = useTempDirs();
const NOW = 1_700_000_000_000;

function written(n: number): Replica {
  const r = new Replica({ id: 'me~1' });
  for (let i = 0; i < n; i++)
    r.step(
      {
        kind: 'local',
        ops: [{ type: 'pn-counter', key: `c/${i % 7}`, op: { kind: 'increment', by: i + 1 } }],
      },
      NOW + i,
    );
  return r;
}

describe('recovery from a stored snapshot', () => {
  it('recovers the state it holds, and refuses one with a bad object', () => {
    const source = written(40);
    const store = Store.open({ dataDir: tempDir() });
    store.saveSnapshot({ pos: 0, vc: source.clock(), bytes: encodeSnapshot(source.snapshot()) });
    const back = recoverReplica(store, { id: 'me~1' }, NOW);
    expect(back.list()).toEqual(source.list());
    expect(back.clock()).toEqual(source.clock());

    const rows = source.snapshot().keyspace as Json[];
    const bad = [...rows, ['pn-counter', 'c//x', {}, {}]]; // an empty key segment
    const other = Store.open({ dataDir: tempDir() });
    other.saveSnapshot({
      pos: 0,
      vc: source.clock(),
      bytes: encodeSnapshot({ ...source.snapshot(), keyspace: bad }),
    });
    let thrown: unknown;
    try {
      recoverReplica(other, { id: 'me~1' }, NOW);
    } catch (e) {
      thrown = e;
    }
    expect(thrown).toBeInstanceOf(SmacError);
    expect((thrown as SmacError).code).toBe('DECODE_ERROR');
    store.close();
    other.close();
  });
});
