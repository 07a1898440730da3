// A reaped member that rebased (a new epoch) is a member again (issue 7; docs/chaos.md "Open":
// "A rebased member is refused as a snapshot source, and by `smac members force-leave` (404), for
// over a minute"). Membership was per peer while reaping is per epoch: a peer held retired came
// back only by a heartbeat of its own, and a member that emptied its store to rebase forgot
// every member but its join peer.
import type { PeerId } from '@libp2p/interface';
import { afterEach, describe, expect, it } from 'vitest';
import { Agent } from '../../src/agent/agent.js';
import type { OwnerInput } from '../../src/agent/owner.js';
import type { OwnerQueue } from '../../src/agent/owner-queue.js';
import { servedSnapshot, type SnapshotExchangeDeps } from '../../src/agent/snapshot-exchange.js';
import { hits, incHits, stopAll, waitFor } from './helpers.js';
import { cutOf, retired, threeMembersCWrote } from './reap-setup.js';

const agents: Agent[] = [];
afterEach(() => stopAll(agents.splice(0)));

/** Drops `from`'s heartbeats at `at` (the gossipsub stall seen in docs/chaos.md), events still flow. */
function dropHeartbeats(at: Agent, from: Agent): void {
  const hb = (at as unknown as { heartbeats: { receive(b: Uint8Array, p: PeerId): void } }).heartbeats;
  const receive = hb.receive.bind(hb);
  hb.receive = (bytes, peer) => {
    if (peer.toString() !== from.peerId) receive(bytes, peer);
  };
}

/**
 * Offers `from`'s snapshot to `to`'s owner, as a pull would: true once installed or nothing new.
 * `keepNewer`: as after a push (events `to` holds and the snapshot lacks are re-applied on top).
 */
function offerSnapshot(to: Agent, from: Agent, keepNewer = false): Promise<boolean> {
  const deps = (from as unknown as { snapshotDeps(): SnapshotExchangeDeps }).snapshotDeps();
  const { bytes } = servedSnapshot(deps, { proven: true, pruned: true });
  const queue = (to as unknown as { queue: OwnerQueue<OwnerInput> }).queue;
  return new Promise((resolve, reject) => {
    queue
      .push({ kind: 'install', snapshot: bytes, from: from.peerId, keepNewer, resolve, reject })
      .catch(reject);
  });
}

/**
 * a, b and c, all members; c wrote 5 events everyone has (`acked`), then was cut off and
 * force-left at a, and a and b retired it. `cutOff` runs just before c is cut off.
 */
async function reapedC(cutOff: (c: Agent) => void = () => undefined) {
  const { a, b, c, acked, epoch } = await threeMembersCWrote(agents);
  cutOff(c);
  await c.isolate(true);
  expect(a.forceLeave(c.peerId)).toBe(true);
  await waitFor(() => [a, b].every((x) => retired(x, c.peerId) !== undefined), 'c reaped', 30_000);
  return { a, b, c, epoch, acked };
}

