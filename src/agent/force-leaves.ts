/**
 * An operator's pending force-leaves, kept in the store (issue 7; docs/agent.md "Reaping").
 *
 * `smac members force-leave <peer>` starts an agreed reap of every epoch of the member this
 * agent knows, and, until that reap is agreed, also reaps each new epoch of the member that shows
 * up (it restarted or rebased where this agent could not see it; one that shows up once every
 * marked epoch's cut is agreed is the member coming back, reap-starts.ts). That intent must outlive a
 * restart: an agent restarted before the cut would otherwise forget it, the member's new epoch
 * would stay live, and the operator's command would silently have done nothing for it. So each
 * pending force-leave is written to the store's meta with a synced commit before the command
 * returns, resumed at start (its markers are written again where missing: a crash may have lost
 * them), and removed once its reap is agreed.
 *
 * `done` is the reap the force-leave must get past: when it was given for a member whose every
 * known epoch was already retired at an agreed cut, the epochs of that reap (joined by spaces),
 * so that the force-leave stays pending until a later epoch of the member is reaped too (the
 * member may be writing under an epoch this agent has not seen yet).
 *
 * `awaiting` marks a force-leave given while this agent held no epoch of the member (a fresh
 * store before a peer's state arrived, or a member that never wrote): it waits for the member's
 * first epoch, then reaps as if given at that moment (reap-starts.ts). It expires, cleared with
 * a log line, once `reapAfterMs` passed since it was given and no epoch arrived: from then on
 * the silence timer covers the member, and a force-leave of a member that never wrote does not
 * stay pending for good.
 *
 * Bounded: at most `max` pending (default MAX_PENDING_FORCE_LEAVES); one more is refused with
 * TooManyForceLeaves (TOO_MANY_FORCE_LEAVES). A pending force-leave of the same member again
 * changes nothing.
 */
import type { Logger } from 'pino';
import type { Store } from '../store/store.js';

const META_KEY = 'force-leaves';

/** How many force-leaves may be pending at once (each names a member that will not come back). */
export const MAX_PENDING_FORCE_LEAVES = 32;

/** Longest peer id kept (a libp2p peer id is about 52 characters; the API allows 128). */
export const MAX_PEER_ID_CHARS = 128;

export interface ForceLeaveIntent {
  readonly peerId: string;
  /** When the operator gave it (ms since the epoch). */
  readonly at: number;
  /** The epochs of the reap that was already agreed when it was given, if any. */
  readonly done?: string;
  /** Given while no epoch of the member was here: waits for its first one (or expires). */
  readonly awaiting?: true;
}

/** One force-leave too many is pending; stable code TOO_MANY_FORCE_LEAVES. */
export class TooManyForceLeaves extends Error {
  override readonly name = 'TooManyForceLeaves';
  readonly code = 'TOO_MANY_FORCE_LEAVES';

  constructor(readonly max: number) {
    super(
      `${String(max)} force-leaves are pending already (each waits until every member agrees on ` +
        'the cut); see compaction.forceLeaves and compaction.reaps in GET /v1/status, and retry ' +
        'once one is done.',
    );
  }
}

export class ForceLeaves {
  private readonly pending = new Map<string, ForceLeaveIntent>();
  private readonly max: number;

  constructor(
    private readonly d: {
      readonly store: Pick<Store, 'getMeta' | 'setMetaSynced'>;
      readonly log: Pick<Logger, 'warn'>;
      readonly max?: number;
    },
  ) {
    this.max = d.max ?? MAX_PENDING_FORCE_LEAVES;
    for (const i of parseIntents(d.store.getMeta(META_KEY), d.log)) this.pending.set(i.peerId, i);
  }

  has(peer: string): boolean {
    return this.pending.has(peer);
  }

  get(peer: string): ForceLeaveIntent | undefined {
    return this.pending.get(peer);
  }

  /** Pending force-leaves, oldest first. */
  list(): ForceLeaveIntent[] {
    return [...this.pending.values()].sort((a, b) => a.at - b.at || a.peerId.localeCompare(b.peerId));
  }

  /**
   * Records a force-leave, durably, before it returns. Throws TooManyForceLeaves (recording
   * nothing) when `max` are pending and `peer` is not one of them.
   */
  add(intent: ForceLeaveIntent): void {
    if (this.pending.has(intent.peerId)) return;
    if (this.pending.size >= this.max) throw new TooManyForceLeaves(this.max);
    this.pending.set(intent.peerId, intent);
    this.persist();
  }

  /** Replaces the pending force-leave of the same member, durably; none pending: nothing. */
  update(intent: ForceLeaveIntent): void {
    if (!this.pending.has(intent.peerId)) return;
    this.pending.set(intent.peerId, intent);
    this.persist();
  }

  /** The force-leave of `peer` is done (its reap agreed): forgets it, durably. */
  clear(peer: string): void {
    if (this.pending.delete(peer)) this.persist();
  }

  private persist(): void {
    this.d.store.setMetaSynced(META_KEY, JSON.stringify(this.list()));
  }
}

/** The stored list, parsed defensively (a damaged record is logged and read as none). */
function parseIntents(raw: string | undefined, log: Pick<Logger, 'warn'>): ForceLeaveIntent[] {
  return parsePeerEntries(raw, log, META_KEY, 'pending force-leaves').map(({ peerId, at, entry }) => ({
    peerId,
    at,
    ...(typeof entry.done === 'string' ? { done: entry.done } : {}),
    ...(entry.awaiting === true ? { awaiting: true as const } : {}),
  }));
}

/**
 * A stored meta list of `{peerId, at, ...}` entries (this module's and forgotten-members.ts'),
 * parsed defensively: a list that does not parse is logged (as `what` under `key`) and read as
 * none; an entry without a valid peer id or time is skipped.
 */
export function parsePeerEntries(
  raw: string | undefined,
  log: Pick<Logger, 'warn'>,
  key: string,
  what: string,
): { peerId: string; at: number; entry: Record<string, unknown> }[] {
  if (raw === undefined) return [];
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch {
    v = undefined;
  }
  if (!Array.isArray(v)) {
    log.warn({ key }, `the stored ${what} do not parse; ignoring them`);
    return [];
  }
  const out: { peerId: string; at: number; entry: Record<string, unknown> }[] = [];
  for (const e of v as unknown[]) {
    if (e === null || typeof e !== 'object') continue;
    const r = e as Record<string, unknown>;
    const { peerId, at } = r;
    if (typeof peerId !== 'string' || peerId.length === 0 || peerId.length > MAX_PEER_ID_CHARS) continue;
    if (typeof at !== 'number' || !Number.isFinite(at)) continue;
    out.push({ peerId, at, entry: r });
  }
  return out;
}
