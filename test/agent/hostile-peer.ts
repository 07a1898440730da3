/**
 * A hostile peer for agent tests: a bare libp2p node (test/net/helpers.ts `loopbackNode`) that
 * answers an agent's sync pulls as the test says, and collects genuine envelopes from an
 * honest agent, as any member can.
 */
import type { Stream } from '@libp2p/interface';
import { peerIdFromString } from '@libp2p/peer-id';
import { multiaddr } from '@multiformats/multiaddr';
import type { Agent } from '../../src/agent/agent.js';
import { readTrustedEnvelope } from '../../src/net/envelope.js';
import { FrameReader } from '../../src/net/frame-stream.js';
import type { SmacNode } from '../../src/net/node.js';
import { SyncService } from '../../src/net/sync-protocol.js';
import { SYNC_PROTOCOL } from '../../src/net/sync-wire.js';

/**
 * Answers every sync pull at `node`: reads the request (ignored), runs `answer` on the stream
 * and closes it; should anything fail, aborts the stream (`${what} peer gave up`).
 */
export async function answerPulls(
  node: SmacNode,
  what: string,
  answer: (stream: Stream) => void | Promise<void>,
): Promise<void> {
  await node.handle(
    SYNC_PROTOCOL,
    async (stream: Stream) => {
      const reader = new FrameReader(stream, { maxFrameBytes: 1 << 20, what });
      try {
        await reader.next(AbortSignal.timeout(10_000)); // the victim's request
        await answer(stream);
        await stream.close();
      } catch {
        stream.abort(new Error(`${what} peer gave up`));
      } finally {
        reader.release();
      }
    },
    { maxInboundStreams: 16 },
  );
}

/** `node` connects to `agent` (which then pulls from it). */
export async function dial(node: SmacNode, agent: Agent): Promise<void> {
  await node.dial(multiaddr(agent.addresses()[0] ?? ''));
}

/** Connects `node` to `honest` and pulls everything it holds: the latest envelope per origin. */
export async function collectHeads(node: SmacNode, honest: Agent): Promise<Map<string, Uint8Array>> {
  await dial(node, honest);
  const latest = new Map<string, Uint8Array>();
  for await (const f of new SyncService(node).pull(peerIdFromString(honest.peerId), new Map())) {
    if (f.type !== 'events') continue;
    for (const env of f.envelopes) latest.set(readTrustedEnvelope(env).event.origin, env);
  }
  return latest;
}

/** Increments the counter `key` at `agent` by `by`. */
export function incKey(agent: Agent, key: string, by = 1): Promise<unknown> {
  return agent.write([{ type: 'pn-counter', key, op: { kind: 'increment', by } }]);
}
