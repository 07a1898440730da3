// A joiner that has not reached any member yet must not compact its own writes: it knows no
// member, so everything looked stable, and its writes then lived only in its snapshot. Found
// with the nemesis (docs/chaos.md, seed 5 with --reap-after 30s): a2, back with an empty store
// after a store loss and cut off before it reached anyone, wrote 83 events and compacted them;
// after the heal neither it nor its peers could install the other's snapshot (each lacked
// events the other had compacted away), and a2 stayed forked for good.
import { afterEach, describe, expect, it } from 'vitest';
import { Agent } from '../../src/agent/agent.js';
import { NO_MEMBER_YET } from '../../src/agent/compaction.js';
import { quiet, stopAll, testConfig, waitConverged, waitFor } from './helpers.js';

const agents: Agent[] = [];
afterEach(() => stopAll(agents.splice(0)));

async function inc(a: Agent, n: number): Promise<void> {
  for (let i = 0; i < n; i++)
    await a.write([{ type: 'pn-counter', key: 'hits', op: { kind: 'increment', by: 1 } }]);
}

describe('a joiner that reached no member yet', () => {
  it('keeps its writes in its log until a member holds them, and converges after the heal', async () => {
    const opts = { snapshotEveryEvents: 20, heartbeatIntervalMs: 100 };
    const a = await Agent.start(testConfig(opts), { logger: quiet });
    agents.push(a);
    await inc(a, 5);
    await a.isolate(true);
    const b = await Agent.start(testConfig({ ...opts, join: a.addresses() }), { logger: quiet });
    agents.push(b);
    await inc(b, 60); // well past snapshotEveryEvents, with no member known
    await inc(a, 60); // a, alone and without join addresses, compacts as a single node may
    expect(b.status().counters.compactions).toBe(0);
    await a.isolate(false);
    await waitConverged([a, b], 'the joiner and the first agent to converge', 45_000);
    expect(a.read('pn-counter', 'hits')?.value).toBe(125);
  }, 120_000);
});

// Agents that find their peers by mDNS alone (no join addresses) must not compact their own
// writes before they reached a member either: two agents that start on a LAN and each write
// past snapshotEveryEvents before multicast brings them together (slow multicast, a switch that
// came up late) would each fold their writes alone, and neither could then install the other's
// snapshot: forked for good. mDNS itself is stubbed (no multicast outside a private
// namespace): the agents are configured with `mdns` on, their nodes run without it, and the
// test connects them by hand once both wrote, as mDNS would.
const mdnsOpts = { snapshotEveryEvents: 20, heartbeatIntervalMs: 100, mdns: true };

describe('agents that find their peers by mDNS alone', () => {
  it('keep their writes in their logs until they met, and converge when mDNS brings them together', async () => {
    const a = await Agent.start(testConfig(mdnsOpts), { logger: quiet, mdns: false });
    agents.push(a);
    const b = await Agent.start(testConfig(mdnsOpts), { logger: quiet, mdns: false });
    agents.push(b);
    await inc(a, 60); // well past snapshotEveryEvents, with no member known
    await inc(b, 60);
    for (const x of [a, b]) {
      expect(x.status().counters.compactions).toBe(0);
      // /v1/status says why: no member reached yet, and the whole log waits for one.
      expect(x.status().compaction.blockedBy[0]).toMatchObject({
        reason: 'no-member-yet',
        peerId: NO_MEMBER_YET,
      });
      expect(x.status().compaction.blockedBy[0]?.pinnedEvents).toBeGreaterThanOrEqual(60);
    }
    await a.connect(b.addresses()[0] ?? '');
    await waitConverged([a, b], 'the two mDNS agents to converge', 45_000);
    expect(a.read('pn-counter', 'hits')?.value).toBe(120);
    expect(b.read('pn-counter', 'hits')?.value).toBe(120);
    // Once they met, the wait is over: each compacts by the other's reports as usual.
    await inc(a, 30);
    await waitFor(
      () => a.status().counters.compactions > 0 && b.status().counters.compactions > 0,
      'both agents to compact once they met',
      45_000,
    );
    await waitConverged([a, b], 'the two mDNS agents to converge after compacting', 45_000);
    expect(b.read('pn-counter', 'hits')?.value).toBe(150);
  }, 120_000);
});
