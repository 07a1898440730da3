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
import { waitConverged } from './helpers.js';

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

/**
 * The victim misses three of the honest agent's events (isolated while they were written; each
 * wrote one 'hits' before); `stranger`, a bare node, collects them all. Returns the genuine
 * latest envelope of every origin of the honest clock. The victim stays isolated.
 */
export async function strangerAhead(
  stranger: SmacNode,
  victim: Agent,
  honest: Agent,
): Promise<Map<string, Uint8Array>> {
  await incKey(victim, 'hits');
  await incKey(honest, 'hits');
  await waitConverged([victim, honest]);
  await victim.isolate(true);
  for (let i = 0; i < 3; i++) await incKey(honest, 'hits');
  return collectHeads(stranger, honest);
}

/** The system records of `a` the ownership tests watch (those `writeOwnRecords` writes). */
export function sysRecords(a: Agent): unknown {
  return {
    members: a.read('aw-set', '_sys/members')?.value,
    endpoints: a.read('rw-set', '_sys/services/web')?.value,
    checks: a.read('or-map', '_sys/checks/web')?.value,
    load: a.read('or-map', '_sys/load/req')?.value,
    gauges: a.read('or-map', '_sys/gauges/cpu')?.value,
  };
}

/** `a` writes its own records of each owned layout: endpoint `web-1` (TTL check), load and gauge. */
export async function writeOwnRecords(a: Agent): Promise<void> {
  await a.services.register('web', 'web-1', {
    address: '127.0.0.1',
    port: 8080,
    check: { type: 'ttl', ttlMs: 600_000 },
  });
  await a.load.increment('req', 3);
  await a.load.setGauge('cpu', 5);
}

/** Adds `id`'s member record with a higher incarnation and other metadata (a forged record). */
export function forgedMember(id: string): unknown {
  return {
    type: 'aw-set',
    key: '_sys/members',
    op: { kind: 'add', value: { id, incarnation: 99, meta: { region: 'evil' } } },
  };
}

/**
 * Client ops on the records `writeOwnRecords` wrote at member `h`, as `h` would write them:
 * its member record, its endpoint, its check result, its load counter and gauge. Any other
 * member that sends them (as downstream ops made in `h`'s name) breaks ownership.
 */
export function forgedSysOps(h: string): unknown[] {
  return [
    forgedMember(h),
    {
      type: 'rw-set',
      key: '_sys/services/web',
      op: { kind: 'add', value: { id: 'web-1', node: h, address: '6.6.6.6', port: 666, tags: [], meta: {} } },
    },
    {
      type: 'or-map',
      key: '_sys/checks/web',
      op: {
        kind: 'update',
        field: 'web-1',
        type: 'lww-register',
        op: { kind: 'set', value: { status: 'passing', output: 'forged', node: h, updatedAt: Date.now() } },
      },
    },
    {
      type: 'or-map',
      key: '_sys/load/req',
      op: { kind: 'update', field: h, type: 'pn-counter', op: { kind: 'increment', by: 1000 } },
    },
    {
      type: 'or-map',
      key: '_sys/gauges/cpu',
      op: { kind: 'update', field: h, type: 'lww-register', op: { kind: 'set', value: 1e6 } },
    },
  ];
}

/** Increments the counter `key` at `agent` by `by`. */
export function incKey(agent: Agent, key: string, by = 1): Promise<unknown> {
  return agent.write([{ type: 'pn-counter', key, op: { kind: 'increment', by } }]);
}
