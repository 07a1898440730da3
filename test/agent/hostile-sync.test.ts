// Hostile sync peers (issue 7, "Repair can stall"). A real libp2p node speaks /smac/sync/1 and
// /smac/push/1 to real agents: a sync server that accepts pulls and never answers, and a member
// that pushes signed events with huge seq gaps (and a gap it never fills). The victim stays up,
// refuses and counts them, and converges with its honest peer meanwhile.
import type { Stream } from '@libp2p/interface';
import { peerIdFromString } from '@libp2p/peer-id';
import { afterEach, describe, expect, it } from 'vitest';
import type { Agent } from '../../src/agent/agent.js';
import { encodeSnapshot } from '../../src/core/codec/snapshot-codec.js';
import { Replica } from '../../src/core/replica.js';
import type { SmacNode } from '../../src/net/node.js';
import { SyncService } from '../../src/net/sync-protocol.js';
import { writeFrame } from '../../src/net/frame-stream.js';
import { encodeEnd, encodeHeader, encodeSnapshotChunk, SYNC_PROTOCOL } from '../../src/net/sync-wire.js';
import { idOf, loopbackNode, newKey, signedEvent } from '../net/helpers.js';
import { startCluster, stopAll, waitConverged, waitFor } from './helpers.js';
import { answerPulls, dial, incKey } from './hostile-peer.js';

let agents: Agent[] = [];
let hostile: SmacNode | undefined;
let release: () => void = () => undefined;
afterEach(async () => {
  release();
  await hostile?.stop();
  hostile = undefined;
  await stopAll(agents.splice(0));
});

const ops = [{ t: 'pn-counter', f: 'stolen', o: { p: 1 } }];

describe('a sync server that never answers', () => {
  it('stalls no repair: its pulls are abandoned and counted, and the victim converges with its honest peer', async () => {
    // Gossip off: only anti-entropy carries the honest peer's writes to the victim.
    agents = await startCluster(2, { gossip: false });
    const [victim, honest] = agents as [Agent, Agent];
    await waitConverged(agents);
    hostile = await loopbackNode();
    const held = new Promise<void>((r) => (release = r));
    let requests = 0;
    await hostile.handle(
      SYNC_PROTOCOL,
      async (stream: Stream) => {
        requests++;
        await held; // accepts the stream, reads nothing, answers nothing
        stream.abort(new Error('test over'));
      },
      { maxInboundStreams: 64 },
    );
    await dial(hostile, victim);
    await waitFor(() => requests >= 1, 'the victim to pull from the silent peer');

    for (let i = 0; i < 5; i++) await incKey(honest, 'hits', 2);
    await incKey(victim, 'hits', 1);
    await waitConverged([victim, honest], 'convergence while the silent peer holds a pull', 15_000);
    expect(victim.read('pn-counter', 'hits')?.value).toBe(11);
    await waitFor(() => victim.status().counters.syncsStalled >= 1, 'a stalled pull counted', 30_000);
    // Still up and writing.
    await incKey(victim, 'hits', 1);
    await waitConverged([victim, honest], 'convergence after the stall', 15_000);
  }, 90_000);
});

describe('a peer that sends a snapshot slowly, chunk by chunk', () => {
  it('is not taken for a stalled one: every chunk is progress', async () => {
    agents = await startCluster(1, { syncStallMs: 1_000 });
    const victim = agents[0]!;
    hostile = await loopbackNode();
    const origin = `${hostile.peerId.toString()}~1`;
    let served = 0;
    // A well-formed, empty snapshot (a replica's own encoding) (the receiver decodes
    // as chunks arrive and refuses garbage, an object that is no valid state included, at its
    // first chunk, and a clock its heads do not prove once the heads arrive), in four chunks
    // 0.6 s apart (2.4 s in all): read whole, it brings nothing new.
    const vc = new Map([[origin, 3]]);
    const bytes = encodeSnapshot(new Replica({ id: `${origin}-empty` }).snapshot());
    const quarter = Math.ceil(bytes.length / 4);
    await answerPulls(hostile, 'slow', async (stream) => {
      await writeFrame(stream, encodeHeader(vc, vc, bytes.length));
      for (let i = 0; i < 4; i++) {
        await new Promise((r) => setTimeout(r, 600));
        await writeFrame(stream, encodeSnapshotChunk(bytes.subarray(i * quarter, (i + 1) * quarter)));
      }
      await writeFrame(stream, encodeEnd(0));
      served++; // only if the victim read on: writes to a stream it abandoned fail
    });
    await dial(hostile, victim);
    await waitFor(() => served >= 1, 'the slow snapshot served to its end');
    await waitFor(() => victim.status().counters.syncsStarted >= 1, 'the pull counted');
    expect(victim.status().counters.syncsStalled).toBe(0);
    // Read whole, then refused as a pull (its header claims a clock the snapshot does not prove):
    // a failure, never a stall. (syncsFailed is 1 since snapshots are built row by row.)
  }, 60_000);
});

describe('a member pushing events with huge seq gaps', () => {
  it('is refused and counted, gap events are evicted by age, and the victim converges with its honest peer', async () => {
    agents = await startCluster(2);
    const [victim, honest] = agents as [Agent, Agent];
    await waitConverged(agents);
    const key = await newKey();
    hostile = await loopbackNode({ privateKey: key });
    await dial(hostile, victim);
    const client = new SyncService(hostile);
    const victimId = peerIdFromString(victim.peerId);

    // Far ahead of anything delivered: by its own seq, or by a dependency.
    const far = [
      signedEvent(key, 1_000_000_000_000, { ops, wall: 1_700_000_000_000 }),
      signedEvent(key, Number.MAX_SAFE_INTEGER, { ops, wall: 1_700_000_000_000 }),
      signedEvent(key, 1, { ops, deps: new Map([[idOf(await newKey()), 2 ** 40]]) }),
    ];
    // A gap the hostile origin never fills: seq 1 is never sent.
    const gapped = Array.from({ length: 20 }, (_, i) => signedEvent(key, i + 2, { ops }));
    expect(await client.push(victimId, [...far, ...gapped])).toBe(far.length + gapped.length);

    const counters = () => victim.status().counters;
    await waitFor(() => counters().bufferFarAhead >= far.length, 'the far-ahead events refused');
    expect(victim.status().buffered).toBe(gapped.length);
    // The honest peer's writes still get through while the gap waits.
    for (let i = 0; i < 5; i++) await incKey(honest, 'hits');
    await waitFor(() => victim.read('pn-counter', 'hits')?.value === 5, 'the honest writes on the victim');
    // The default maxBufferAgeMs (30 s) evicts the gap events, counted.
    await waitFor(() => victim.status().buffered === 0, 'the gap events evicted', 60_000);
    expect(counters().bufferEvicted).toBe(gapped.length);
    expect(victim.clock().has(idOf(key))).toBe(false);
    await incKey(victim, 'hits');
    await waitConverged([victim, honest]);
  }, 120_000);
});
