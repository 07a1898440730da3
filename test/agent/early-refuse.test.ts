// Peers serving snapshots the victim refuses, with a large keyspace (issue 7, "Snapshots you
// can check"). The receiver asks whether it takes snapshots from the peer at the header, and
// checks the signed heads (which precede the keyspace) and asks again as soon as they arrived,
// so it stops reading there. Before, it received and decoded the whole snapshot (here 24 MiB)
// and refused it only then: the hostile peer flushed every byte of it to the victim, each time
// it was asked. (The first case's peer is a stranger too, so the header stops it now; the
// heads check alone is shown in test/net/snapshot-stream.test.ts.)
import type { Stream } from '@libp2p/interface';
import { afterEach, describe, expect, it } from 'vitest';
import type { Agent } from '../../src/agent/agent.js';
import type { VectorClock } from '../../src/core/clock/vector-clock.js';
import { encodeSnapshot } from '../../src/core/codec/index.js';
import { writeFrame } from '../../src/net/frame-stream.js';
import type { SmacNode } from '../../src/net/node.js';
import { encodeHeader, encodeSnapshotChunk, SNAPSHOT_CHUNK_BYTES } from '../../src/net/sync-wire.js';
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

/** Resolves once the stream's write buffer is empty (its bytes went out) or the stream ended. */
async function flushed(stream: Stream): Promise<boolean> {
  const until = Date.now() + 30_000;
  while (stream.status === 'open' && stream.writeBufferLength > 0 && Date.now() < until)
    await new Promise((r) => setTimeout(r, 5));
  return stream.status === 'open' && stream.writeBufferLength === 0;
}

/**
 * Answers every sync pull at `node` with a header announcing `bytes`, then `bytes` in chunks,
 * each once the last one left (the victim's flow-control window took it). Returns, for each
 * serve that ended, the snapshot bytes that left the node.
 */
async function serveStreamed(node: SmacNode, vc: VectorClock, bytes: Uint8Array): Promise<number[]> {
  const served: number[] = [];
  await answerPulls(node, 'hostile', async (stream) => {
    let out = 0;
    try {
      await writeFrame(stream, encodeHeader(vc, vc, bytes.length));
      if (!(await flushed(stream))) return;
      for (let at = 0; at < bytes.length; at += SNAPSHOT_CHUNK_BYTES) {
        const chunk = bytes.subarray(at, at + SNAPSHOT_CHUNK_BYTES);
        await writeFrame(stream, encodeSnapshotChunk(chunk));
        if (!(await flushed(stream))) break;
        out += chunk.length;
      }
    } finally {
      served.push(out);
    }
  });
  return served;
}

/**
 * `node` serves `victim` a 24 MiB snapshot claiming `vc` with `heads` (serveStreamed), once
 * `victim` refused it (counted) and a serve ended: its size, and what each serve let out.
 */
async function serveRefused(
  node: SmacNode,
  victim: Agent,
  vc: VectorClock,
  heads: Uint8Array[],
): Promise<{ served: number[]; size: number }> {
  const pad = 'x'.repeat(24 * SNAPSHOT_CHUNK_BYTES);
  const bytes = encodeSnapshot({ vc, hlc: { wall: Date.now(), logical: 0 }, heads, keyspace: { pad } });
  const served = await serveStreamed(node, vc, bytes);
  const rejected = victim.status().counters.rejectedSnapshots;
  await dial(node, victim);
  await waitFor(() => victim.status().counters.rejectedSnapshots > rejected, 'the snapshot refused');
  await waitFor(() => served.length >= 1, 'a serve ended');
  expect(victim.status().counters.snapshotsInstalled).toBe(0);
  return { served, size: bytes.length };
}

describe('a peer serving a snapshot we refuse, with a large keyspace', () => {
  it('whose clock its heads do not prove is cut off by the header or the heads: refused, counted, and the victim converges', async () => {
    agents = await startCluster(2);
    const [victim, honest] = agents as [Agent, Agent];
    for (let i = 0; i < 3; i++) await incKey(honest, 'hits');
    await waitConverged([victim, honest]);

    hostile = await loopbackNode();
    const latest = await collectHeads(hostile, honest); // genuine heads, as any peer can hold
    const honestOrigin = honest.status().origin;
    const vc: VectorClock = new Map(victim.clock());
    vc.set(honestOrigin, (vc.get(honestOrigin) ?? 0) + 50); // 50 events beyond its signed head
    const { served, size } = await serveRefused(hostile, victim, vc, [...latest.values()]);
    expect(victim.clock().get(honestOrigin)).toBe(honest.clock().get(honestOrigin));
    // The heads are in the first chunk; the window lets a few more out before the abort lands.
    for (const n of served) expect(n).toBeLessThan(size / 3);

    // The victim keeps running, and the honest agent's next events are no duplicates to it.
    for (let i = 0; i < 5; i++) await incKey(honest, 'hits');
    await incKey(victim, 'hits');
    await waitConverged([victim, honest]);
    expect(victim.read('pn-counter', 'hits')?.value).toBe(9);
  }, 120_000);

  it('from a peer that is not a member, is refused at the header: none of it is received', async () => {
    agents = await startCluster(2);
    const [victim, honest] = agents as [Agent, Agent];
    // The stranger serves a snapshot its genuine heads prove (its state is not its to give).
    hostile = await loopbackNode();
    const latest = await strangerAhead(hostile, victim, honest);
    const vc: VectorClock = new Map(honest.clock());
    await victim.isolate(false);
    const { served } = await serveRefused(hostile, victim, vc, [...latest.values()]);
    expect(Math.max(...served)).toBe(0);
    // It still converges with the honest agent.
    await incKey(honest, 'hits');
    await waitConverged([victim, honest]);
    expect(victim.read('pn-counter', 'hits')?.value).toBe(6);
  }, 120_000);
});
