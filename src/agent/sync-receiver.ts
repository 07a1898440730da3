/**
 * What anti-entropy does with the envelopes a pull or a push brings (DESIGN.md "Anti-entropy
 * (sync)"): drop the events we hold or another pull already queued, verify the rest, and queue
 * them for the owner; resolve once the owner applied them and they are durable.
 *
 * A sync frame holds up to thousands of envelopes (sync-wire.ts). Verified on the event loop in
 * one go, one frame held a catching-up agent's loop, and so its own clients' writes, for
 * seconds on a loaded machine (issue 8; docs/performance.md, "Catching up"). So signatures are
 * checked off the loop (openEnvelopes: libuv's thread pool) in chunks of VERIFY_CHUNK envelopes,
 * VERIFY_AHEAD chunks at once, and each chunk goes to the owner, in order, as soon as it is
 * verified: neither the decoding on the loop nor the owner's drain ever handles more than a
 * chunk at once.
 *
 * Concurrent pulls bring the same events. Per origin, the highest contiguous seq queued and
 * not yet applied is marked, and a later copy at or below the mark is dropped before its
 * signature is checked. To keep that true with checks that take time, the frames of
 * concurrent calls are checked one at a time: a frame is filtered against the marks that every
 * earlier frame left.
 *
 * It never touches replica state: it reads the delivered clock and hands verified events to
 * the owner through `receive`.
 */
import type { Logger } from 'pino';
import { type ReadonlyVectorClock, type VectorClock, vcGet } from '../core/clock/vector-clock.js';
import { type EnvelopeOutcome, openEnvelopes, type OpenStats } from '../net/envelope-batch.js';
import { peekEnvelope } from '../net/envelope.js';
import type { VerifiedEvent } from '../net/gossip.js';

/**
 * Envelopes of a sync frame verified, and handed to the owner, at a time: decoding them holds
 * the event loop a few ms (the signatures are checked off it), and the owner applies them in
 * one drain of about that size.
 */
export const VERIFY_CHUNK = 128;
/** Chunks of one frame being checked at once. */
export const VERIFY_AHEAD = 3;

export interface SyncReceiverDeps {
  readonly log: Logger;
  readonly counters: { rejectedEvents: number };
  /** Our delivered clock (read only). */
  readonly clock: () => VectorClock;
  /** Queues verified events for the owner; resolves once they are applied and durable. */
  readonly receive: (items: readonly VerifiedEvent[]) => Promise<void>;
}

export class SyncReceiver {
  /**
   * Per origin, the highest seq that sync queued for the owner and the owner has not applied
   * yet: concurrent pulls bring the same events, and only the first copy is verified and queued.
   */
  private readonly queued = new Map<string, number>();
  /** The last frame check started (they run one at a time). */
  private checking: Promise<void> = Promise.resolve();
  /** Signatures checked, and envelopes accepted through a chain link instead (envelope-batch.ts). */
  readonly stats: OpenStats = { verified: 0, covered: 0 };

  constructor(private readonly deps: SyncReceiverDeps) {}

  /** Verifies and queues `envelopes` (see above); resolves once they are applied and durable. */
  async receive(envelopes: readonly Uint8Array[]): Promise<void> {
    const marked = new Map<string, number>();
    const applied: Promise<void>[] = [];
    const chunks: (readonly Uint8Array[])[] = [];
    for (let i = 0; i < envelopes.length; i += VERIFY_CHUNK)
      chunks.push(envelopes.slice(i, i + VERIFY_CHUNK));
    try {
      await this.oneAtATime(async () => {
        // VERIFY_AHEAD chunks are checked at once, and settled in order: a chunk waits for its
        // slowest check, and on a loaded machine a pool thread can wait long for a CPU.
        const inFlight = chunks.slice(0, VERIFY_AHEAD).map((c) => this.check(c));
        for (let i = 0; i < chunks.length; i++) {
          const checked = await inFlight[i];
          const ahead = chunks[i + VERIFY_AHEAD];
          if (ahead) inFlight.push(this.check(ahead));
          const ok = checked ? this.settle(checked, marked) : [];
          if (ok.length === 0) continue;
          const done = this.deps.receive(ok);
          done.catch(() => undefined); // awaited below; never unhandled meanwhile
          applied.push(done);
        }
      });
      await Promise.all(applied);
    } finally {
      // Applied now (the clock covers them) or buffered: forget our marks, unless a later
      // batch extended them (it forgets them itself).
      for (const [origin, seq] of marked) if (this.queued.get(origin) === seq) this.queued.delete(origin);
    }
  }

  /** Runs `fn` once every earlier call's `fn` has settled. */
  private oneAtATime(fn: () => Promise<void>): Promise<void> {
    const run = this.checking.then(fn);
    this.checking = run.catch(() => undefined);
    return run;
  }

  /**
   * Starts checking the envelopes of `chunk` that are new to us (not held, not queued by an
   * earlier chunk); malformed ones are refused here. Resolves to their outcomes, in order.
   */
  private check(chunk: readonly Uint8Array[]): Promise<EnvelopeOutcome[]> {
    const have = this.deps.clock();
    const fresh: Uint8Array[] = [];
    for (const bytes of chunk) {
      try {
        const { origin, seq } = peekEnvelope(bytes);
        if (seq > this.floor(have, origin)) fresh.push(bytes);
      } catch (e) {
        this.reject(e);
      }
    }
    return fresh.length === 0 ? Promise.resolve([]) : openEnvelopes(fresh, undefined, this.stats);
  }

  /**
   * The verified events of a checked chunk that are still new (the owner may have applied more
   * meanwhile); contiguous ones are marked queued (in `queued` and `marked`). A bad one is
   * counted and logged, and the others go on.
   */
  private settle(outcomes: readonly EnvelopeOutcome[], marked: Map<string, number>): VerifiedEvent[] {
    const have = this.deps.clock();
    const ok: VerifiedEvent[] = [];
    for (const o of outcomes) {
      if (!o.ok) {
        this.reject(o.error);
        continue;
      }
      const { event, envelope } = o.opened;
      const f = this.floor(have, event.origin);
      if (event.seq <= f) continue;
      ok.push({ event, envelope });
      if (event.seq === f + 1) {
        // Contiguous: the owner applies (or buffers) it; later copies need not be verified.
        this.queued.set(event.origin, event.seq);
        marked.set(event.origin, event.seq);
      }
    }
    return ok;
  }

  /** Highest seq of `origin` we hold or sync queued. */
  private floor(have: ReadonlyVectorClock, origin: string): number {
    return Math.max(vcGet(have, origin), this.queued.get(origin) ?? 0);
  }

  private reject(e: unknown): void {
    this.deps.counters.rejectedEvents++;
    this.deps.log.warn({ err: e }, 'rejected an event received by sync');
  }
}
