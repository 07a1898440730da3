// A gossip-only sender for the receive-rate part of scripts/bench/write-path.js, driven over
// IPC (ipc.js). `prepare` runs a standalone agent (from dist/) that makes `n` genuine single-op
// events, each signed by its origin as in production, and keeps their envelopes instead of
// publishing them; the agent then stops. `connect` starts a bare SMAC libp2p node with that
// agent's identity (same origin key, same gossip settings as an agent) and dials the receiver;
// `blast` publishes the envelopes in batches of `batch` per gossip message, as fast as
// gossipsub queues them. The node runs no heartbeats and serves no sync, so everything the
// receiver applies from this origin came by gossip and passed signature verification there.
import { pino } from 'pino';
import { multiaddr } from '@multiformats/multiaddr';
import { Agent } from '../../dist/agent/agent.js';
import { resolveAgentConfig } from '../../dist/agent/config.js';
import { EventGossip } from '../../dist/net/gossip.js';
import { loadOrCreateIdentity } from '../../dist/net/identity.js';
import { createSmacNode } from '../../dist/net/node.js';
import { serve, sleep, wallNow } from './ipc.js';

let envelopes = [];
let origin;
let node;
let gossip;
let next = 0;

serve(
  {
    async prepare({ dataDir, n, inflight = 64, snapshotEveryEvents }) {
      // snapshotEveryEvents above n keeps every event in the log (receive.js serves them by sync).
      const config = resolveAgentConfig({
        dataDir,
        listen: ['/ip4/127.0.0.1/tcp/0'],
        logLevel: 'silent',
        ...(snapshotEveryEvents ? { snapshotEveryEvents } : {}),
      });
      const agent = await Agent.start(config, { logger: pino({ level: 'silent' }) });
      // An agent emits event wire version 1 until its first upkeep tick picks the newest every
      // member reads: wait for it (bounded), so the events are what a running agent sends.
      for (let i = 0; i < 100; i++) {
        const { emitting, maxEvent } = agent.status().protocol;
        if (emitting === maxEvent) break;
        await sleep(50);
      }
      // Nobody listens: the agent's gossip publishes reach nobody, and the envelopes are read
      // back from its log below (the way sync serves them), its start-up member record first.
      let issued = 0;
      const worker = async () => {
        while (issued < n) {
          const i = issued++;
          await agent.write([
            { type: 'lww-register', key: `rx/k${i % 4096}`, op: { kind: 'set', value: { i } } },
          ]);
        }
      };
      await Promise.all(Array.from({ length: inflight }, worker));
      origin = [...agent.clock().keys()].find((id) => id.startsWith(agent.peerId));
      // A private field, read the way agent-child.js reads its counters: a bench-only shortcut.
      envelopes = [...agent.antiEntropy.envelopesSince(new Map())];
      await agent.stop();
      return { origin, envelopes: envelopes.length, bytes: envelopes.reduce((s, e) => s + e.length, 0) };
    },
    async connect({ dataDir, addresses }) {
      node = await createSmacNode({
        privateKey: await loadOrCreateIdentity(dataDir),
        listen: ['/ip4/127.0.0.1/tcp/0'],
      });
      gossip = new EventGossip({ pubsub: node.services.pubsub, onEvents: () => {} });
      gossip.start();
      await node.dial(multiaddr(addresses[0]), { signal: AbortSignal.timeout(10_000) });
      const deadline = Date.now() + 30_000;
      while (gossip.subscribers().length === 0) {
        if (Date.now() > deadline) throw new Error('the receiver never subscribed to the events topic');
        await sleep(20);
      }
      // Let gossipsub's heartbeat put the receiver into the mesh.
      await sleep(1500);
      return { subscribers: gossip.subscribers().length };
    },
    /**
     * Publishes the next `count` envelopes, `batch` per message; returns when they were queued.
     * With `marks`, also when each message was queued: [last seq in it, wall time] pairs.
     */
    async blast({ count, batch, marks: wantMarks = false }) {
      const tStart = wallNow();
      const end = Math.min(envelopes.length, next + count);
      let messages = 0;
      let recipients = Infinity;
      const marks = [];
      for (let i = next; i < end; i += batch) {
        const last = Math.min(end, i + batch);
        const r = await gossip.publish(envelopes.slice(i, last));
        if (wantMarks) marks.push([last, wallNow()]);
        messages += r.messages;
        recipients = Math.min(recipients, r.recipients);
        // Let the socket drain now and then, so that the queue stays bounded.
        if (messages % 64 === 0) await new Promise((resolve) => setImmediate(resolve));
      }
      const sent = end - next;
      next = end;
      return { tStart, tQueued: wallNow(), sent, lastSeq: next, messages, minRecipients: recipients, marks };
    },
    async stop() {
      gossip?.stop();
      await node?.stop();
      setImmediate(() => process.exit(0));
      return true;
    },
  },
  async () => {
    await node?.stop();
  },
);
