// A new connection to a member we declared dead (a partition healing): we refute at once, since
// it most likely declared us dead too (src/agent/membership.ts `connected`; issue 8).
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { Membership, MEMBERS_KEY } from '../../src/agent/membership.js';
import { LAN_PROFILE } from '../../src/core/membership/config.js';
import type { MembershipInput } from '../../src/core/membership/messages.js';
import type { SmacNode } from '../../src/net/node.js';

// No probe in turn during a test.
const CONFIG = { ...LAN_PROFILE, probeIntervalMs: 600_000 };
const fakeNode = {
  addEventListener: () => undefined,
  removeEventListener: () => undefined,
  handle: () => Promise.resolve(),
  unhandle: () => Promise.resolve(),
  getConnections: () => [],
} as unknown as SmacNode;

interface Harness {
  readonly m: Membership;
  /** Incarnations of the records we added for ourselves, in order. */
  readonly ours: number[];
  readonly feed: (input: MembershipInput) => void;
}

const started: Membership[] = [];
afterEach(async () => {
  await Promise.all(started.splice(0).map((m) => m.stop()));
});

const RECORDS = [
  { id: 'a', incarnation: 1, meta: {} },
  { id: 'b', incarnation: 1, meta: {} },
  { id: 'c', incarnation: 1, meta: {} },
];

async function harness(records = RECORDS): Promise<Harness> {
  const ours: number[] = [];
  const m = new Membership({
    node: fakeNode,
    self: { id: 'a', incarnation: 1, meta: {} },
    config: CONFIG,
    log: pino({ level: 'silent' }),
    write: (ops) => {
      for (const op of ops as { op: { kind: string; value: { id: string; incarnation: number } } }[])
        if (op.op.kind === 'add' && op.op.value.id === 'a') ours.push(op.op.value.incarnation);
      return Promise.resolve();
    },
    read: () => ({
      type: 'aw-set',
      key: MEMBERS_KEY,
      value: records as never,
    }),
    isolated: () => false,
  });
  const inner = m as unknown as {
    transport: { send: (to: string, bytes: Uint8Array) => void };
    apply: (i: MembershipInput) => void;
  };
  inner.transport.send = () => undefined; // no network
  await m.start();
  started.push(m);
  const feed = (i: MembershipInput): void => {
    inner.apply(i);
  };
  return { m, ours, feed };
}

describe('a new connection to a member we declared dead', () => {
  it('refutes at once, once for several dead members returning together', async () => {
    const h = await harness();
    h.feed({ kind: 'dead', id: 'b', incarnation: 1, from: 'c' });
    h.feed({ kind: 'dead', id: 'c', incarnation: 1, from: 'b' });
    expect(h.ours).toEqual([1]); // our record at start
    h.m.connected('b');
    h.m.connected('c');
    expect(h.ours).toEqual([1, 2]);
    expect(h.m.members().find((v) => v.id === 'a')?.incarnation).toBe(2);
  });

  it('does nothing for a member alive or suspect in our view', async () => {
    const h = await harness();
    h.feed({ kind: 'suspect', id: 'c', incarnation: 1, from: 'b' });
    h.m.connected('b');
    h.m.connected('c');
    h.m.connected('a');
    expect(h.ours).toEqual([1]);
    expect(h.m.stats().probesOutOfTurn).toBe(0);
  });
});

describe('our record from an earlier life, above our incarnation', () => {
  it('is outbid at once (we lost our store and restarted low; issue 7/8)', async () => {
    const h = await harness([...RECORDS.slice(1), { id: 'a', incarnation: 4, meta: {} }]);
    expect(h.ours).toEqual([1, 5]);
    expect(h.m.members().find((v) => v.id === 'a')?.incarnation).toBe(5);
  });
});
