/**
 * One pull's stream, read to its end (anti-entropy.ts runs the pulls): sends our clock, then
 * applies what the peer sends through the owner — its header (which may end the pull early:
 * pull-overlap.ts), a snapshot to install, batches of events. The progress watchdog runs while
 * we wait for the peer, and every frame it sends (snapshot chunks too) resets it.
 */
import type { PeerId } from '@libp2p/interface';
import type { ReadonlyVectorClock } from '../core/clock/vector-clock.js';
import type { SyncFrame } from '../net/sync-protocol.js';
import type { AntiEntropyDeps } from './anti-entropy.js';
import type { PullLog, PullRecord } from './pull-log.js';
import type { PullOverlap } from './pull-overlap.js';
import type { PullPeers } from './pull-peers.js';
import type { watchdog } from './pull-watchdog.js';

/** How one pull ended. */
export type PullOutcome =
  | { readonly kind: 'done' | 'deferred' | 'untrusted' }
  | { readonly kind: 'held'; readonly rest: number }
  | { readonly kind: 'push-first'; readonly peerVc: ReadonlyVectorClock };

/** What reading a pull uses of the anti-entropy client. */
export interface PullFramesContext {
  readonly deps: Pick<
    AntiEntropyDeps,
    'sync' | 'log' | 'clock' | 'requestClock' | 'expand' | 'install' | 'snapshotSource' | 'halted'
  >;
  readonly overlap: PullOverlap;
  readonly pulls: PullLog;
  readonly peers: PullPeers;
  /** Verifies envelopes and queues them for the owner; resolves once applied and durable. */
  readonly receive: (envelopes: readonly Uint8Array[]) => Promise<void>;
}

export interface PullRun {
  readonly peer: PeerId;
  readonly signal: AbortSignal;
  readonly dog: ReturnType<typeof watchdog>;
  readonly record: PullRecord;
  /** Install a snapshot even if we hold events it lacks (after we pushed them). */
  readonly keepNewer: boolean;
  /** Whether the pull may end after its header for another running pull (pull-overlap.ts). */
  readonly mayDefer: boolean;
}

/** One pull from `run.peer`: applies what the peer sends (through the owner). */
export async function readPull(ctx: PullFramesContext, run: PullRun): Promise<PullOutcome> {
  const { deps, overlap, pulls, peers } = ctx;
  const { peer, signal, dog, record, keepNewer, mayDefer } = run;
  const asked = deps.clock();
  const vc = deps.requestClock?.() ?? asked;
  const frames = deps.sync.pull(peer, vc, {
    signal,
    onFrame: dog.poke,
    onOpen: () => {
      pulls.opened(record);
    },
    snapshotSource: (claims) => deps.snapshotSource?.(peer.toString(), claims),
  });
  let peerVc: ReadonlyVectorClock = new Map();
  try {
    for (;;) {
      dog.arm();
      let next: IteratorResult<SyncFrame>;
      try {
        next = await frames.next();
      } finally {
        dog.disarm();
      }
      if (next.done || deps.halted()) return { kind: 'done' };
      const frame = next.value;
      if (frame.type === 'header') {
        pulls.header(record);
        peerVc = deps.expand ? deps.expand(frame.vc) : frame.vc;
        const mine = deps.clock();
        const verdict = overlap.header(peer, peerVc, frame.snapshot, mine, mayDefer, asked);
        if (verdict.kind === 'defer') {
          const at = { peer: peer.toString(), other: verdict.to };
          deps.log.debug(at, 'another running pull brings these events');
          return { kind: 'deferred' };
        }
        if (verdict.kind === 'held') return verdict;
      } else if (frame.type === 'snapshot') {
        const installed = await deps.install(frame.snapshot, keepNewer, peer.toString());
        // We take no state from this peer: pushing ours first would not change that.
        if (installed === 'untrusted') {
          peers.refusedState(peer.toString());
          return { kind: 'untrusted' };
        }
        if (!installed) return { kind: 'push-first', peerVc };
        peers.installed();
      } else if (frame.type === 'events')
        await pulls.events(record, frame.envelopes.length, ctx.receive(frame.envelopes));
    }
  } finally {
    await frames.return(undefined); // closes the stream if we stopped early
  }
}
