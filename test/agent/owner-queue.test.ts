// The owner queue never lets a failing drain escape into the event loop (where it would kill
// the process from a setImmediate): the failure is reported, the drain's waiters are released,
// and later inputs drain as usual.
import { describe, expect, it } from 'vitest';
import { OwnerQueue } from '../../src/agent/owner-queue.js';

describe('OwnerQueue', () => {
  it('reports a drain that throws, releases its waiters and keeps draining later inputs', async () => {
    const drained: number[][] = [];
    const errors: unknown[] = [];
    const q = new OwnerQueue<number>(
      (items) => {
        if (items.includes(13)) throw new Error('unlucky');
        drained.push(items);
      },
      { onError: (e) => errors.push(e) },
    );
    await Promise.all([q.push(1), q.push(13)]);
    expect(errors).toHaveLength(1);
    expect((errors[0] as Error).message).toBe('unlucky');
    await q.push(2);
    await Promise.all([q.push(3), q.push(4)]);
    expect(drained).toEqual([[2], [3, 4]]);
    q.close();
    await expect(q.push(5)).rejects.toThrow(/stopping/);
  });

  it('without onError, a throwing drain is still contained', async () => {
    const q = new OwnerQueue<number>(() => {
      throw new Error('boom');
    });
    await q.push(1);
    expect(() => {
      q.drainNow();
    }).not.toThrow();
  });

  it('refuses input after close without an unhandled rejection when nobody awaits it', async () => {
    // docs/chaos.md: "The agent is stopping; no new input is accepted" was seen unhandled, from
    // a gossip delivery dropped unawaited while the agent stopped.
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown): void => {
      unhandled.push(reason);
    };
    process.on('unhandledRejection', onUnhandled);
    try {
      const q = new OwnerQueue<number>(() => undefined);
      q.close();
      void q.push(1); // a caller that drops the promise
      await new Promise((r) => setTimeout(r, 0));
      expect(unhandled.map(String)).toEqual([]);
      await expect(q.push(2)).rejects.toThrow(/stopping/); // one that awaits still hears of it
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });
});
