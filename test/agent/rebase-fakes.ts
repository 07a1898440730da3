/** Fakes for tests of the Rebaser (src/agent/rebase.ts) on its own. */
import type { RebaseDeps } from '../../src/agent/rebase.js';
import type { Replica } from '../../src/core/replica.js';
import { quiet } from './helpers.js';

export const PEER = '12D3KooWGzxzKZYveHXtpG6AsrUJBcWxHBFS2HsEoGTxrMLvKXtf';
export const OLD = `${PEER}~0000000old`;

/** A replica writing under OLD, which was reaped at `cut` (reported by `p`) while it holds `held`. */
export function reapedReplica(cut = 1, held = 3): Replica {
  return {
    id: OLD,
    pastCut: () => [],
    reaps: () => [],
    reapOf: (e: string) =>
      e === OLD ? { cut, participants: ['p'], reports: new Map([['p', cut]]) } : undefined,
    clock: () => new Map([[OLD, held]]),
  } as unknown as Replica;
}

/**
 * Rebaser deps around `store` and a replica that starts as `reapedReplica()` (`old`); `onSet`
 * sees each replacement; `over` replaces any other dep (by default nothing syncs, every write
 * succeeds, and the agent is stopping).
 */
export function rebaseDeps(
  store: unknown,
  over: Record<string, unknown> = {},
  onSet: () => void = () => undefined,
): { deps: RebaseDeps; old: Replica; replica: () => Replica } {
  const old = reapedReplica();
  let replica = old;
  const deps = {
    peerId: PEER,
    store,
    log: quiet,
    config: {},
    replica: () => replica,
    setReplica: (r: Replica) => {
      onSet();
      replica = r;
    },
    installed: () => undefined,
    syncOnce: () => Promise.resolve(),
    write: () => Promise.resolve(),
    stopping: () => true,
    ...over,
  } as unknown as RebaseDeps;
  return { deps, old, replica: () => replica };
}
