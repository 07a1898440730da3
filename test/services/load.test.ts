// Load monitoring across three real agents: concurrent increments and decrements from every
// agent sum up the same everywhere, per node and per region; dead nodes leave the sums; gauges
// per node; bad input is refused without a write.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Agent } from '../../src/agent/agent.js';
import { ErrorCode, SmacError } from '../../src/core/errors.js';
import { LoadMonitor } from '../../src/services/load.js';
import { ServiceError } from '../../src/services/service-errors.js';
import { startCluster, stopAll, waitConnected, waitFor } from '../agent/helpers.js';
import { FakeLiveness } from './helpers.js';

let agents: Agent[] = [];
let monitors: LoadMonitor[] = [];
let liveness: FakeLiveness;
let a: Agent, b: Agent, c: Agent;

beforeAll(async () => {
  agents = await startCluster(3, {}, { checks: false });
  await waitConnected(agents, 1);
  [a, b, c] = agents as [Agent, Agent, Agent];
  liveness = new FakeLiveness(
    agents.map((x) => x.peerId),
    { [a.peerId]: 'eu-west', [b.peerId]: 'eu-west', [c.peerId]: 'us-east' },
  );
  monitors = agents.map((host) => new LoadMonitor({ host, liveness }));
});

afterAll(async () => {
  await stopAll(agents);
});

describe('load monitoring on the keyspace', () => {
  it('concurrent increments and decrements from every agent sum the same everywhere', async () => {
    // Agent i opens 10 * (i + 1) connections and closes i + 1 of them, all at once.
    await Promise.all(
      monitors.flatMap((m, i) => [
        ...Array.from({ length: 10 }, () => m.increment('conns', i + 1)),
        m.decrement('conns', i + 1),
      ]),
    );
    const expected = { [a.peerId]: 9, [b.peerId]: 18, [c.peerId]: 27 };
    await waitFor(
      () => monitors.every((m) => m.query('conns').counter?.sum === 54),
      'the counter sum converges everywhere',
    );
    for (const m of monitors) {
      const counter = m.query('conns').counter;
      expect(counter?.count).toBe(3);
      expect(Object.fromEntries(counter?.nodes.map((n) => [n.node, n.value]) ?? [])).toEqual(expected);
      expect(counter?.regions).toEqual({ 'eu-west': 27, 'us-east': 27 });
      expect(m.query('conns').gauge).toBeNull();
    }
    expect(monitors[1]?.metrics()).toContainEqual({ name: 'conns', counter: true, gauge: false });
  });

  it('a counter resolves with this node’s own value and may go below zero', async () => {
    const m = monitors[0]!;
    expect(await m.increment('own', 5)).toBe(5);
    expect(await m.decrement('own', 7)).toBe(-2);
    expect(await m.increment('own')).toBe(-1);
  });

  it('dead nodes leave the sums and regions but stay listed', () => {
    liveness.kill(c.peerId);
    try {
      const counter = monitors[0]?.query('conns').counter;
      expect(counter?.sum).toBe(27);
      expect(counter?.count).toBe(2);
      expect(counter?.regions).toEqual({ 'eu-west': 27 });
      expect(counter?.nodes.find((n) => n.node === c.peerId)).toEqual({
        node: c.peerId,
        value: 27,
        alive: false,
        region: 'us-east',
      });
    } finally {
      liveness.revive(c.peerId);
    }
    expect(monitors[0]?.query('conns').counter?.sum).toBe(54);
  });

  it('gauges: one value per node, the latest write wins, summed per region', async () => {
    await Promise.all(monitors.map((m, i) => m.setGauge('cpu', 0.25 * (i + 1))));
    await monitors[2]?.setGauge('cpu', 0.5);
    await waitFor(
      () => monitors.every((m) => m.query('cpu').gauge?.sum === 1.25),
      'gauges converge everywhere',
    );
    const gauge = monitors[1]?.query('cpu').gauge;
    expect(gauge?.regions).toEqual({ 'eu-west': 0.75, 'us-east': 0.5 });
    expect(gauge?.count).toBe(3);
    expect(monitors[1]?.query('cpu').counter).toBeNull();
    await monitors[2]?.clearGauge('cpu');
    await waitFor(() => monitors.every((m) => m.query('cpu').gauge?.count === 2), 'a cleared gauge leaves');
  });

  it('resetting a node’s counter removes only its own count', async () => {
    await monitors[1]?.resetCounter('conns');
    await waitFor(() => monitors.every((m) => m.query('conns').counter?.sum === 36), 'reset replicated');
    expect(monitors[0]?.query('conns').counter?.nodes.map((n) => n.node)).not.toContain(b.peerId);
  });

  it('an unknown metric is NOT_FOUND', () => {
    expect(() => monitors[0]?.query('never-written')).toThrow(ServiceError);
  });

  it('rejects bad input with INVALID_ARGUMENT and writes nothing', async () => {
    const m = monitors[0]!;
    const before = a.clock().get(a.status().origin);
    expect(before).toBeGreaterThan(0); // its member record, at least
    const attempts: (() => Promise<unknown>)[] = [
      () => m.increment('bad name'),
      () => m.increment('a/b'),
      () => m.increment('x'.repeat(65)),
      () => m.increment('ok', 0),
      () => m.increment('ok', -1),
      () => m.increment('ok', 1.5),
      () => m.decrement('ok', 2_000_000_000),
      () => m.setGauge('ok', Number.NaN),
      () => m.setGauge('ok', Infinity),
      () => m.setGauge('ok', '1' as never),
    ];
    for (const attempt of attempts) {
      const error = await attempt().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(SmacError);
      expect((error as SmacError).code).toBe(ErrorCode.InvalidArgument);
    }
    expect(() => m.query('bad name')).toThrow(SmacError);
    expect(a.clock().get(a.status().origin)).toBe(before);
  });
});
