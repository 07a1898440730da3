/**
 * A graceful leave hands over what only this agent may hold. Gossip is the fast path and loses
 * messages; anti-entropy would carry the rest, but a leaving agent stops answering pulls. So,
 * before its leaving heartbeat, the agent pushes its own events that a connected peer's last
 * heartbeat did not cover (all of them when it never heard one) to every connected peer, in
 * parallel, each bounded in time. Other origins' events are not pushed: their origins still
 * hold them. A push that fails or times out is logged; the leave goes on (the events are then
 * only in this agent's store until it comes back).
 */
import type { PeerId } from '@libp2p/interface';
import type { Logger } from 'pino';
import { type ReadonlyVectorClock, vcGet } from '../core/clock/vector-clock.js';
import type { Store } from '../store/store.js';

export interface HandOverDeps {
  /** The origin this agent writes under now. */
  readonly self: string;
  readonly clock: ReadonlyVectorClock;
  readonly peers: readonly PeerId[];
  /** A peer's clock from its last heartbeat, if any. */
  readonly peerClock: (peer: string) => ReadonlyVectorClock | undefined;
  readonly store: Pick<Store, 'eventsSince'>;
  readonly push: (peer: PeerId, envelopes: Iterable<Uint8Array>, signal: AbortSignal) => Promise<number>;
  readonly timeoutMs: number;
  readonly log: Pick<Logger, 'info' | 'warn'>;
}

/** Pushes our own events each connected peer may lack; resolves with how many were sent in all. */
export async function handOver(d: HandOverDeps): Promise<number> {
  const ours = vcGet(d.clock, d.self);
  const sent = await Promise.all(
    d.peers.map(async (peer) => {
      const theirs = vcGet(d.peerClock(peer.toString()) ?? new Map<string, number>(), d.self);
      if (theirs >= ours) return 0;
      // Every other origin at our own clock: only our origin's range is read from the log.
      const since = new Map(d.clock);
      since.set(d.self, theirs);
      const envelopes = (function* () {
        for (const e of d.store.eventsSince(since)) if (e.origin === d.self && e.seq <= ours) yield e.bytes;
      })();
      try {
        return await d.push(peer, envelopes, AbortSignal.timeout(d.timeoutMs));
      } catch (e) {
        d.log.warn({ peer: peer.toString(), err: e }, 'could not hand our events over before leaving');
        return 0;
      }
    }),
  );
  const total = sent.reduce((a, b) => a + b, 0);
  if (total > 0)
    d.log.info({ events: total, peers: d.peers.length }, 'handed our events over before leaving');
  return total;
}
