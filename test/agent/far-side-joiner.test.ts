// Issue 7: "A member that joined on the far side of a partition is unknown here until the heal:
// its events must still apply correctly on state that compacted meanwhile." End to end with real
// agents: a | b; c joins through b, pulls b's state and adds x to a remove-wins set while a
// removes x; both sides keep writing with a small snapshotEveryEvents, so both compact during
// the cut and after the heal. Every replica must end with the same state, the remove winning
// over the concurrent add, and every acknowledged increment. (The precise window, b reporting
// a clock that covers a's remove before it delivered any event of c, is hit step by step in
// test/core/far-side-joiner.test.ts; here gossip usually closes it, so this is the end-to-end
// check that the fix keeps convergence and compaction going.)
import { afterEach, describe, expect, it } from 'vitest';
import { multiaddr } from '@multiformats/multiaddr';
import { Agent } from '../../src/agent/agent.js';
import type { SmacNode } from '../../src/net/node.js';
import { SyncService } from '../../src/net/sync-protocol.js';
import { loopbackNode } from '../net/helpers.js';
import {
  hits,
  incHits,
  quiet,
  startCluster,
  stopAll,
  testConfig,
  waitConverged,
  waitFor,
  waitMembersKnown,
} from './helpers.js';
import { REAP_OPTS } from './reap-setup.js';

let agents: Agent[] = [];
let bare: SmacNode | undefined;
afterEach(async () => {
  await bare?.stop();
  bare = undefined;
  await stopAll(agents.splice(0));
});

const rw = (kind: 'add' | 'remove', value: string) => [{ type: 'rw-set', key: 's', op: { kind, value } }];
const inc = incHits;

describe('a member that joined on the far side of a partition', () => {
  it('its concurrent ops apply correctly on state compacted meanwhile; remove wins', async () => {
    agents = await startCluster(2, REAP_OPTS);
    const [a, b] = agents as [Agent, Agent];
    await waitFor(() => a.connectedPeers().length === 1, 'a and b connected');
    await waitMembersKnown(agents);
    await a.write([...rw('add', 'x'), ...rw('add', 'y')]);
    await waitConverged(agents, 'x and y everywhere');

    await a.isolate(true);
    await waitFor(() => a.connectedPeers().length === 0, 'a to be cut off');
    await a.write(rw('remove', 'x')); // E
    let acked = 0;
    for (let i = 0; i < 40; i++) acked += await inc(i % 2 ? a : b, 1);

    // c joins through b, on b's side, and takes b's state (x present, y present).
    const c = await Agent.start(testConfig({ ...REAP_OPTS, join: b.addresses() }), { logger: quiet });
    agents.push(c);
    await waitFor(() => c.read('rw-set', 's')?.value !== undefined, 'c to pull b state', 20_000);
    expect(c.read('rw-set', 's')?.value).toEqual(['x', 'y']);
    await c.write([...rw('add', 'x'), ...rw('remove', 'y')]); // x: concurrent with E
    for (let i = 0; i < 40; i++) acked += await inc(i % 2 ? b : c, 1);
    await waitFor(() => b.status().compaction.members.includes(c.peerId), 'b to know c');

    await a.isolate(false);
    // a learns of c from b (b's heartbeats name it) or from c itself, before anything of c's
    // can be folded away.
    await waitFor(() => a.status().compaction.members.includes(c.peerId), 'a to know c', 20_000);
    for (let i = 0; i < 30; i++) acked += await inc(agents[i % 3]!, 1);
    await waitConverged(agents, 'convergence after the heal', 40_000);
    for (const x of agents) {
      expect(x.read('rw-set', 's')?.value, x.peerId).toEqual([]);
      expect(hits(x)).toBe(acked);
    }
    // Compaction still proceeds: with everyone heard from, a compacts everything all hold.
    const before = a.status().counters.compactions;
    for (let i = 0; i < 60; i++) acked += await inc(a, 1);
    await waitFor(() => a.status().counters.compactions > before, 'a to compact after the heal', 20_000);
    await waitConverged(agents, 'convergence at the end', 30_000);
    for (const x of agents) expect(hits(x)).toBe(acked);
  }, 60_000);

  it('a peer that pulls is waited for where it pulled, and where its heartbeats name it', async () => {
    agents = await startCluster(2, REAP_OPTS);
    const [a, b] = agents as [Agent, Agent];
    await waitMembersKnown(agents);
    await a.write(rw('add', 'x'));
    await waitConverged(agents);
    // A bare libp2p node (no heartbeats, no writes) pulls b's state with an empty clock.
    bare = await loopbackNode();
    const id = bare.peerId.toString();
    const sync = new SyncService(bare, {});
    await sync.start();
    let frames = 0;
    for await (const _ of sync.pull(multiaddr(b.addresses()[0] ?? ''), new Map())) frames++;
    expect(frames).toBeGreaterThan(1);
    await sync.stop();
    // b waits for it (its request clock is its report); a learns of it from b's heartbeats.
    await waitFor(() => b.status().compaction.members.includes(id), 'b to count the puller');
    await waitFor(() => a.status().compaction.members.includes(id), 'a to count the peer b names');
    expect(b.status().compaction.blockedBy.find((x) => x.peerId === id)?.reason).toBe('behind');
    expect(a.status().compaction.blockedBy.find((x) => x.peerId === id)?.reason).toBe('no-report');
  }, 30_000);
});
