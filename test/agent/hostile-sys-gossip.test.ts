// A member writing other members' system records over gossip (issue 7, "Ownership of system
// records" and the hostile-peer tests; docs/semantics.md "Ownership of system records").
// hostile-sys-writes.test.ts pushes such events over /smac/sync; here they come the normal live
// way, published on the events topic (/smac/events/2) by a real libp2p node holding a valid
// key. Each event is validly signed under the hostile node's own origin, in the wire version
// agents emit today (chained envelopes), and touches records it does not own: an honest
// member's record in `_sys/members` (a forged membership record: higher incarnation, other
// metadata), its service endpoint, its check result, its load counter and gauge; the last
// gossip message is a batch of an event that forges the victim's own member record next to a
// legitimate op, and a wholly legitimate event. The victim stays up, applies none of the
// forged ops (its records equal the honest members' own), counts each event that held one
// (`counters.notOwnerEvents`, `smac_not_owner_events_total`), applies the legitimate ops and
// advances the hostile origin's clock entry as for any event, and converges with its honest
// peers (equal state digests), which get the events from the victim and judge them alike.
import { createHash } from 'node:crypto';
import type { PrivateKey } from '@libp2p/interface';
import { afterEach, describe, expect, it } from 'vitest';
import type { Agent } from '../../src/agent/agent.js';
import { ApiMetrics } from '../../src/api/metrics.js';
import { encodeEvent } from '../../src/core/codec/index.js';
import type { Json } from '../../src/core/json.js';
import { Replica } from '../../src/core/replica.js';
import { CHAINED_ENVELOPE_WIRE_VERSION, envelopeLink, NO_LINK, sealEvent } from '../../src/net/envelope.js';
import { EventGossip } from '../../src/net/gossip.js';
import { idOf, loopbackNode, newKey } from '../net/helpers.js';
import { startCluster, stopAll, waitConverged, waitFor } from './helpers.js';
import { dial, forgedMember, forgedSysOps, sysRecords, writeOwnRecords } from './hostile-peer.js';

/** What a test started, stopped in reverse order after it (passing or not). */
const started: (() => unknown)[] = [];
afterEach(async () => {
  for (const stop of started.splice(0).reverse()) await stop();
});

/** A digest of everything `a` holds (every object's type, key and value). */
function digest(a: Agent): string {
  return createHash('sha256').update(JSON.stringify(a.list())).digest('hex');
}

/** Downstream ops of `ops` as a replica named `as` makes them (so they pass its local rules). */
function opsAs(as: string, ops: unknown[]): Json[] {
  const made = new Replica({ id: as }).step({ kind: 'local', system: true, ops } as never, Date.now()).event;
  return made!.ops as Json[];
}

/** Chained (v2) envelopes of `key`'s events seq 1.., one per entry of `events`, linked in order. */
function sealAll(key: PrivateKey, events: Json[][]): Uint8Array[] {
  let prev = NO_LINK;
  return events.map((ops, i) => {
    const bytes = encodeEvent(
      { origin: idOf(key), seq: i + 1, deps: new Map(), hlc: { wall: Date.now(), logical: 0 }, ops },
      undefined,
      CHAINED_ENVELOPE_WIRE_VERSION,
    );
    const env = sealEvent(key, bytes, prev);
    prev = envelopeLink(env);
    return env;
  });
}

const counter = (key: string, by: number) => ({ type: 'pn-counter', key, op: { kind: 'increment', by } });

describe('a member that gossips writes to another member’s system records', () => {
  it('gets none of them applied, is counted, and the cluster converges on everything else', async () => {
    const agents = await startCluster(3);
    started.push(() => stopAll(agents));
    const [victim, honest] = agents as [Agent, Agent, Agent];
    await waitConverged(agents);
    await writeOwnRecords(honest);
    await waitConverged(agents);
    const before = sysRecords(victim);
    expect(before).toEqual(sysRecords(honest));

    const key = await newKey();
    const self = idOf(key);
    const h = honest.peerId;
    const [member, endpoint, check, load, gauge] = forgedSysOps(h);
    const events: Json[][] = [
      opsAs(h, [member]), // 1: a forged membership record of the honest member
      opsAs(h, [endpoint]), // 2: its service endpoint
      opsAs(h, [check]), // 3: its check result
      opsAs(h, [load, gauge]), // 4: its load entries
      // 5: the victim's own member record forged, next to a legitimate op of the hostile member.
      [...opsAs(victim.peerId, [forgedMember(victim.peerId)]), ...opsAs(self, [counter('hostile-own', 1)])],
      // 6: a wholly legitimate event.
      opsAs(self, [counter('hostile-own', 10)]),
    ];
    const envelopes = sealAll(key, events);

    // The hostile node joins the events topic and publishes once the victim is a subscriber. It
    // serves no sync, so whatever the victim holds of its origin came over gossip.
    const hostile = await loopbackNode({ privateKey: key });
    started.push(() => hostile.stop());
    const gossip = new EventGossip({ pubsub: hostile.services.pubsub, onEvents: () => undefined });
    gossip.start();
    started.push(() => {
      gossip.stop();
    });
    await dial(hostile, victim);
    await waitFor(
      () => gossip.subscribers().some((p) => p.toString() === victim.peerId),
      'the hostile node to see the victim subscribe',
    );
    const delivered = () => victim.gossip?.counters().deliveredEvents ?? 0;
    const messages = [[0], [1], [2], [3], [4, 5]];
    for (const m of messages) {
      const seq = m[m.length - 1]! + 1;
      const deliveredBefore = delivered();
      const report = await gossip.publish(m.map((i) => envelopes[i]!));
      expect(report.recipients).toBeGreaterThan(0);
      await waitFor(() => victim.clock().get(self) === seq, `the victim to deliver the hostile event ${seq}`);
      expect(delivered() - deliveredBefore).toBe(m.length);
    }

    // Events 1 to 5 each held ops on records their writer does not own: skipped and counted;
    // event 5's other op applies, and so does event 6.
    expect(victim.read('pn-counter', 'hostile-own')?.value).toBe(11);
    expect(sysRecords(victim)).toEqual(before);
    expect(victim.status().counters.notOwnerEvents).toBe(5);
    expect(await new ApiMetrics().render(victim.status())).toMatch(/^smac_not_owner_events_total 5$/m);

    // Still up and writing; the honest peers get the events through the victim, skip alike.
    for (const a of agents) await a.write([counter('after', 1)]);
    await waitConverged(agents, 'convergence after the hostile events');
    const digests = agents.map(digest);
    expect(new Set(digests).size).toBe(1);
    for (const a of agents) {
      expect(a.read('pn-counter', 'hostile-own')?.value).toBe(11);
      expect(a.read('pn-counter', 'after')?.value).toBe(3);
      expect(sysRecords(a)).toEqual(before);
      expect(a.status().counters.notOwnerEvents).toBe(5);
    }
  }, 120_000);
});
