/**
 * Reaped members an operator declared will not come back (`smac members forget <peer>`; issue 7,
 * docs/agent.md "Forgetting a reaped member").
 *
 * While the members an agent holds reaped could win a mutual reap against it, it keeps the
 * client batches of its writes (`own_ops`) so that it can re-run them should it rebase
 * (compaction.ts `mayLoseMutualReap`), and that table grows with every client write. Forgetting
 * a reaped member takes it out of that question: the batches are pruned at the next compaction.
 * The price: should the member come back with its old state anyway, this agent does not take
 * its side's reap of ours (it does not rebase for it: the batches to re-run are gone), and does
 * not take it back as a member by its heartbeats: the two stay apart, each keeping its state,
 * until the operator restarts the forgotten member with an empty data directory and a new
 * identity. A forgotten member that rebased (it writes under an epoch no reap names) is a member
 * again as any reaped member is.
 *
 * Kept in the store's meta (a synced commit before the command returns), read at start; at most
 * MAX_FORGOTTEN_MEMBERS (one more: TooManyForgotten, TOO_MANY_FORGOTTEN).
 */
import type { Logger } from 'pino';
import type { Store } from '../store/store.js';
import { parsePeerEntries } from './force-leaves.js';

const META_KEY = 'forgotten-members';

/** How many forgotten members are kept (a few dozen bytes each). */
export const MAX_FORGOTTEN_MEMBERS = 256;

export interface ForgottenMember {
  readonly peerId: string;
  /** When the operator forgot it (ms since the epoch). */
  readonly at: number;
}

/** Why a forget was refused; `code` is the API's stable code. */
export class ForgetRefused extends Error {
  override readonly name = 'ForgetRefused';

  constructor(
    readonly code: 'NOT_FOUND' | 'MEMBER_NOT_REAPED' | 'TOO_MANY_FORGOTTEN',
    message: string,
  ) {
    super(message);
  }
}

export class ForgottenMembers {
  private readonly forgotten = new Map<string, ForgottenMember>();

  constructor(
    private readonly d: {
      readonly store: Pick<Store, 'getMeta' | 'setMetaSynced'>;
      readonly log: Pick<Logger, 'warn'>;
      readonly max?: number;
    },
  ) {
    for (const m of parse(d.store.getMeta(META_KEY), d.log)) this.forgotten.set(m.peerId, m);
  }

  has(peer: string): boolean {
    return this.forgotten.has(peer);
  }

  /** Oldest first. */
  list(): ForgottenMember[] {
    return [...this.forgotten.values()].sort((a, b) => a.at - b.at || a.peerId.localeCompare(b.peerId));
  }

  /** Records `peer` as forgotten, durably, before it returns (again: no change). */
  add(peer: string, at: number): ForgottenMember {
    const known = this.forgotten.get(peer);
    if (known) return known;
    const max = this.d.max ?? MAX_FORGOTTEN_MEMBERS;
    if (this.forgotten.size >= max)
      throw new ForgetRefused(
        'TOO_MANY_FORGOTTEN',
        `${String(max)} members are forgotten already; see compaction.forgotten in GET /v1/status.`,
      );
    const m = { peerId: peer, at };
    this.forgotten.set(peer, m);
    this.d.store.setMetaSynced(META_KEY, JSON.stringify(this.list()));
    return m;
  }
}

/** The stored list, parsed defensively (a damaged record is logged and read as none). */
function parse(raw: string | undefined, log: Pick<Logger, 'warn'>): ForgottenMember[] {
  const entries = parsePeerEntries(raw === '' ? undefined : raw, log, META_KEY, 'forgotten members');
  return entries.map(({ peerId, at }) => ({ peerId, at }));
}
