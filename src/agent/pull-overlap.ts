/**
 * Concurrent pulls that would bring the same events (issue 8, "after a partition heals";
 * docs/agent.md "Repair"). A member coming back from a partition connects to every member of
 * the other side within a second or so and pulls from each at once (anti-entropy.ts
 * `connected`); they hold the same backlog, so each sends all of it, and the returning member,
 * the one with the most to catch up, received and decoded every copy (dropping the repeats
 * only after reading them) while its CPU was what the catch-up waited for.
 *
 * So a pull's header (the responder's clock: the response brings nothing beyond it) is checked
 * against the headers of the other pulls running now. When another pull brings nearly all of
 * what this one would (all but a quarter at most: the other side's members each write a few
 * membership records as they reconnect, so their clocks rarely match exactly), this pull ends
 * after its header and is due again once that pull ends, however it ends (`ended` returns
 * it): asked with the clock that pull brought us to, the responder then sends only the rest.
 * A pull that still runs after `waitMs` lets the deferred ones go (`due`), so a responder that
 * trickles its answer holds the others back no longer than a silent one could. Pulls that
 * bring a snapshot take no part (installing one may need a push first).
 */
import type { PeerId } from '@libp2p/interface';
import { type ReadonlyVectorClock, vcGet } from '../core/clock/vector-clock.js';

/**
 * True when a response up to `vc` would bring us something, and at most a quarter of it is
 * neither ours already (`mine`) nor on its way up to `theirs`.
 */
export function mostlyCovered(
  vc: ReadonlyVectorClock,
  theirs: ReadonlyVectorClock,
  mine: ReadonlyVectorClock,
): boolean {
  let lacking = 0;
  let beyond = 0;
  for (const [origin, seq] of vc) {
    const have = vcGet(mine, origin);
    lacking += Math.max(0, seq - have);
    beyond += Math.max(0, seq - Math.max(have, vcGet(theirs, origin)));
  }
  return lacking > 0 && beyond * 4 <= lacking;
}

/**
 * Duplicates a stale request may bring before it is worth asking again instead: below this, the
 * copies cost less than the two round trips (a stream and a header) of a fresh pull.
 */
export const STALE_MIN_DUPLICATES = 256;

/**
 * A pull whose request went out with a clock that other pulls have since moved on (a pull that
 * waited to open its stream, or for its header, while another applied the same backlog): the
 * responder will send every event since `asked`, up to `vc`, and we hold most of them by now
 * (`mine`). Returns 0 when we hold all of them (end the pull); the number we still lack when
 * at least STALE_MIN_DUPLICATES would be copies, and copies at least three quarters of the
 * response (end it, and ask again with our clock now); undefined otherwise (read on).
 */
export function mostlyHeld(
  vc: ReadonlyVectorClock,
  asked: ReadonlyVectorClock,
  mine: ReadonlyVectorClock,
): number | undefined {
  let sends = 0;
  let lacking = 0;
  for (const [origin, seq] of vc) {
    sends += Math.max(0, seq - vcGet(asked, origin));
    lacking += Math.max(0, seq - Math.max(vcGet(asked, origin), vcGet(mine, origin)));
  }
  const copies = sends - lacking;
  if (copies === 0) return undefined;
  if (lacking === 0) return 0;
  return copies >= STALE_MIN_DUPLICATES && copies >= 3 * lacking ? lacking : undefined;
}

/**
 * What a pull does once its header came: read on; end, and run again when the running pull
 * from `to` ended; or end, because we hold nearly all it would send, and if `rest` (events
 * still lacking) is not 0, pull again at once with our clock now.
 */
export type HeaderVerdict =
  | { readonly kind: 'read' }
  | { readonly kind: 'defer'; readonly to: string }
  | { readonly kind: 'held'; readonly rest: number };

export interface PullOverlapDeps {
  /**
   * How long a deferred pull waits for the pull it deferred to: past this, while that one still
   * runs (a responder trickling its answer), the deferred pull is due anyway (`due`).
   */
  readonly waitMs: number;
  /** A deferred pull is due now: pull from `peer` without deferring again. */
  readonly due: (peer: PeerId) => void;
}

