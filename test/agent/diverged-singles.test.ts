// Two agents started as deliberate single nodes (no join addresses, mDNS off) compact alone by
// design. Joined later, each holds events the other lacks that only its own snapshot holds:
// neither can install the other's snapshot, and no log still holds the events that would fill
// the gap (docs/chaos.md "two single nodes joined after both compacted"). Such a peer is a
// member of another cluster: each refuses the other (etcd's "cluster ID mismatch"), loudly,
// instead of half-joining it, and neither replica's data changes.
import { afterEach, describe, expect, it } from 'vitest';
import type { Agent } from '../../src/agent/agent.js';
import { foldedBeyond } from '../../src/agent/divergence.js';
import { ApiMetrics } from '../../src/api/metrics.js';
import { inc, refusingPair, starter } from './diverged-pair.js';
import { stopAll, waitFor } from './helpers.js';

const agents: Agent[] = [];
afterEach(() => stopAll(agents.splice(0)));
const start = starter(agents);

/** Every place an agent shows a member: status peers, stability members, the failure detector. */
function showsAsMember(a: Agent, b: Agent): boolean {
  const s = a.status();
  return (
    s.peers.some((p) => p.peerId === b.peerId) ||
    s.compaction.members.includes(b.peerId) ||
    a.members().members.some((m) => m.id === b.peerId) ||
    a.liveness.nodes().includes(b.peerId)
  );
}

describe('two single nodes joined after both compacted', () => {
  it('refuse each other, loudly, and keep their own data', async () => {
    const opts = { snapshotEveryEvents: 20, heartbeatIntervalMs: 100 };
    const [a, b] = await refusingPair(start, opts);
    // Refused: the connection is closed and stays closed; neither shows the other as a member.
    await waitFor(
      () => !showsAsMember(a, b) && !showsAsMember(b, a),
      'neither agent to show the other as a member',
    );
    expect(a.connectedPeers()).not.toContain(b.peerId);
    await expect(a.connect(b.addresses()[0] ?? '')).rejects.toThrow();
    expect(b.connectedPeers()).not.toContain(a.peerId);
    // Nothing of either replica changed, and each keeps accepting writes.
    expect(a.read('pn-counter', 'hits')?.value).toBe(60);
    expect(b.read('pn-counter', 'hits')?.value).toBe(60);
    await inc(a, 1);
    await inc(b, 2);
    expect(a.read('pn-counter', 'hits')?.value).toBe(61);
    expect(b.read('pn-counter', 'hits')?.value).toBe(62);
    expect([...a.clock().keys()].every((o) => o.startsWith(a.peerId))).toBe(true);
    // Counted, on /metrics too.
    expect(a.status().counters.refusedDiverged).toBeGreaterThan(0);
    const text = await new ApiMetrics().render(b.status());
    expect(text).toMatch(/smac_peers_refused_total\{reason="diverged"\} [1-9]/);
    const entry = a.status().refused.find((r) => r.peerId === b.peerId);
    expect(entry?.detail).toMatch(/folded/);
  }, 120_000);

  it('a pair that shares a member is not refused and converges', async () => {
    // c never compacts; a and b meet only through c at first, and each compacts its own
    // writes once every member it knows (c, and the other through c's word) delivered them.
    const a = await start({ snapshotEveryEvents: 20, heartbeatIntervalMs: 100 });
    const b = await start({ snapshotEveryEvents: 20, heartbeatIntervalMs: 100 });
    const c = await start({ snapshotEveryEvents: 100_000, heartbeatIntervalMs: 100 });
    await c.connect(a.addresses()[0] ?? '');
    await c.connect(b.addresses()[0] ?? '');
    await Promise.all([inc(a, 60), inc(b, 60)]);
    await waitFor(
      () => a.status().counters.compactions > 0 && b.status().counters.compactions > 0,
      'a and b to compact',
      60_000,
    );
    await a.connect(b.addresses()[0] ?? '').catch(() => undefined); // peer exchange may have
    await waitFor(
      () => [a, b, c].every((x) => x.read('pn-counter', 'hits')?.value === 120),
      'all three to converge on 120',
      60_000,
    );
    for (const x of [a, b, c]) {
      expect(x.status().refused).toEqual([]);
      expect(x.status().counters.refusedDiverged).toBe(0);
      expect(x.status().counters.divergedPulls).toBe(0);
    }
  }, 150_000);
});

describe('agents that are no member of another cluster join as before', () => {
  it('a fresh empty agent, and a lone one that never compacted, join a single node that did', async () => {
    const a = await start({ snapshotEveryEvents: 20, heartbeatIntervalMs: 100 });
    await inc(a, 60);
    await waitFor(() => a.status().counters.compactions > 0, 'a to compact alone');
    const fresh = await start({ heartbeatIntervalMs: 100 });
    const lone = await start({ snapshotEveryEvents: 100_000, heartbeatIntervalMs: 100 });
    await inc(lone, 30);
    await fresh.connect(a.addresses()[0] ?? '');
    await lone.connect(a.addresses()[0] ?? '');
    await waitFor(
      () => [a, fresh, lone].every((x) => x.read('pn-counter', 'hits')?.value === 90),
      'all three to converge on 90',
      60_000,
    );
    for (const x of [a, fresh, lone]) {
      expect(x.status().refused).toEqual([]);
      expect(x.status().counters.refusedDiverged).toBe(0);
    }
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
