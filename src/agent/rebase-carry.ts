/**
 * What a rebase that empties the store carries across it (src/agent/rebase.ts): the events of
 * our own epochs that it neither re-runs nor retires. They may be held by no other replica: an
 * older epoch of ours that we wrote under while cut off, then left by an unclean restart (a new
 * epoch after any unclean shutdown: epoch.ts), or our current epoch's events from before we
 * delivered another member's epoch beyond its cut (rebaseFromForeign). Handing them over to the
 * connected peers is best effort (nobody may be connected); so their envelopes also go into the
 * pending record, written synced before the store is emptied, and once the peer's state is in
 * they are delivered again as any peer's events are (verified, in causal order; a copy the
 * state already holds is a duplicate and changes nothing). Only when our clock covers them are
 * the client writes re-run: those are causally later (nemesis long run seed 21 lost 2,020
 * acknowledged ops without this: test/agent/rebase-older-epoch.test.ts).
 */
import { type VectorClock, vcGet } from '../core/clock/vector-clock.js';
import { peerOfOrigin } from '../core/origin.js';
import type { Replica } from '../core/replica.js';
import type { Store } from '../store/store.js';

/** A carried event: its origin, seq and envelope (base64). */
export type Carried = readonly [origin: string, seq: number, envelope: string];

/**
 * The events of our own epochs in `replica`'s clock that a rebase keeps by carrying them: per
 * epoch up to `upTo(epoch)` (the seq beyond which it re-runs that epoch's writes, or undefined
 * for all it holds), never beyond a cut that retires the epoch, and none of `skip` (the epoch
 * whose state we wait for holds it).
 */
export function carriedEvents(
  store: Pick<Store, 'eventsSince'>,
  peerId: string,
  replica: Pick<Replica, 'clock' | 'reapOf'>,
  upTo: (epoch: string) => number | undefined,
  skip?: string,
): Carried[] {
  const clock = replica.clock();
  const limits = new Map<string, number>();
  for (const [origin, held] of clock) {
    if (peerOfOrigin(origin) !== peerId || origin === skip) continue;
    const limit = Math.min(held, upTo(origin) ?? held, replica.reapOf(origin)?.cut ?? held);
    if (limit > 0) limits.set(origin, limit);
  }
  if (limits.size === 0) return [];
  // Every other origin at our clock: only our epochs' ranges are read from the log.
  const since: VectorClock = new Map(clock);
  for (const origin of limits.keys()) since.set(origin, 0);
  const out: Carried[] = [];
  for (const e of store.eventsSince(since))
    if (e.seq <= (limits.get(e.origin) ?? 0))
      out.push([e.origin, e.seq, Buffer.from(e.bytes).toString('base64')]);
  return out;
}

/** Parses a pending record's `carry` (as stored: any JSON); malformed entries are dropped. */
export function parseCarried(raw: unknown): Carried[] {
  if (!Array.isArray(raw)) return [];
  return raw.filter(
    (c): c is Carried =>
      Array.isArray(c) &&
      c.length === 3 &&
      typeof c[0] === 'string' &&
      typeof c[1] === 'number' &&
      typeof c[2] === 'string',
  );
}

/** The carried events our clock does not cover yet, and that no cut refuses. */
export function uncovered(carry: readonly Carried[], replica: Pick<Replica, 'clock' | 'reapOf'>): Carried[] {
  const clock = replica.clock();
  return carry.filter(([origin, seq]) => {
    const cut = replica.reapOf(origin)?.cut;
    return seq > vcGet(clock, origin) && (cut === undefined || seq <= cut);
  });
}

export interface CarryDeps {
  readonly replica: () => Pick<Replica, 'clock' | 'reapOf'>;
  readonly redeliver?: (envelopes: readonly Uint8Array[]) => Promise<void>;
  readonly syncOnce: () => Promise<void>;
  readonly stopping: () => boolean;
}

/**
 * Delivers `carry` again and waits until our clock covers it, pulling meanwhile (an event may
 * wait in the causal buffer for others' events the state does not hold yet); delivers the rest
 * again now and then (a buffer may have dropped them). False when the agent stopped first.
 */
export async function deliverCarried(d: CarryDeps, carry: readonly Carried[]): Promise<boolean> {
  if (d.redeliver === undefined) return true;
  for (let round = 0; ; round++) {
    const left = uncovered(carry, d.replica());
    if (left.length === 0) return true;
    if (d.stopping()) return false;
    if (round % 20 === 0) await d.redeliver(left.map(([, , b]) => Buffer.from(b, 'base64')));
    else await d.syncOnce();
    if (uncovered(carry, d.replica()).length > 0) await new Promise((r) => setTimeout(r, 100));
  }
}
