// After a partition heals (issue 8), the member that was cut off reconnects to every member of
// the other side at once, and they all hold the same backlog. It must be sent to it once: a
// pull from a second such member that ended after its header (pull-overlap.ts) still had the
// responder send the whole backlog, which the requester then dropped (on loopback all of it,
// across a WAN up to the stream's 256 KiB flow-control window). Counted by the responders'
// `servedEventsWritten` (envelopes written to sync responses, frame by frame). No timings.
import { afterEach, describe, expect, it } from 'vitest';
import { Agent } from '../../src/agent/agent.js';
import {
  hits,
  incHits,
  quiet,
  stopAll,
  testConfig,
  waitConnected,
  waitConverged,
  waitFor,
} from './helpers.js';

let agents: Agent[] = [];
afterEach(async () => {
  await stopAll(agents);
  agents = [];
});

const written = (a: Agent): number => a.sync.counters().servedEventsWritten;

describe('after a partition heals', () => {
  it('the other side sends the returning member its backlog once, not once per member', async () => {
    // Rounds every hour and gossip off: only the reconnections (and heartbeats) start pulls,
    // and every event crosses by sync, where it is counted.
    // c joins both: it dials both again as soon as it is back, as members do on a WAN.
    const settings = { syncIntervalMs: 3_600_000, gossip: false };
    const a = await Agent.start(testConfig(settings), { logger: quiet });
    agents.push(a);
    const b = await Agent.start(testConfig({ ...settings, join: a.addresses() }), { logger: quiet });
    agents.push(b);
    const join = [...a.addresses(), ...b.addresses()];
    const c = await Agent.start(testConfig({ ...settings, join }), { logger: quiet });
    agents.push(c);
    await waitConnected(agents);
    await c.isolate(true);
    await waitFor(() => c.connectedPeers().length === 0, 'c to be cut off');
    const n = 100;
    for (let i = 0; i < n; i++) {
      await incHits(a, 1);
      await incHits(b, 1);
      await incHits(c, 1);
    }
    await waitFor(() => hits(a) === 2 * n && hits(b) === 2 * n, 'a and b to hold each other’s writes');
    // c applies what its first pull brings only once a pull from the other member started too
    // (the backlog takes a while to apply on a loaded machine: the two pulls overlap there).
    const healedAt = Date.now();
    const pulledFromBoth = (): boolean =>
      [a, b].every((x) =>
        c.antiEntropy.pulls.recent().some((r) => r.peer === x.peerId && r.startedAt >= healedAt),
      );
    const receive = c.antiEntropy.receiveRaw.bind(c.antiEntropy);
    c.antiEntropy.receiveRaw = async (envelopes) => {
      await waitFor(pulledFromBoth, 'c to have pulled from a and from b', 30_000);
      return receive(envelopes);
    };
    const before = agents.map(written);
    await c.isolate(false);
    await waitConverged(agents, 'convergence after the heal');
    expect(hits(c)).toBe(3 * n);
    const sent = agents.map((x, i) => written(x) - (before[i] ?? 0));
    // a and b sent c the 2n events it lacked once (with the few membership records they wrote
    // as it came back); before, the second of them sent all 2n again. c sent its n to each of
    // them: both lacked them.
    const to = `events written to sync responses by a, b, c: ${JSON.stringify(sent)}`;
    expect(sent[0]! + sent[1]!, to).toBeGreaterThanOrEqual(2 * n);
    expect(sent[0]! + sent[1]!, to).toBeLessThan(3 * n);
    expect(sent[2], to).toBeGreaterThanOrEqual(2 * n);
    expect(sent[2], to).toBeLessThan(3 * n);
  });
});