describe('a rebased member', () => {
  it('is a member again once its new epoch shows, even where its heartbeats do not arrive', async () => {
    const { a, c, epoch, ...r } = await reapedC((c) => {
      dropHeartbeats(agents[0]!, c);
    });
    let acked = r.acked;
    await c.isolate(false);
    await waitFor(() => c.status().origin !== epoch, 'c to rebase under a new epoch', 30_000);
    acked += await incHits(c, 100); // under the new epoch
    await waitFor(() => hits(a) === acked, 'c’s new write at a', 30_000);
    // c writes again: stability must wait for it, and it is a member whose snapshot a takes.
    await waitFor(
      () => a.status().compaction.members.includes(c.peerId),
      'a to count c as a member again',
      10_000,
    );
    expect(retired(a, c.peerId)).toBeUndefined();
    await expect(offerSnapshot(a, c, true)).resolves.toBe(true);
    // And an operator can remove it again: its new epoch is reaped.
    const again = c.status().origin;
    expect(a.forceLeave(c.peerId)).toBe(true);
    await waitFor(
      () => a.status().compaction.reaps.some((r) => r.epoch === again),
      'a marker for c’s new epoch',
      10_000,
    );
  }, 90_000);

  it('that emptied its store takes a member’s snapshot when its join peer is down', async () => {
    const { a, b, c, epoch, acked: first } = await threeMembersCWrote(agents); // b and c joined through a
    let acked = first;
    await c.isolate(true);
    for (const by of [10, 20, 30]) acked += await incHits(c, by); // beyond the cut to come
    expect(a.forceLeave(c.peerId)).toBe(true);
    await waitFor(() => [a, b].every((x) => retired(x, c.peerId) !== undefined), 'c reaped', 30_000);
    // b compacts: what c will lack after emptying its store is then only in b's snapshot.
    const since = b.status().counters.compactions;
    for (let i = 0; i < 200 && b.status().counters.compactions < since + 2; i++) {
      acked += await incHits(b, 1);
      if (i % 20 === 19) await new Promise((r) => setTimeout(r, 50));
    }
    expect(b.status().counters.compactions).toBeGreaterThanOrEqual(since + 2);
    await waitFor(() => hits(a) === hits(b), 'b’s writes at a');
    await a.isolate(true); // c's join peer is down when c returns
    await waitFor(() => b.connectedPeers().length === 0, 'b alone');
    await c.isolate(false);
    await waitFor(() => c.status().origin !== epoch, 'c to rebase under a new epoch', 30_000);
    await waitFor(
      () => [b, c].every((x) => hits(x) === acked),
      'c to take b’s state and re-run its writes beyond the cut',
      30_000,
    );
    expect(c.status().counters.snapshotsInstalled).toBeGreaterThan(0);
  }, 90_000);

  it('is removed by a force-leave given where its new epoch had not arrived yet, once it does', async () => {
    const { a, b, c, epoch, ...r } = await reapedC();
    let acked = r.acked;
    // a is cut off while c comes back and rebases: a knows only c's reaped epoch.
    await a.isolate(true);
    await waitFor(() => a.connectedPeers().length === 0, 'a cut off');
    await c.isolate(false);
    await waitFor(() => c.status().origin !== epoch, 'c to rebase under a new epoch', 30_000);
    const renewed = c.status().origin;
    acked += await incHits(c, 100);
    await waitFor(() => hits(b) === acked, 'c’s new write at b');
    // The operator removes c at a, which has not heard of the new epoch: it is what gets reaped.
    expect(a.forceLeave(c.peerId)).toBe(true);
    await a.isolate(false);
    await waitFor(
      () => [a, b].every((x) => cutOf(x, renewed) !== undefined),
      'the agreed cut of c’s new epoch',
      30_000,
    );
    await waitFor(() => ![epoch, renewed].includes(c.status().origin), 'c to rebase again', 30_000);
  }, 90_000);

  it('serves its snapshot to a peer that holds it reaped and has not seen its new epoch', async () => {
    const { a, c, epoch, ...r } = await reapedC((c) => {
      dropHeartbeats(agents[0]!, c);
    });
    let acked = r.acked;
    await a.isolate(true); // a hears nothing of c's new epoch
    await waitFor(() => a.connectedPeers().length === 0, 'a cut off');
    await c.isolate(false);
    await waitFor(() => c.status().origin !== epoch, 'c to rebase under a new epoch', 30_000);
    acked += await incHits(c, 100);
    expect(retired(a, c.peerId)).toBeDefined();
    // The snapshot proves (signed head) an epoch of c that no reap names: c rebased, a member.
    // (Kept on top: what a wrote while cut off, such as its failure detector's removals.)
    await expect(offerSnapshot(a, c, true)).resolves.toBe(true);
    expect(hits(a)).toBe(acked);
  }, 90_000);
});
