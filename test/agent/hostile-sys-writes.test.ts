// A member writing other members' system records (issue 7, "Any member can write any member's
// records"; docs/semantics.md "Ownership of system records"). A real libp2p node holding a valid
// key (any key joins a cluster without a cluster key; with one, a member has it) signs valid
// events under its own origin whose ops touch the honest member's `_sys/` records: its member
// record, a service endpoint, a check result, its load counter and gauge. It pushes them to the
// victim over /smac/sync. The victim stays up, applies none of those ops (the records equal the
// honest member's own), counts them, applies the event's other op, and converges with its
// honest peer, which gets the event from the victim and judges it alike.
import { peerIdFromString } from '@libp2p/peer-id';
import { afterEach, describe, expect, it } from 'vitest';
import type { Agent } from '../../src/agent/agent.js';
import { encodeEvent } from '../../src/core/codec/index.js';
import { Replica } from '../../src/core/replica.js';
import { sealEvent } from '../../src/net/envelope.js';
import { SyncService } from '../../src/net/sync-protocol.js';
import { idOf, loopbackNode, newKey } from '../net/helpers.js';
import { startCluster, stopAll, waitConverged, waitFor } from './helpers.js';
import { dial, forgedSysOps, incKey, sysRecords, writeOwnRecords } from './hostile-peer.js';

/** What a test started, stopped in reverse order after it (passing or not). */
const started: (() => unknown)[] = [];
afterEach(async () => {
  for (const stop of started.splice(0).reverse()) await stop();
});

describe('a member that writes another member’s system records', () => {
  it('gets none of them applied, is counted, and the cluster converges on everything else', async () => {
    const agents = await startCluster(2);
    started.push(() => stopAll(agents));
    const [victim, honest] = agents as [Agent, Agent];
    await waitConverged(agents);
    await writeOwnRecords(honest);
    await waitConverged(agents);
    const before = sysRecords(victim);
    expect(before).toEqual(sysRecords(honest));

    // The forged ops: made by a replica in the honest member's name (so they pass its own local
    // rules), then signed by the hostile key under the hostile origin.
    const h = honest.peerId;
    const maker = new Replica({ id: h });
    const made = maker.step(
      {
        kind: 'local',
        system: true,
        ops: [
          ...forgedSysOps(h),
          { type: 'pn-counter', key: 'hostile-own', op: { kind: 'increment', by: 1 } },
        ],
      },
      Date.now(),
    ).event!;
    const key = await newKey();
    const envelope = sealEvent(
      key,
      encodeEvent(
        { origin: idOf(key), seq: 1, deps: new Map(), hlc: { wall: Date.now(), logical: 0 }, ops: made.ops },
        undefined,
        2, // ownership holds from wire version 2
      ),
    );
    const hostile = await loopbackNode({ privateKey: key });
    started.push(() => hostile.stop());
    await dial(hostile, victim);
    expect(await new SyncService(hostile).push(peerIdFromString(victim.peerId), [envelope])).toBe(1);

    // The event is delivered (its own op applies), its five ops on h's records are skipped.
    await waitFor(() => victim.read('pn-counter', 'hostile-own')?.value === 1, 'the hostile event delivered');
    expect(victim.clock().get(idOf(key))).toBe(1);
    expect(victim.status().counters.notOwnerEvents).toBe(1);
    expect(sysRecords(victim)).toEqual(before);
    // Still up and writing; the honest peer gets the event through the victim, skips alike.
    await incKey(victim, 'after');
    await incKey(honest, 'after');
    await waitConverged(agents, 'convergence after the hostile event');
    expect(honest.read('pn-counter', 'hostile-own')?.value).toBe(1);
    expect(honest.read('pn-counter', 'after')?.value).toBe(2);
    expect(sysRecords(honest)).toEqual(before);
    expect(honest.status().counters.notOwnerEvents).toBe(1);
  }, 90_000);
});
