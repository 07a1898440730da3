// The owner's drain (src/agent/owner.ts, docs/agent.md "Writes: one owner, group commit, fixed
// effect order"): one input that throws in its step is that input's failure (its writer gets the
// error, the inputs beside it in the same drain apply and commit, the owner goes on); the store
// failing to commit stops the agent (fail-stop) with a fatal log line, acknowledging nothing.
import { generateKeyPair } from '@libp2p/crypto/keys';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import pino from 'pino';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { Owner, type OwnerInput, type WriteResult } from '../../src/agent/owner.js';
import { Replica } from '../../src/core/replica.js';
import { StoreError, StoreErrorCode } from '../../src/store/store-errors.js';

interface Rig {
  owner: Owner;
  replica: Replica;
  rows: { origin: string; seq: number }[][];
  lines: { level: number; msg: string }[];
  failStops: number;
  published: number;
}

async function rig(appendEvents?: () => void): Promise<Rig> {
  const lines: { level: number; msg: string }[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(l) as never);
      done();
    },
  });
  const privateKey = await generateKeyPair('Ed25519');
  const replica = new Replica({ id: peerIdFromPrivateKey(privateKey).toString() });
  const r: Rig = { owner: undefined as never, replica, rows: [], lines, failStops: 0, published: 0 };
  r.owner = new Owner({
    now: () => 1_700_000_000_000,
    replica: () => replica,
    store: {
      appendEvents: (rows) => {
        appendEvents?.();
        r.rows.push(rows.map((x) => ({ origin: x.origin, seq: x.seq })));
        return rows.length;
      },
    },
    log: pino({ level: 'info' }, sink),
    privateKey,
    counters: {
      localEvents: 0,
      remoteEvents: 0,
      rejectedEvents: 0,
      notOwnerEvents: 0,
      clockDrift: 0,
      rejectedSnapshots: 0,
      bufferEvicted: 0,
      bufferFarAhead: 0,
    },
    publish: () => {
      r.published++;
    },
    notify: () => undefined,
    repair: () => undefined,
    install: () => true,
    maintain: () => undefined,
    failStop: () => {
      r.failStops++;
    },
  });
  return r;
}

/** Queues a local write (without draining yet) and returns its outcome. */
function write(r: Rig, ops: unknown[]): Promise<WriteResult> {
  return new Promise<WriteResult>((resolve, reject) => {
    const input: OwnerInput = { kind: 'local', ops, system: false, resolve, reject };
    void r.owner.queue.push(input);
  });
}
const inc = (key: string) => [{ type: 'pn-counter', key, op: { kind: 'increment', by: 1 } }];
const outcome = (p: Promise<unknown>) =>
  p.then(
    (v) => ({ ok: v }),
    (e: unknown) => ({ err: e as Error }),
  );

describe('the owner drain', () => {
  it('an input that throws in its step is refused alone; the others in the drain apply and commit', async () => {
    const r = await rig();
    const good1 = outcome(write(r, inc('a')));
    const bad = outcome(write(r, [{ type: 'pn-counter', key: 'b', op: { kind: 'explode' } }]));
    const good2 = outcome(write(r, inc('c')));
    expect(r.owner.queue.length).toBe(3); // all three wait for the same drain
    const [g1, b, g2] = await Promise.all([good1, bad, good2]);
    expect(g1).toEqual({ ok: { origin: r.replica.id, seq: 1 } });
    expect(g2).toEqual({ ok: { origin: r.replica.id, seq: 2 } });
    expect('err' in b && b.err.message).toBe('A counter op kind must be "increment" or "decrement".');
    expect(r.rows).toEqual([
      [
        { origin: r.replica.id, seq: 1 },
        { origin: r.replica.id, seq: 2 },
      ],
    ]); // one group commit, without the bad input
    expect(r.replica.read('pn-counter', 'a')?.value).toBe(1);
    expect(r.replica.read('pn-counter', 'b')).toBeUndefined();
    expect(r.replica.read('pn-counter', 'c')?.value).toBe(1);
    expect(r.failStops).toBe(0);
    // The owner goes on.
    expect(await write(r, inc('a'))).toEqual({ origin: r.replica.id, seq: 3 });
    expect(r.replica.read('pn-counter', 'a')?.value).toBe(2);
  });

  it('a store that fails to commit stops the agent: a fatal line, every write in the drain rejected', async () => {
    const failure = new StoreError(StoreErrorCode.IoError, 'disk full (test)');
    const r = await rig(() => {
      throw failure;
    });
    const results = await Promise.all([outcome(write(r, inc('a'))), outcome(write(r, inc('b')))]);
    expect(results).toEqual([{ err: failure }, { err: failure }]);
    expect(r.failStops).toBe(1);
    expect(r.rows).toEqual([]);
    expect(r.published).toBe(0);
    const fatal = r.lines.filter((l) => l.level === 60);
    expect(fatal.map((l) => l.msg)).toEqual(['the store failed to commit; stopping the agent']);
    expect(JSON.stringify(fatal[0])).toContain('STORE_IO_ERROR');
  });
});
