/**
 * What the stability view (stability-view.ts) persists in the store's metadata: the retired
 * members, with why and when, and when each member was last heard from.
 */

export type RetireReason = 'left' | 'reaped' | 'force-left' | 'log-bound';

export interface Retirement {
  readonly reason: RetireReason;
  /** ms since the epoch. */
  readonly at: number;
}

export interface ViewState {
  retired: Record<string, Retirement>;
  lastSeen: Record<string, number>;
}

/** The view's stored state (the store's meta), parsed defensively: a damaged record reads as empty. */
export function parseViewState(raw: string | undefined): ViewState {
  const empty = { retired: {}, lastSeen: {} };
  if (raw === undefined) return empty;
  try {
    const v = JSON.parse(raw) as { retired?: unknown; lastSeen?: unknown };
    const retired: Record<string, Retirement> = {};
    const lastSeen: Record<string, number> = {};
    if (typeof v.retired === 'object' && v.retired !== null)
      for (const [k, r] of Object.entries(v.retired as Record<string, unknown>)) {
        const rr = r as { reason?: unknown; at?: unknown };
        if (typeof rr.at === 'number' && typeof rr.reason === 'string')
          retired[k] = { reason: rr.reason as RetireReason, at: rr.at };
      }
    if (typeof v.lastSeen === 'object' && v.lastSeen !== null)
      for (const [k, t] of Object.entries(v.lastSeen as Record<string, unknown>))
        if (typeof t === 'number') lastSeen[k] = t;
    return { retired, lastSeen };
  } catch {
    return empty;
  }
}
