// Chained envelopes between agents (issue 8): once every member reads wire version 5, an
// agent seals each event linked to the one before it, and a peer receiving a run of them
// checks one signature per run, whether the run comes by gossip or by sync.
import { afterEach, describe, expect, it } from 'vitest';
import type { Agent } from '../../src/agent/agent.js';
import { LOCAL_PROTOCOL } from '../../src/core/wire-version.js';
import { CHAINED_ENVELOPE_VERSION, envelopeLink, openEnvelope } from '../../src/net/envelope.js';
import { startCluster, stopAll, waitConverged, waitFor } from './helpers.js';

let agents: Agent[] = [];
afterEach(() => stopAll(agents.splice(0)));

const inc = { type: 'pn-counter', key: 'n', op: { kind: 'increment' } };

describe('chained envelopes between agents', () => {
  it('links every event to the one before, and a receiver checks one signature per run', async () => {
    agents = await startCluster(2);
    const [a, b] = agents as [Agent, Agent];
    const newest = (x: Agent): boolean => x.status().protocol.emitting === LOCAL_PROTOCOL.maxEvent;
    await waitFor(() => newest(a) && newest(b), 'both emitting the newest wire version');
    // A burst of concurrent writes: drains of several events, gossiped as one message each.
    const seqs = await Promise.all(Array.from({ length: 200 }, () => a.write([inc])));
    await waitConverged(agents);
    const first = Math.min(...seqs.map((s) => s.seq));
    const own = [...a.antiEntropy.envelopesSince(new Map())]
      .map((bytes) => ({ bytes, opened: openEnvelope(bytes) }))
      .filter(
        (e) =>
          e.opened.event.origin === seqs[0]!.origin &&
          e.opened.event.seq >= first &&
          e.opened.event.seq < first + 200,
      );
    expect(own).toHaveLength(200);
    for (let i = 1; i < own.length; i++) {
      expect(own[i]!.bytes[0]).toBe(CHAINED_ENVELOPE_VERSION);
      expect([...own[i]!.opened.prev!]).toEqual([...envelopeLink(own[i - 1]!.bytes)]);
    }
    const opened = b.gossip!.counters().opened;
    const { verified, covered } = b.antiEntropy.receiver.stats;
    // The burst reached b by gossip (one message of up to 200 events) or by sync (chunks of 128):
    // a few signatures in all, beside the start-up events checked one by one.
    expect(opened.covered + covered).toBeGreaterThanOrEqual(150);
    expect(opened.verified + verified).toBeLessThanOrEqual(50);
    expect(b.read('pn-counter', 'n')?.value).toBe(200);
  });
});