export class PullOverlap {
  /** Per peer pulled from now whose header came: the responder's clock. */
  private readonly heads = new Map<string, ReadonlyVectorClock>();
  /** Per peer pulled from now: the peers whose pulls ended deferring to it, with their timers. */
  private readonly deferred = new Map<string, Map<string, { peer: PeerId; timer: NodeJS.Timeout }>>();

  constructor(private readonly deps: PullOverlapDeps) {}

  /**
   * The pull from `peer` read its header: `vc`, the responder's clock; `asked`, the clock our
   * request carried; `mine`, ours now. Says whether to read on, to end now and pull again once
   * another running pull (`to`) brings nearly every event this one would (with `mayDefer`
   * false the pull reads on whatever runs, and only serves as a cover for later ones), or to
   * end now because we hold most of what it would send already (`held`; see `mostlyHeld`).
   */
  header(
    peer: PeerId,
    vc: ReadonlyVectorClock,
    snapshot: boolean,
    mine: ReadonlyVectorClock,
    mayDefer = true,
    asked?: ReadonlyVectorClock,
  ): HeaderVerdict {
    const id = peer.toString();
    if (snapshot) return { kind: 'read' };
    const held = asked === undefined ? undefined : mostlyHeld(vc, asked, mine);
    if (held !== undefined) return { kind: 'held', rest: held };
    for (const [other, theirs] of mayDefer ? this.heads : []) {
      if (other === id || !mostlyCovered(vc, theirs, mine)) continue;
      this.defer(peer, other);
      return { kind: 'defer', to: other };
    }
    this.heads.set(id, vc);
    return { kind: 'read' };
  }

  /**
   * A pull from `peer` is to run once the running pull from `to` ended (`ended` returns it), or
   * has run for `waitMs` (`due`). Also before any request (anti-entropy.ts `connected`): a
   * responder sends its whole response at once, up to the stream's flow-control window (256
   * KiB), so a pull ended after its header has still cost the responder and us that much.
   */
  defer(peer: PeerId, to: string): void {
    const id = peer.toString();
    const waiting = this.deferred.get(to) ?? new Map<string, { peer: PeerId; timer: NodeJS.Timeout }>();
    clearTimeout(waiting.get(id)?.timer);
    const timer = setTimeout(() => {
      if (this.deferred.get(to)?.get(id)?.timer !== timer) return;
      this.deferred.get(to)?.delete(id);
      this.deps.due(peer);
    }, this.deps.waitMs);
    timer.unref();
    waiting.set(id, { peer, timer });
    this.deferred.set(to, waiting);
  }

  /**
   * A running pull (its peer) whose header shows it brings nearly all that `vc` (the last
   * heartbeat of `peer`) shows we lack, if any: a pull from `peer` now would have its responder
   * send that again before we could read its header.
   */
  covering(peer: string, vc: ReadonlyVectorClock, mine: ReadonlyVectorClock): string | undefined {
    for (const [other, theirs] of this.heads)
      if (other !== peer && mostlyCovered(vc, theirs, mine)) return other;
    return undefined;
  }

  /**
   * Whether an automatic pull from `peer` is not to start now: it waits for another pull to
   * end, or a running pull covers what its last heartbeat (`vc`) shows we lack (`covering`).
   */
  blocks(peer: string, vc: ReadonlyVectorClock | undefined, mine: ReadonlyVectorClock): boolean {
    return this.waiting(peer) || (vc !== undefined && this.covering(peer, vc, mine) !== undefined);
  }

  /** Whether a pull from `peer` waits for another to end (no other pull from it starts then). */
  waiting(peer: string): boolean {
    for (const waiting of this.deferred.values()) if (waiting.has(peer)) return true;
    return false;
  }

  /** The pull from `peer` ended: the peers that deferred to it, due now. */
  ended(peer: PeerId): PeerId[] {
    const id = peer.toString();
    this.heads.delete(id);
    const waiting = [...(this.deferred.get(id)?.values() ?? [])];
    this.deferred.delete(id);
    for (const w of waiting) clearTimeout(w.timer);
    return waiting.map((w) => w.peer);
  }
}
