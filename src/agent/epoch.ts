/**
 * Which epoch this agent writes under (DESIGN.md "Durability"; issue 7, "Origin epochs").
 *
 * An origin is (peer id, store epoch) (src/core/origin.ts). A store gets a fresh epoch when
 * it is new (also when the identity key survived but the database did not: the old epoch's
 * events may live on in peers, and reusing its sequence numbers would make peers drop the
 * new events as duplicates), and after any unclean shutdown under `storeSync: 'normal'`:
 * a power loss may have rolled back events that were already published. Under `full` a
 * commit is on disk before it is acknowledged or published, so a kill or power loss rolls
 * nothing back and the epoch stays.
 *
 * The run state ("running" from start to a graceful stop) and the epoch are written with a
 * synced commit before the agent makes any event, so no rollback can hide an unclean stop.
 */
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { originOf } from '../core/origin.js';
import type { Store } from '../store/store.js';

const EPOCH_KEY = 'epoch';
const RUN_STATE_KEY = 'run-state';
/** Stored epoch value of stores that write under the bare peer id (made before epochs). */
const LEGACY = '-';

export type EpochReason =
  'new-store' | 'identity-without-store' | 'unclean-shutdown' | 'recovered' | 'reaped';

export interface EpochChoice {
  readonly origin: string;
  readonly epoch: string | undefined;
  readonly reason: EpochReason;
}

export function chooseEpoch(
  store: Store,
  opts: { peerId: string; storeSync: 'normal' | 'full'; identityExisted: boolean; log: Logger },
): EpochChoice {
  const choice = planEpoch(store, opts);
  commitEpoch(store, choice, opts.log);
  return choice;
}

/**
 * The epoch to write under, read from the store without writing anything: the agent recovers
 * its state first (recovery.ts), so that a store it cannot read (a format of a newer release)
 * is refused exactly as it was found, and records the choice (`commitEpoch`) only then.
 */
export function planEpoch(
  store: Store,
  opts: { peerId: string; storeSync: 'normal' | 'full'; identityExisted: boolean },
): EpochChoice {
  const stored = store.getMeta(EPOCH_KEY);
  const runState = store.getMeta(RUN_STATE_KEY);
  const empty = store.logStats().lastPos === 0 && store.latestSnapshot() === undefined;
  let epoch: string | undefined;
  let reason: EpochReason;
  if (stored === undefined && empty) {
    epoch = freshEpoch();
    reason = opts.identityExisted ? 'identity-without-store' : 'new-store';
  } else if (runState === 'running' && opts.storeSync === 'normal') {
    epoch = freshEpoch();
    reason = 'unclean-shutdown';
  } else {
    // A store made before epochs (no record) keeps writing under the bare peer id.
    epoch = stored === undefined || stored === LEGACY ? undefined : stored;
    reason = 'recovered';
  }
  return { origin: originOf(opts.peerId, epoch), epoch, reason };
}

/** Records `choice` and the run state "running" with synced commits, before any event is made. */
export function commitEpoch(store: Store, choice: EpochChoice, log: Logger): void {
  store.setMetaSynced(EPOCH_KEY, choice.epoch ?? LEGACY);
  store.setMetaSynced(RUN_STATE_KEY, 'running');
  const { origin, reason } = choice;
  if (reason === 'identity-without-store')
    log.warn(
      { origin },
      'found an identity key but no store: writing under a new epoch (what this agent wrote before lives on in its peers)',
    );
  else if (reason === 'unclean-shutdown')
    log.warn(
      { origin },
      'the last run did not stop cleanly and storeSync is normal: writing under a new epoch, in case a power loss rolled back published events',
    );
  else log.info({ origin, reason }, 'writing under epoch');
}

/**
 * Moves this agent to a fresh epoch while it runs: its current epoch was reaped (rebase.ts), so
 * every replica refuses its events beyond the cut, and new writes need new sequence numbers.
 * Written with a synced commit before the first event of the new epoch.
 */
export function takeNewEpoch(store: Store, peerId: string, log: Logger): EpochChoice {
  const epoch = freshEpoch();
  store.setMetaSynced(EPOCH_KEY, epoch);
  const origin = originOf(peerId, epoch);
  log.warn({ origin }, 'writing under a new epoch: the previous one was reaped');
  return { origin, epoch, reason: 'reaped' };
}

/** Records a graceful stop: the next start may keep the epoch. */
export function markCleanShutdown(store: Store): void {
  store.setMetaSynced(RUN_STATE_KEY, 'clean');
}

function freshEpoch(): string {
  // 10 base-36 digits from 50 random bits: a collision across one peer's stores is negligible.
  const n = randomBytes(8).readBigUInt64BE() >> 14n;
  return n.toString(36).padStart(10, '0');
}
