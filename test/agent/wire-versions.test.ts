/**
 * Wire-version negotiation between real agents (issue 7, "Deterministic validation across
 * versions"): an agent emits the highest event wire version every member supports, so a member
 * of an older release never receives an event it cannot read; once that member is gone, the
 * cluster moves up. A peer of another protocol major is refused, counted and disconnected.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Agent } from '../../src/agent/agent.js';
import { LOCAL_PROTOCOL } from '../../src/core/wire-version.js';
import { opsForEveryType, quiet, stopAll, testConfig, waitConverged, waitFor } from './helpers.js';

const OLD_RELEASE = { major: 1, minEvent: 1, maxEvent: 1 };

describe('wire versions between agents', () => {
  const agents: Agent[] = [];
  afterEach(async () => {
    await stopAll(agents.splice(0));
  });

  it('emits the oldest version a member supports, applies the same events on both, moves up when it leaves', async () => {
    const a = await Agent.start(testConfig(), { logger: quiet });
    agents.push(a);
    expect(LOCAL_PROTOCOL.maxEvent).toBeGreaterThan(1);
    await waitFor(
      () => a.status().protocol.emitting === LOCAL_PROTOCOL.maxEvent,
      'a alone emits its newest version',
    );

    const b = await Agent.start(testConfig({ join: a.addresses() }), {
      logger: quiet,
      protocol: OLD_RELEASE,
    });
    agents.push(b);
    await waitFor(() => a.status().protocol.emitting === 1, 'a falls back to version 1 once it knows b');
    expect(b.status().protocol).toMatchObject({ ...OLD_RELEASE, emitting: 1 });

    for (let i = 0; i < 8; i++) {
      await a.write(opsForEveryType(i));
      await b.write(opsForEveryType(i + 100));
    }
    await waitConverged([a, b], 'a mixed-version pair converging');
    expect(a.read('pn-counter', 'c')?.value).toBe(b.read('pn-counter', 'c')?.value);

    await b.stop();
    await waitFor(
      () => a.status().protocol.emitting === LOCAL_PROTOCOL.maxEvent,
      'a back on its newest version after b left',
    );
  });

  it('refuses a peer of another protocol major: counted, disconnected, its heartbeats ignored', async () => {
    const a = await Agent.start(testConfig(), { logger: quiet });
    agents.push(a);
    const b = await Agent.start(testConfig({ join: a.addresses() }), {
      logger: quiet,
      protocol: { major: LOCAL_PROTOCOL.major + 1, minEvent: 1, maxEvent: 2 },
    });
    agents.push(b);
    // Whichever side hears the other's heartbeat first refuses it and closes the connection;
    // its connection gater keeps the peer out from then on.
    const refusals = (): number => a.status().counters.refusedPeers + b.status().counters.refusedPeers;
    await waitFor(() => refusals() > 0, 'one side refusing the other');
    await waitFor(
      () => a.connectedPeers().length === 0 && b.connectedPeers().length === 0,
      'the pair disconnected',
    );
    expect(a.status().peers.find((p) => p.peerId === b.peerId)?.lastHeartbeatAgoMs).toBeUndefined();
    expect(b.status().peers.find((p) => p.peerId === a.peerId)?.lastHeartbeatAgoMs).toBeUndefined();
    // The refusal does not stop a's own work.
    await a.write([{ type: 'pn-counter', key: 'c', op: { kind: 'increment', by: 2 } }]);
    expect(a.read('pn-counter', 'c')?.value).toBe(2);
  });
});
