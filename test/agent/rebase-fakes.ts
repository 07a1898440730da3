/** Fakes for tests of the Rebaser (src/agent/rebase.ts) on its own. */
import type { Replica } from '../../src/core/replica.js';

export const PEER = '12D3KooWGzxzKZYveHXtpG6AsrUJBcWxHBFS2HsEoGTxrMLvKXtf';
export const OLD = `${PEER}~0000000old`;

/** A replica writing under OLD, which was reaped at `cut` (reported by `p`) while it holds `held`. */
export function reapedReplica(cut = 1, held = 3): Replica {
  return {
    id: OLD,
    pastCut: () => [],
    reapOf: (e: string) =>
      e === OLD ? { cut, participants: ['p'], reports: new Map([['p', cut]]) } : undefined,
    clock: () => new Map([[OLD, held]]),
  } as unknown as Replica;
}
