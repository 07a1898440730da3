// A gossipsub outbound stream that dies while its connection lives (docs/chaos.md: heartbeats
// stopped for 23 and 28 s after a split). Gossipsub forgets the stream but keeps the peer, its
// subscriptions and its mesh slot, and opens a new outbound stream only for a new connection or
// a new inbound stream from the peer: every publish to the peer (heartbeats, events) is dropped
// in silence until then. The agent must notice and re-open it.
import { afterEach, describe, expect, it } from 'vitest';
import { Agent } from '../../src/agent/agent.js';
import type { SmacNode } from '../../src/net/node.js';
import { quiet, stopAll, testConfig, waitFor } from './helpers.js';

const agents: Agent[] = [];
afterEach(() => stopAll(agents.splice(0)));

// Anti-entropy rarely: events must come by gossip for the second check to mean anything.
const OPTS = { heartbeatIntervalMs: 100, syncIntervalMs: 60_000 };
/** Gossipsub's outbound streams (a public field of its class, not of its GossipSub interface). */
interface Outbound {
  streamsOutbound: Map<string, { rawStream: { abort(e: Error): void } }>;
}
const pubsubOf = (x: Agent): Outbound =>
  (x as unknown as { node: SmacNode }).node.services.pubsub as unknown as Outbound;
const heardAt = (x: Agent, from: Agent): number =>
  (x as unknown as { heartbeats: { heardFrom(): ReadonlyMap<string, { at: number }> } }).heartbeats
    .heardFrom()
    .get(from.peerId)?.at ?? 0;
const hits = (x: Agent): unknown => x.read('pn-counter', 'gossip/hits')?.value;

describe('a gossipsub outbound stream that dies while the connection lives', () => {
  it('is re-opened: heartbeats and gossiped events reach the peer again', async () => {
    const a = await Agent.start(testConfig(OPTS), { logger: quiet });
    agents.push(a);
    const b = await Agent.start(testConfig({ ...OPTS, join: a.addresses() }), { logger: quiet });
    agents.push(b);
    const pubsub = pubsubOf(a);
    await waitFor(
      () => pubsub.streamsOutbound.has(b.peerId) && heardAt(b, a) > 0,
      'b hearing a’s heartbeats over a’s outbound stream',
    );

    // The stream dies (a reset, a write buffer over its bound); the connection stays up.
    const broken = Date.now();
    pubsub.streamsOutbound.get(b.peerId)?.rawStream.abort(new Error('test: outbound stream reset'));
    await waitFor(() => !pubsub.streamsOutbound.has(b.peerId), 'gossipsub to drop the stream');
    expect(a.connectedPeers()).toContain(b.peerId);

    // Something to say: a's next heartbeat changes (its clock), and the write goes by gossip.
    await a.write([{ type: 'pn-counter', key: 'gossip/hits', op: { kind: 'increment', by: 2 } }]);
    await waitFor(() => heardAt(b, a) > broken, 'b to hear a’s heartbeat again', 10_000);
    await waitFor(() => hits(b) === 2, 'b to receive a’s write', 10_000);
    expect(pubsub.streamsOutbound.has(b.peerId)).toBe(true);
    expect(a.connectedPeers()).toContain(b.peerId); // repaired on the same connection
  }, 60_000);
});
