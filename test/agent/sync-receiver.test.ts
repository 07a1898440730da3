// What sync does with the envelopes a pull brings (src/agent/sync-receiver.ts): copies that
// another pull already queued are dropped before their signatures are checked, and a bad
// envelope is refused and counted while the rest of its frame is applied.
import { describe, expect, it } from 'vitest';
import { SyncReceiver } from '../../src/agent/sync-receiver.js';
import type { VerifiedEvent } from '../../src/net/gossip.js';
import { chainedEvents, newKey, signedEvent } from '../net/helpers.js';
import { quiet, waitFor } from './helpers.js';

/** A copy of `envelope` whose signature (its last bytes) no longer verifies. */
function forged(envelope: Uint8Array): Uint8Array {
  const copy = Uint8Array.from(envelope);
  copy[copy.length - 1] = (copy[copy.length - 1] ?? 0) ^ 0xff;
  return copy;
}

function receiver(): {
  r: SyncReceiver;
  queued: number[][];
  apply: () => void;
  counters: { rejectedEvents: number };
} {
  const queued: number[][] = [];
  const pending: (() => void)[] = [];
  const counters = { rejectedEvents: 0 };
  const r = new SyncReceiver({
    log: quiet,
    counters,
    clock: () => new Map(),
    receive: (items: readonly VerifiedEvent[]) => {
      queued.push(items.map((i) => i.event.seq));
      return new Promise((resolve) => pending.push(resolve));
    },
  });
  const apply = (): void => {
    for (const f of pending.splice(0)) f();
  };
  return { r, queued, apply, counters };
}

describe('the sync receiver', () => {
  it('drops a copy that a concurrent pull queued without checking its signature', async () => {
    const key = await newKey();
    const { r, queued, apply, counters } = receiver();
    const first = r.receive([1, 2].map((seq) => signedEvent(key, seq)));
    // The second pull's copy of seq 2 is forged: had it been checked, it would be refused.
    const second = r.receive([forged(signedEvent(key, 2)), signedEvent(key, 3)]);
    await waitFor(() => queued.length === 2, 'both pulls queued');
    apply();
    await Promise.all([first, second]);
    expect(queued).toEqual([[1, 2], [3]]);
    expect(counters.rejectedEvents).toBe(0);
  });

  it('refuses and counts a forged or malformed envelope and applies the rest of the frame', async () => {
    const key = await newKey();
    const { r, queued, apply, counters } = receiver();
    const frame = [
      signedEvent(key, 1),
      forged(signedEvent(key, 2)),
      Uint8Array.from([1, 200, 1, 2]),
      signedEvent(key, 3),
    ];
    const done = r.receive(frame);
    await waitFor(() => queued.length === 1, 'the frame queued');
    apply();
    await done;
    expect(queued).toEqual([[1, 3]]);
    expect(counters.rejectedEvents).toBe(2);
  });

  it('refuses a forged event inside a chained run on its own, counts it, and applies the rest', async () => {
    const key = await newKey();
    const { r, queued, apply, counters } = receiver();
    const frame = chainedEvents(key, 1, 12);
    frame[6] = forged(frame[6]!);
    const done = r.receive(frame);
    await waitFor(() => queued.length === 1, 'the frame queued');
    apply();
    await done;
    expect(queued).toEqual([[1, 2, 3, 4, 5, 6, 8, 9, 10, 11, 12]]);
    expect(counters.rejectedEvents).toBe(1);
  });
});
