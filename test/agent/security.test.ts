// A private cluster: a node without the cluster key, or with another one, cannot join; an
// event signed by anyone but its origin is rejected and never applied, whether it arrives by
// gossip or by sync.
import { join } from 'node:path';
import { generateKeyPair } from '@libp2p/crypto/keys';
import { peerIdFromString } from '@libp2p/peer-id';
import { afterEach, describe, expect, it } from 'vitest';
import { Agent } from '../../src/agent/agent.js';
import { encodeEvent } from '../../src/core/codec/index.js';
import { writeClusterKey } from '../../src/net/cluster-key.js';
import { ENVELOPE_SIGNING_DOMAIN, ENVELOPE_VERSION } from '../../src/net/envelope.js';
import { Writer } from '../../src/core/codec/binary.js';
import type { PrivateKey } from '@libp2p/interface';
import type { SyncService } from '../../src/net/sync-protocol.js';
import { quiet, startCluster, stopAll, tempDir, testConfig, waitConverged, waitFor } from './helpers.js';

let agents: Agent[] = [];

/** An envelope in the documented format, signed by `key` whatever origin the event names. */
async function forge(key: PrivateKey, eventBytes: Uint8Array): Promise<Uint8Array> {
  const domain = new TextEncoder().encode(ENVELOPE_SIGNING_DOMAIN);
  const payload = new Uint8Array(domain.length + eventBytes.length);
  payload.set(domain, 0);
  payload.set(eventBytes, domain.length);
  const signature = await key.sign(payload);
  return new Writer().u8(ENVELOPE_VERSION).lenBytes(eventBytes).lenBytes(signature).finish();
}
afterEach(() => stopAll(agents.splice(0)));

describe('cluster key', () => {
  it('admits agents with the key and keeps out agents with another key or none', async () => {
    const dir = tempDir('smac-keys-');
    const good = join(dir, 'good.key');
    const other = join(dir, 'other.key');
    await writeClusterKey(good);
    await writeClusterKey(other);
    agents = await startCluster(2, { clusterKeyFile: good });
    const seed = agents[0]!.addresses();
    const wrong = await Agent.start(testConfig({ clusterKeyFile: other, join: seed }), { logger: quiet });
    const none = await Agent.start(testConfig({ join: seed }), { logger: quiet });
    agents.push(wrong, none);
    await agents[0]!.write([{ type: 'lww-register', key: 'secret', op: { kind: 'set', value: 42 } }]);
    // Positive control: the member with the key gets the write.
    await waitConverged(agents.slice(0, 2));
    // Let the outsiders retry their joins a few times; none gets in.
    await waitFor(
      () => [wrong, none].every((a) => a.status().join.every((j) => j.failures >= 2)),
      'repeated failed join attempts',
    );
    expect(wrong.connectedPeers()).toEqual([]);
    expect(none.connectedPeers()).toEqual([]);
    expect(agents[0]!.connectedPeers()).toEqual([agents[1]!.peerId]);
    expect(wrong.read('lww-register', 'secret')).toBeUndefined();
    expect(none.read('lww-register', 'secret')).toBeUndefined();
  });
});

describe('forged events', () => {
  it('an event in another agent’s name is rejected by sync push and by gossip, and never applied', async () => {
    agents = await startCluster(2);
    const [victim, relay] = agents as [Agent, Agent];
    await waitFor(() => relay.connectedPeers().includes(victim.peerId), 'a connection');
    const forger = await generateKeyPair('Ed25519');
    const forged = await forge(
      forger,
      encodeEvent({
        origin: relay.peerId,
        // The next seq the victim expects from the relay: not a duplicate it would just drop.
        seq: (victim.clock().get(relay.peerId) ?? 0) + 1,
        deps: new Map(),
        hlc: { wall: Date.now(), logical: 0 },
        ops: [{ f: 'owned', t: 'lww-register', o: { v: 'forged', c: {} }, p: { e: true, c: {} } }],
      }),
    );
    const sync = (relay as unknown as { sync: SyncService }).sync;
    await sync.push(peerIdFromString(victim.peerId), [forged]).catch(() => 0);
    await waitFor(() => victim.status().counters.rejectedEvents >= 1, 'the forged push to be rejected');
    const before = victim.status().counters.rejectedEvents;
    const { encodeEventBatch, EVENTS_TOPIC } = await import('../../src/net/gossip-wire.js');
    // Publish once the relay knows the victim subscribes to events (the subscription exchange
    // can trail the connection): a publish to nobody tests nothing.
    const pubsub = relay.node.services.pubsub;
    await waitFor(
      () => pubsub.getSubscribers(EVENTS_TOPIC).some((p) => p.toString() === victim.peerId),
      'the victim subscribed to events, as the relay sees it',
    );
    const sent = await pubsub.publish(EVENTS_TOPIC, encodeEventBatch([forged], 7));
    expect(sent.recipients.map(String)).toContain(victim.peerId);
    await waitFor(
      () => victim.status().counters.rejectedEvents > before,
      'the forged gossip batch to be rejected',
    );
    expect(victim.read('lww-register', 'owned')).toBeUndefined();
    // The genuine agent's real first event is still accepted afterwards.
    await relay.write([{ type: 'lww-register', key: 'owned', op: { kind: 'set', value: 'real' } }]);
    await waitFor(() => victim.read('lww-register', 'owned')?.value === 'real', 'the genuine write');
  });
});
