// A restarted agent must measure a member's silence from when it last heard the member or from
// its own start, whichever is later, never from before its own downtime (issue 7; docs/chaos.md
// "Open"). Last-seen times are persisted in the store's metadata; before this test, an agent
// down for longer than reapAfterMs came back and at its first step reaped every member it had
// last heard before it went down, although it never had a chance to hear them since
// (`the member was silent and not alive for … ms (reapAfterMs)`), live ones included.
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { Compactor } from '../../src/agent/compaction.js';
import { originOf } from '../../src/core/origin.js';
import { Replica } from '../../src/core/replica.js';
import type { Store } from '../../src/store/store.js';
import { reportOp } from '../../src/core/reaping.js';
import { inc, NOW, receive, write } from '../support/replicas.js';

const REAP_AFTER_MS = 30_000;

/** The store metadata survives the restart; nothing else of the store is read here. */
function fakeStore(meta: Map<string, string>): Store {
  return {
    getMeta: (k: string) => meta.get(k),
    setMeta: (k: string, v: string) => {
      meta.set(k, v);
    },
    latestSnapshot: () => undefined,
    logStats: () => ({ events: 0, lastPos: 0 }),
  } as unknown as Store;
}

function start(meta: Map<string, string>, replica: Replica | (() => Replica), clock: { now: number }) {
  const writes: unknown[][] = [];
  const counters = { compactions: 0, reaps: 0 };
  const compactor = new Compactor({
    self: 'a',
    store: fakeStore(meta),
    replica: typeof replica === 'function' ? replica : () => replica,
    log: pino({ level: 'silent' }),
    now: () => clock.now,
    snapshotEveryEvents: 1_000_000,
    reapAfterMs: REAP_AFTER_MS,
    maxLogEvents: 10_000_000,
    candidates: () => ['a', 'b'],
    isAlive: () => false,
    write: (ops) => {
      writes.push([...ops]);
      return new Promise(() => undefined); // never applied: the marker stays in flight
    },
    counters,
  });
  return { compactor, writes, counters };
}

describe('reapAfterMs after a restart', () => {
  const setup = () => {
    const meta = new Map<string, string>();
    const a = new Replica({ id: originOf('a', 'e1') });
    const b = new Replica({ id: originOf('b', 'e1') });
    receive(a, write(b, inc(1))); // b is a member with an epoch to reap
    const clock = { now: NOW };
    const first = start(meta, a, clock);
    first.compactor.view.heartbeat('b', b.clock(), false, a.clock(), clock.now);
    clock.now += 31_000; // past the throttle: the last-seen time is persisted
    first.compactor.view.heartbeat('b', b.clock(), false, a.clock(), clock.now);
    first.compactor.step();
    expect(first.writes).toEqual([]);
    expect(JSON.parse(meta.get('stability-view') ?? '{}')).toMatchObject({ lastSeen: { b: clock.now } });
    return { meta, a, b, clock };
  };

  it('does not reap a member at start because of the time this agent was down', () => {
    const { meta, a, clock } = setup();
    clock.now += 10 * REAP_AFTER_MS; // this agent was down for five minutes
    const second = start(meta, a, clock);
    second.compactor.step();
    expect(second.writes).toEqual([]);
    clock.now += REAP_AFTER_MS - 1_000;
    second.compactor.step();
    expect(second.writes).toEqual([]);
    expect(second.counters.reaps).toBe(0);
  });

  it('still reaps a member silent for reapAfterMs since this agent started', () => {
    const { meta, a, clock } = setup();
    clock.now += 10 * REAP_AFTER_MS;
    const second = start(meta, a, clock);
    clock.now += REAP_AFTER_MS;
    second.compactor.step();
    expect(second.writes).toHaveLength(1);
  });

  it('measures from the last heartbeat heard after the restart', () => {
    const { meta, a, b, clock } = setup();
    clock.now += 10 * REAP_AFTER_MS;
    const second = start(meta, a, clock);
    clock.now += 20_000;
    second.compactor.view.heartbeat('b', b.clock(), false, a.clock(), clock.now);
    clock.now += REAP_AFTER_MS - 1_000;
    second.compactor.step();
    expect(second.writes).toEqual([]);
    clock.now += 1_000;
    second.compactor.step();
    expect(second.writes).toHaveLength(1);
  });

  it('reports the silence since the last heartbeat ever heard, for the operator', () => {
    const { meta, a, clock } = setup();
    const heard = clock.now;
    clock.now += 10 * REAP_AFTER_MS;
    const second = start(meta, a, clock);
    expect(second.compactor.view.silentFor('b', clock.now)).toBe(clock.now - heard);
  });
});

// docs/chaos.md, "A restarted agent whose peers hold it reaped": it may hear nothing from them
// for reapAfterMs after its start (heartbeats stalled, its failure detector holding them dead
// under load), and then reaped the live peers on its own timer. An agent whose own epoch its
// peers are reaping is the one that was cut off: it rebases, it does not reap them; and once
// it writes under a new epoch its silence clock starts again.
describe('an agent whose own epoch is being reaped', () => {
  const reapedBy = (b: Replica, a: Replica) => {
    const seq = a.clock().get(a.id) ?? 0;
    const { event } = b.step(
      { kind: 'local', ops: [reportOp(a.id, { node: 'b', seq, members: ['b'] })], system: true },
      NOW,
    );
    if (!event) throw new Error('no event');
    return event;
  };

  it('does not reap the members it cannot hear', () => {
    const a = new Replica({ id: originOf('a', 'e1') });
    const b = new Replica({ id: originOf('b', 'e1') });
    receive(b, write(a, inc(1)));
    receive(a, write(b, inc(1)), reapedBy(b, a));
    expect(a.reapOf(a.id)?.cut).toBe(1);
    const clock = { now: NOW };
    const { compactor, writes } = start(new Map(), a, clock);
    compactor.view.heartbeat('b', b.clock(), false, a.clock(), clock.now);
    clock.now += 10 * REAP_AFTER_MS;
    compactor.step();
    expect(writes).toEqual([]);
  });

  it('measures silence from when it wrote under a new epoch', () => {
    let replica = new Replica({ id: originOf('a', 'e1') });
    const b = new Replica({ id: originOf('b', 'e1') });
    receive(b, write(replica, inc(1)));
    receive(replica, write(b, inc(1)), reapedBy(b, replica));
    const clock = { now: NOW };
    const { compactor, writes } = start(new Map(), () => replica, clock);
    compactor.view.heartbeat('b', b.clock(), false, replica.clock(), clock.now);
    clock.now += 2 * REAP_AFTER_MS;
    compactor.step();
    // It rebased: a new epoch, on a state that holds b's events.
    replica = Replica.fromSnapshot({ id: originOf('a', 'e2') }, replica.snapshot());
    compactor.step();
    clock.now += REAP_AFTER_MS - 1_000;
    compactor.step();
    expect(writes).toEqual([]);
    clock.now += 1_000;
    compactor.step();
    expect(writes).toHaveLength(1);
  });
});
