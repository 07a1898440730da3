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

function start(meta: Map<string, string>, replica: Replica, clock: { now: number }) {
  const writes: unknown[][] = [];
  const counters = { compactions: 0, reaps: 0 };
  const compactor = new Compactor({
    self: 'a',
    store: fakeStore(meta),
    replica: () => replica,
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
