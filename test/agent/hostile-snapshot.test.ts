// Hostile peers serving snapshots (issue 7: "One peer can kill an agent", "Snapshots are
// trusted blindly"). A real libp2p node speaks /smac/sync/1 to a real agent and answers its
// pulls with a malformed snapshot, or with a well-formed snapshot whose clock is inflated
// beyond the signed heads it carries. The victim refuses and counts each, keeps running, and
// still converges with its honest peer.
import { afterEach, describe, expect, it } from 'vitest';
import type { Agent } from '../../src/agent/agent.js';
import type { VectorClock } from '../../src/core/clock/vector-clock.js';
import { encodeSnapshot } from '../../src/core/codec/index.js';
import { writeFrame } from '../../src/net/frame-stream.js';
import type { SmacNode } from '../../src/net/node.js';
import { encodeEnd, encodeHeader, encodeSnapshotChunk } from '../../src/net/sync-wire.js';
import { loopbackNode } from '../net/helpers.js';
import { startCluster, stopAll, waitConverged, waitFor } from './helpers.js';
import { answerPulls, collectHeads, dial, incKey, strangerAhead } from './hostile-peer.js';

let agents: Agent[] = [];
let hostile: SmacNode | undefined;
afterEach(async () => {
  await hostile?.stop();
  hostile = undefined;
  await stopAll(agents.splice(0));
});

/** Answers every sync pull with a header announcing `snapshot`, the snapshot, and END 0. */
async function serveSnapshot(
  node: SmacNode,
  snapshot: () => Uint8Array,
  vc: () => VectorClock,
): Promise<void> {
  await answerPulls(node, 'hostile', async (stream) => {
    const bytes = snapshot();
    await writeFrame(stream, encodeHeader(vc(), vc(), bytes.length));
    await writeFrame(stream, encodeSnapshotChunk(bytes));
    await writeFrame(stream, encodeEnd(0));
  });
}

describe('a peer serving a malformed snapshot', () => {
  it('is refused and counted, and the agent keeps running and writing', async () => {
    agents = await startCluster(1);
    const victim = agents[0]!;
    await incKey(victim, 'mine', 2);
    const before = victim.status();
    hostile = await loopbackNode();
    const hostileOrigin = `${hostile.peerId.toString()}~1`;
    const garbage = [
      new Uint8Array([0xff, 1, 2, 3]), // unknown version
      new Uint8Array([2, 1, 3, 0x61, 0x62, 0x63, 5, 0, 0, 9]), // v2, truncated heads
      new TextEncoder().encode('\u0001not a snapshot at all'),
    ];
    let served = 0;
    await serveSnapshot(
      hostile,
      () => garbage[served++ % garbage.length]!,
      () => new Map([[hostileOrigin, 3]]),
    );
    await dial(hostile, victim);
    await waitFor(() => victim.status().counters.rejectedSnapshots >= 3, 'three refused snapshots');
    const after = victim.status();
    expect(after.counters.snapshotsInstalled).toBe(before.counters.snapshotsInstalled);
    expect(after.clock[hostileOrigin]).toBeUndefined();
    expect(victim.read('pn-counter', 'mine')?.value).toBe(2);
    await incKey(victim, 'mine', 3);
    expect(victim.read('pn-counter', 'mine')?.value).toBe(5);
  }, 60_000);
});

