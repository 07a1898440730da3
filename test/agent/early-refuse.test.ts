// A peer serving a snapshot with an inflated clock and a large keyspace (issue 7, "Snapshots
// you can check"): the signed heads precede the keyspace in the encoding, and the receiver
// checks them as soon as they arrived, so it stops reading there. Before, it received and
// decoded the whole snapshot (here 24 MiB) and refused it only then: the hostile peer flushed
// every byte of it to the victim, each time it was asked.
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
import { answerPulls, collectHeads, dial, incKey } from './hostile-peer.js';

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

describe('a peer serving a snapshot whose clock its heads do not prove, with a large keyspace', () => {
  it('is cut off after the heads: the keyspace is not received; refused, counted, and the victim converges', async () => {
    agents = await startCluster(2);
    const [victim, honest] = agents as [Agent, Agent];
    for (let i = 0; i < 3; i++) await incKey(honest, 'hits');
    await waitConverged([victim, honest]);

    hostile = await loopbackNode();
    const latest = await collectHeads(hostile, honest); // genuine heads, as any peer can hold
    const honestOrigin = honest.status().origin;
    const vc: VectorClock = new Map(victim.clock());
    vc.set(honestOrigin, (vc.get(honestOrigin) ?? 0) + 50); // 50 events beyond its signed head
    const bytes = encodeSnapshot({
      vc,
      hlc: { wall: Date.now(), logical: 0 },
      heads: [...latest.values()],
      keyspace: { objects: { pad: 'x'.repeat(24 * SNAPSHOT_CHUNK_BYTES) } },
    });
    // Bytes of each served snapshot that left the hostile peer (its write buffer emptied: the
    // victim's flow-control window took them), once that serve ended.
    const served: number[] = [];
    await answerPulls(hostile, 'hostile', async (stream) => {
      let out = 0;
      try {
        await writeFrame(stream, encodeHeader(vc, vc, bytes.length));
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
    const rejected = victim.status().counters.rejectedSnapshots;
    await dial(hostile, victim);
    await waitFor(() => victim.status().counters.rejectedSnapshots > rejected, 'the snapshot refused');
    await waitFor(() => served.length >= 1, 'a serve ended');
    expect(victim.status().counters.snapshotsInstalled).toBe(0);
    expect(victim.clock().get(honestOrigin)).toBe(honest.clock().get(honestOrigin));
    // The heads are in the first chunk; the window lets a few more out before the abort lands.
    for (const n of served) expect(n).toBeLessThan(bytes.length / 3);

    // The victim keeps running, and the honest agent's next events are no duplicates to it.
    for (let i = 0; i < 5; i++) await incKey(honest, 'hits');
    await incKey(victim, 'hits');
    await waitConverged([victim, honest]);
    expect(victim.read('pn-counter', 'hits')?.value).toBe(9);
  }, 120_000);
});
