/**
 * Opening many envelopes at once (gossip batches, sync frames): the same checks and errors as
 * openEnvelope, per envelope, for a fraction of the signature checks (issue 8, "Receiving is
 * not the bottleneck"; Ed25519 verification was most of a receiver's CPU per event).
 *
 * A chained (v2) envelope signs the hash of its origin's previous envelope (envelope.ts). So
 * when the list holds event seq and seq + 1 of one origin, and seq + 1's link is the hash of
 * seq's envelope, seq's bytes are exactly what the origin signed once seq + 1 verifies: seq is
 * covered by it. Only envelopes nobody in the list covers (the last of each run, v1
 * envelopes, unlinked ones) get their own signature checked, on libuv's thread pool, in
 * parallel, so the event loop spends a hash and a decode per envelope.
 *
 * A forged or damaged envelope never takes good ones down with it: its hash matches no link,
 * so it is not covered and its own signature decides it; and an envelope whose coverer fails
 * is checked on its own instead (one more round per failure in a row).
 */
import { DEFAULT_EVENT_CODEC_LIMITS, type EventCodecLimits } from '../core/codec/index.js';
import {
  badSignature,
  envelopeLink,
  type OpenedEnvelope,
  prepareEnvelope,
  type PreparedEnvelope,
} from './envelope.js';
import { verifyWithDomainOffLoop } from './signing.js';

/** One envelope's outcome in openEnvelopes: opened, or the error openEnvelope would throw. */
export type EnvelopeOutcome =
  { readonly ok: true; readonly opened: OpenedEnvelope } | { readonly ok: false; readonly error: unknown };

/** What openEnvelopes did, for counters and benchmarks. */
export interface OpenStats {
  /** Signatures checked. */
  verified: number;
  /** Envelopes accepted through a successor's link instead of their own signature. */
  covered: number;
}

/**
 * openEnvelope for many envelopes at once (see above). Outcomes are in input order; `stats`,
 * when given, is added to.
 */
export async function openEnvelopes(
  list: readonly Uint8Array[],
  limits: EventCodecLimits = DEFAULT_EVENT_CODEC_LIMITS,
  stats?: OpenStats,
): Promise<EnvelopeOutcome[]> {
  const n = list.length;
  const outcomes: (EnvelopeOutcome | undefined)[] = new Array<EnvelopeOutcome | undefined>(n);
  const prepared: (PreparedEnvelope | undefined)[] = list.map((bytes, i) => {
    try {
      return prepareEnvelope(bytes, limits);
    } catch (error) {
      outcomes[i] = { ok: false, error };
      return undefined;
    }
  });
  // coveredBy[i]: the envelope whose verified link would vouch for envelope i (-1: none).
  const coveredBy = new Int32Array(n).fill(-1);
  const next = new Map<string, PreparedEnvelope & { at: number }>();
  for (let i = n - 1; i >= 0; i--) {
    const p = prepared[i];
    if (!p) continue;
    const { origin, seq } = p.opened.event;
    const later = next.get(origin);
    next.set(origin, { ...p, at: i });
    const link = later?.opened.prev;
    if (later === undefined || link === undefined || later.opened.event.seq !== seq + 1) continue;
    if (equalBytes(link, envelopeLink(p.opened.envelope))) coveredBy[i] = later.at;
  }
  const check = async (indexes: readonly number[]): Promise<void> => {
    if (stats) stats.verified += indexes.length;
    await Promise.all(
      indexes.map(async (i) => {
        const p = prepared[i];
        if (!p) return;
        try {
          const ok = await verifyWithDomainOffLoop(p.key, p.domain, p.signed, p.signature);
          outcomes[i] = ok ? { ok: true, opened: p.opened } : failure(p);
        } catch (error) {
          outcomes[i] = { ok: false, error };
        }
      }),
    );
  };
  const roots: number[] = [];
  for (let i = 0; i < n; i++) if (prepared[i] && (coveredBy[i] ?? -1) < 0) roots.push(i);
  await check(roots);
  // Successors come later in the list: walking back, a coverer is decided before what it
  // covers. An envelope whose coverer failed stands on its own signature: it is checked in the
  // next round, and what it covers waits for that. Every round but the last follows a failure.
  for (let pending = true; pending;) {
    pending = false;
    const again: number[] = [];
    for (let i = n - 1; i >= 0; i--) {
      const j = coveredBy[i] ?? -1;
      const p = prepared[i];
      if (j < 0 || !p || outcomes[i] !== undefined) continue;
      const by = outcomes[j];
      if (by === undefined) {
        pending = true;
      } else if (by.ok) {
        outcomes[i] = { ok: true, opened: p.opened };
        if (stats) stats.covered++;
      } else {
        again.push(i);
        pending = true;
      }
    }
    await check(again);
  }
  return outcomes.map((o) => o ?? { ok: false, error: new Error('an envelope was left undecided') });
}

function failure(p: PreparedEnvelope): EnvelopeOutcome {
  try {
    badSignature(p.opened.event);
  } catch (error) {
    return { ok: false, error };
  }
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Coalesces openEnvelopes calls: every list handed to `open` until the next turn of the event
 * loop is opened as one, so that a run of an origin's events spread over several gossip
 * messages that arrive together still costs one signature check (each message's events are
 * covered by the next one's). Each caller gets the outcomes of its own list, exactly as
 * openEnvelopes alone would decide them: a link only vouches for bytes its signer hashed.
 */
export class EnvelopeOpener {
  private pending: { list: readonly Uint8Array[]; done: (o: EnvelopeOutcome[]) => void }[] = [];

  constructor(
    private readonly limits: EventCodecLimits = DEFAULT_EVENT_CODEC_LIMITS,
    private readonly stats?: OpenStats,
  ) {}

  open(list: readonly Uint8Array[]): Promise<EnvelopeOutcome[]> {
    return new Promise((done) => {
      if (this.pending.length === 0) setImmediate(() => void this.flush());
      this.pending.push({ list, done });
    });
  }

  private async flush(): Promise<void> {
    const batch = this.pending;
    this.pending = [];
    let outcomes: EnvelopeOutcome[];
    try {
      outcomes = await openEnvelopes(
        batch.flatMap((b) => b.list),
        this.limits,
        this.stats,
      );
    } catch (error) {
      // openEnvelopes decides every envelope itself; should it throw, no caller may hang.
      outcomes = batch.flatMap((b) => b.list.map((): EnvelopeOutcome => ({ ok: false, error })));
    }
    let at = 0;
    for (const b of batch) {
      b.done(outcomes.slice(at, at + b.list.length));
      at += b.list.length;
    }
  }
}