describe('a member serving a snapshot with an inflated clock', () => {
  it('is refused whether it carries no heads or a head below its claim; the victim converges with the honest peer', async () => {
    agents = await startCluster(2);
    const [victim, honest] = agents as [Agent, Agent];
    for (let i = 0; i < 3; i++) await incKey(honest, 'hits');
    await waitConverged([victim, honest]);

    // The hostile peer collects genuine envelopes from the honest agent, as any member can.
    hostile = await loopbackNode();
    const latest = await collectHeads(hostile, honest);
    const honestOrigin = honest.status().origin;
    const state = (
      victim as unknown as { replica: { snapshot(): { keyspace: unknown; hlc: unknown } } }
    ).replica.snapshot();
    const inflated = (): VectorClock => {
      const vc = new Map(victim.clock());
      vc.set(honestOrigin, (vc.get(honestOrigin) ?? 0) + 50);
      return vc;
    };
    let round = 0;
    await serveSnapshot(
      hostile,
      () => {
        const vc = inflated();
        const base = {
          vc,
          hlc: state.hlc as { wall: number; logical: number },
          keyspace: state.keyspace as never,
        };
        // Odd rounds: a v1 snapshot (no heads at all); even rounds: v2 with every genuine head
        // it has, the honest origin's being 50 below the claim.
        if (round++ % 2 === 0) return encodeSnapshot(base);
        return encodeSnapshot({ ...base, heads: [...latest.values()] });
      },
      inflated,
    );
    await dial(hostile, victim);
    await waitFor(() => victim.status().counters.rejectedSnapshots >= 2, 'both inflated snapshots refused');
    expect(victim.status().counters.snapshotsInstalled).toBe(0);
    expect(victim.clock().get(honestOrigin)).toBe(honest.clock().get(honestOrigin));

    // The honest agent's next genuine events are not mistaken for duplicates.
    for (let i = 0; i < 5; i++) await incKey(honest, 'hits');
    await waitConverged([victim, honest]);
    expect(victim.read('pn-counter', 'hits')?.value).toBe(8);
  }, 90_000);
});

describe('a peer answering pulls with oversized or garbage frames', () => {
  it('fails those pulls (counted), and the agent keeps writing and syncing with its honest peer', async () => {
    agents = await startCluster(2);
    const [victim, honest] = agents as [Agent, Agent];
    hostile = await loopbackNode();
    let round = 0;
    await answerPulls(hostile, 'hostile', (stream) => {
      if (round++ % 2 === 0)
        stream.send(new Uint8Array([0x80, 0x80, 0x80, 0x40])); // 128 MiB announced
      else stream.send(new Uint8Array([3, 0x42, 0, 0])); // a frame of unknown type 0x42
    });
    const failedBefore = victim.status().counters.syncsFailed;
    await dial(hostile, victim);
    await waitFor(() => round >= 2, 'both hostile answers served');
    await waitFor(() => victim.status().counters.syncsFailed >= failedBefore + 2, 'two failed pulls');
    await incKey(honest, 'after', 4);
    await incKey(victim, 'after', 1);
    await waitConverged([victim, honest]);
    expect(victim.read('pn-counter', 'after')?.value).toBe(5);
  }, 90_000);
});

describe('a peer that is not a member serving a genuine, proven snapshot', () => {
  it('is refused (signed heads prove the clock, not the state): the victim installs snapshots only from members', async () => {
    agents = await startCluster(2);
    const [victim, honest] = agents as [Agent, Agent];
    hostile = await loopbackNode();
    const latest = await strangerAhead(hostile, victim, honest);
    const state = (
      honest as unknown as {
        replica: { snapshot(): { vc: VectorClock; keyspace: unknown; hlc: unknown } };
      }
    ).replica.snapshot();
    const bytes = encodeSnapshot({
      vc: state.vc,
      hlc: state.hlc as { wall: number; logical: number },
      keyspace: state.keyspace as never,
      heads: [...latest.values()],
    });
    await honest.stop();
    await victim.isolate(false);
    await serveSnapshot(
      hostile,
      () => bytes,
      () => state.vc,
    );
    await dial(hostile, victim);
    await waitFor(() => victim.status().counters.rejectedSnapshots >= 1, 'the stranger’s snapshot refused');
    expect(victim.status().counters.snapshotsInstalled).toBe(0);
    expect(victim.read('pn-counter', 'hits')?.value).toBe(2);
    // The victim keeps working.
    await incKey(victim, 'hits');
    expect(victim.read('pn-counter', 'hits')?.value).toBe(3);
  }, 90_000);
});
