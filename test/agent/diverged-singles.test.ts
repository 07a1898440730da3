// Two agents started as deliberate single nodes (no join addresses, mDNS off) compact alone by
// design. Joined later, each holds events the other lacks that only its own snapshot holds:
// neither can install the other's snapshot, and no log still holds the events that would fill
// the gap (docs/chaos.md "Open: two single nodes joined after both compacted"). This is not
// healed; it must be loud: a counter in /v1/status (and /metrics), and an error line, where
// before it was one debug line per sync round and both sides looked healthy.
import { afterEach, describe, expect, it } from 'vitest';
import { Agent } from '../../src/agent/agent.js';
import { foldedBeyond } from '../../src/agent/divergence.js';
import { incHits, quiet, stopAll, testConfig, waitFor } from './helpers.js';

const agents: Agent[] = [];
afterEach(() => stopAll(agents.splice(0)));

/** `n` events of +1 each (compaction counts events, not increments). */
async function inc(a: Agent, n: number): Promise<void> {
  for (let i = 0; i < n; i++) await incHits(a, 1);
}

describe('two single nodes joined after both compacted', () => {
  it('report the divergence on both sides instead of looking healthy', async () => {
    const opts = { snapshotEveryEvents: 20, heartbeatIntervalMs: 100 };
    const a = await Agent.start(testConfig(opts), { logger: quiet });
    agents.push(a);
    const b = await Agent.start(testConfig(opts), { logger: quiet });
    agents.push(b);
    await inc(a, 60);
    await inc(b, 60);
    await waitFor(
      () => a.status().counters.compactions > 0 && b.status().counters.compactions > 0,
      'both single nodes to compact',
    );
    await a.connect(b.addresses()[0] ?? '');
    await waitFor(
      () => a.status().counters.divergedPulls > 0 && b.status().counters.divergedPulls > 0,
      'both agents to report the divergence',
      45_000,
    );
    // Still apart: the counter reports it, it does not hide a merge that never happened.
    expect(a.read('pn-counter', 'hits')?.value).toBe(60);
    expect(b.read('pn-counter', 'hits')?.value).toBe(60);
  }, 120_000);
});

describe('foldedBeyond', () => {
  const store = (events: { origin: string; seq: number }[]) => ({
    *eventsSince() {
      for (const e of events) yield { ...e, bytes: new Uint8Array() } as never;
    },
  });
  it('counts the events beyond the peer clock that the log no longer holds', () => {
    const clock = new Map([['x', 10]]);
    const peer = new Map([['x', 4]]);
    expect(
      foldedBeyond(
        clock,
        peer,
        store([
          { origin: 'x', seq: 9 },
          { origin: 'x', seq: 10 },
        ]),
      ),
    ).toBe(4);
    const all = [5, 6, 7, 8, 9, 10].map((seq) => ({ origin: 'x', seq }));
    expect(foldedBeyond(clock, peer, store(all))).toBe(0);
    expect(foldedBeyond(peer, clock, store([]))).toBe(0);
  });
});
