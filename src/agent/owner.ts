/**
 * The owner (DESIGN.md "Architecture"): the one place that mutates replica state. Every input,
 * a local write, a peer's event, a snapshot to install, the gap tick and the periodic
 * maintenance, goes through one queue, and one synchronous drain applies a batch of them and
 * carries out the replica's effects in the fixed order the design requires:
 *   1. persist every applied event (one SQLite transaction: the group commit),
 *   2. broadcast the local ones (gossip: the fast path, handed off),
 *   3. acknowledge the writers, then notify watchers.
 * A write is acknowledged only after its commit. One input's failure is that input's (the
 * writer gets the error; a peer's bad event or snapshot is refused and counted). If the store
 * fails, the agent stops rather than run ahead of its durable state.
 */
import type { PrivateKey } from '@libp2p/interface';
import type { Logger } from 'pino';
import { encodeEvent } from '../core/codec/index.js';
import type { Event } from '../core/event.js';
import { NOT_OWNER } from '../core/ownership.js';
import type { Effect, Replica, TouchedObject } from '../core/replica.js';
import { envelopeLink, NO_LINK, sealEvent } from '../net/envelope.js';
import { type PeerSnapshotInput, SnapshotRefused } from '../net/snapshot-proof.js';
import type { Store } from '../store/store.js';
import { OwnerQueue } from './owner-queue.js';
import { StoreFailStop } from './snapshot-exchange.js';

export interface WriteResult {
  readonly origin: string;
  readonly seq: number;
}

export interface ChangeNotice {
  readonly event: Event;
  readonly objects: readonly TouchedObject[];
  readonly local: boolean;
}

export type OwnerInput =
  | {
      readonly kind: 'local';
      readonly ops: readonly unknown[];
      readonly system: boolean;
      /** A client's write: refuse a second type under a key (core/type-conflict.ts). */
      readonly oneTypePerKey?: boolean;
      readonly resolve: (r: WriteResult) => void;
      readonly reject: (e: unknown) => void;
    }
  | { readonly kind: 'remote'; readonly event: Event; readonly envelope: Uint8Array }
  /** Every 250 ms at most: the causal buffer's gap timers. */
  | { readonly kind: 'tick' }
  /** Every heartbeat interval: the wire version to emit, reaping and compaction. */
  | { readonly kind: 'maintain' }
  | {
      readonly kind: 'install';
      /** Decoded as it arrived (sync-requester.ts), or refused; or a whole encoding. */
      readonly snapshot: PeerSnapshotInput;
      /** After a push: install even if it lacks events we still log (re-applied on top). */
      readonly keepNewer?: boolean;
      /** The peer it came from (src/agent/snapshot-source.ts: whom snapshots are taken from). */
      readonly from: string;
      /** True once installed (or nothing new); false when we hold events it lacks (push first). */
      readonly resolve: (installed: boolean) => void;
      /** Gets a refused snapshot's SnapshotRefused; without it, a refusal resolves false. */
      readonly reject?: (e: unknown) => void;
    };

export interface OwnerDeps {
  readonly now: () => number;
  readonly replica: () => Replica;
  readonly store: Pick<Store, 'appendEvents'>;
  readonly log: Logger;
  readonly privateKey: PrivateKey;
  readonly counters: {
    localEvents: number;
    remoteEvents: number;
    rejectedEvents: number;
    notOwnerEvents: number;
    clockDrift: number;
    rejectedSnapshots: number;
    bufferEvicted: number;
    bufferFarAhead: number;
  };
  /** Hands committed local envelopes to gossip (never awaited: anti-entropy repairs a miss). */
  readonly publish: (envelopes: Uint8Array[]) => void;
  /** After the acknowledgements: what changed, for watchers and services. */
  readonly notify: (notices: readonly ChangeNotice[]) => void;
  /** The replica asked for repair (a gap, an overflowing buffer): pull from a peer. */
  readonly repair: () => void;
  /** Installs a peer's snapshot (snapshot-exchange.ts); false when we hold events it lacks. */
  readonly install: (snapshot: PeerSnapshotInput, from: string, keepNewer: boolean) => boolean;
  /** Periodic work on replica state: wire version, reaping, compaction. */
  readonly maintain: () => void;
  /** The store failed: stop the agent. */
  readonly failStop: () => void;
}

export class Owner {
  readonly queue: OwnerQueue<OwnerInput>;
  private readonly envelopes = new WeakMap<Event, Uint8Array>();
  private pendingBroadcast: Uint8Array[] = [];
  /**
   * Our last sealed event and the hash of its envelope: the next one links to it (chained
   * envelopes, src/net/envelope.ts), so a receiver of both checks one signature. Unknown after
   * a restart: the first event then names no predecessor and is checked on its own.
   */
  private lastSealed: { origin: string; seq: number; link: Uint8Array } | undefined;

  constructor(private readonly d: OwnerDeps) {
    this.queue = new OwnerQueue(
      (items) => {
        this.drain(items);
      },
      {
        onError: (e) => {
          d.log.error({ err: e }, 'the owner drain failed; its inputs were dropped, the agent goes on');
        },
      },
    );
  }

  /**
   * Broadcasts after the acknowledgements are out, and coalesced: gossipsub frames, hashes and
   * writes to every peer's stream synchronously, which delayed the replies
   * (shared/notes/write-path-profile.md), and under load many small drains each cost one
   * message, one encryption and one socket write per peer. So the envelopes of every drain
   * until the next turn of the event loop go out together, in drain order, as one publish
   * (split by the gossip layer only when too big). Gossip is best effort: the events are
   * durable, and sync carries them whatever happens.
   */
  private broadcast(envelopes: readonly Uint8Array[]): void {
    const first = this.pendingBroadcast.length === 0;
    for (const e of envelopes) this.pendingBroadcast.push(e);
    if (!first) return;
    setImmediate(() => {
      const batch = this.pendingBroadcast;
      this.pendingBroadcast = [];
      this.d.publish(batch);
    });
  }

  private drain(items: OwnerInput[]): void {
    const now = this.d.now();
    const rows: { origin: string; seq: number; bytes: Uint8Array; clientOps?: string }[] = [];
    const publish: Uint8Array[] = [];
    const acks: (() => void)[] = [];
    const notices: ChangeNotice[] = [];
    const wants = { repair: false };
    const handle = (effects: readonly Effect[], localEnvelope?: Uint8Array, clientOps?: string): void => {
      for (const fx of effects) {
        switch (fx.kind) {
          case 'persist': {
            const env = fx.local ? localEnvelope : this.envelopes.get(fx.event);
            if (!env) throw new Error(`no envelope for ${fx.event.origin}:${fx.event.seq}`);
            rows.push({
              origin: fx.event.origin,
              seq: fx.event.seq,
              bytes: env,
              // A client write's batch, for a re-run should our epoch be reaped (rebase.ts).
              ...(fx.local && clientOps !== undefined ? { clientOps } : {}),
            });
            if (fx.local) this.d.counters.localEvents++;
            else this.d.counters.remoteEvents++;
            break;
          }
          case 'broadcast':
            if (localEnvelope) publish.push(localEnvelope);
            break;
          case 'changed':
            notices.push({
              event: fx.event,
              objects: fx.objects,
              local: fx.event.origin === this.d.replica().id,
            });
            break;
          case 'repair':
            wants.repair = true;
            break;
          case 'dropped':
            if (fx.reason === 'far-ahead') this.d.counters.bufferFarAhead += fx.count;
            else this.d.counters.bufferEvicted += fx.count;
            break;
          case 'rejected':
            this.d.counters.rejectedEvents++;
            if (fx.code === NOT_OWNER) this.d.counters.notOwnerEvents++;
            this.d.log.warn({ origin: fx.origin, seq: fx.seq, code: fx.code }, fx.message);
            break;
          case 'clock-drift':
            this.d.counters.clockDrift++;
            this.d.log.warn(
              { origin: fx.origin, driftMs: fx.driftMs },
              'a peer clock is ahead beyond the allowed drift',
            );
            break;
        }
      }
    };
    for (const input of items) {
      // One input's failure is that input's: the writer gets the error, a bad event or
      // snapshot is refused and counted, and the rest of the drain goes on. Only the store
      // failing stops the agent (below, and in install).
      try {
        this.drainOne(input, now, handle, acks);
      } catch (e) {
        try {
          this.refuseInput(input, e);
        } catch (fatal) {
          // The replica is ahead of its durable state: acknowledge nothing, stop.
          this.d.log.fatal({ err: (fatal as StoreFailStop).cause }, (fatal as Error).message);
          for (const i of items) if (i.kind === 'local') i.reject(fatal);
          this.d.failStop();
          return;
        }
      }
    }
    try {
      if (rows.length > 0) this.d.store.appendEvents(rows);
    } catch (e) {
      // The replica is now ahead of its durable state: stop rather than acknowledge or forward.
      this.d.log.fatal({ err: e }, 'the store failed to commit; stopping the agent');
      for (const input of items) if (input.kind === 'local') input.reject(e);
      this.d.failStop();
      return;
    }
    for (const ack of acks) ack();
    if (publish.length > 0) this.broadcast(publish);
    if (notices.length > 0) this.d.notify(notices);
    if (wants.repair) this.d.repair();
  }

  /** Steps the replica for one input and queues its effects; throws only for that input. */
  private drainOne(
    input: OwnerInput,
    now: number,
    handle: (effects: readonly Effect[], localEnvelope?: Uint8Array, clientOps?: string) => void,
    acks: (() => void)[],
  ): void {
    switch (input.kind) {
      case 'local': {
        // The step refuses (and changes nothing) unless every op and the event's size are valid.
        const result = this.d.replica().step(
          {
            kind: 'local',
            ops: input.ops,
            system: input.system,
            oneTypePerKey: input.oneTypePerKey === true,
          },
          now,
        );
        const event = result.event;
        if (!event) throw new Error('the replica made no event for a local write');
        const envelope = this.seal(event, result.encoded ?? encodeEvent(event));
        handle(result.effects, envelope, input.system ? undefined : JSON.stringify(input.ops));
        acks.push(() => {
          input.resolve({ origin: event.origin, seq: event.seq });
        });
        break;
      }
      case 'remote':
        this.envelopes.set(input.event, input.envelope);
        handle(
          this.d.replica().step({ kind: 'remote', event: input.event, bytes: input.envelope.length }, now)
            .effects,
        );
        break;
      case 'install':
        input.resolve(this.d.install(input.snapshot, input.from, input.keepNewer === true));
        break;
      case 'tick':
        handle(this.d.replica().step({ kind: 'tick' }, now).effects);
        break;
      case 'maintain':
        this.d.maintain();
        break;
    }
  }

  /** Signs our event `event` (its bytes `bytes`), linked to the one before it when we have it. */
  private seal(event: Event, bytes: Uint8Array): Uint8Array {
    const last = this.lastSealed;
    const prev = last?.origin === event.origin && last.seq === event.seq - 1 ? last.link : NO_LINK;
    const envelope = sealEvent(this.d.privateKey, bytes, prev);
    this.lastSealed = { origin: event.origin, seq: event.seq, link: envelopeLink(envelope) };
    return envelope;
  }

  /** What a failed input gets: its writer the error; a peer's event or snapshot a count and a log line. */
  private refuseInput(input: OwnerInput, e: unknown): void {
    switch (input.kind) {
      case 'local':
        input.reject(e);
        break;
      case 'remote':
        this.d.counters.rejectedEvents++;
        this.d.log.error(
          { origin: input.event.origin, seq: input.event.seq, err: e },
          'applying a remote event failed; it was skipped',
        );
        break;
      case 'tick':
      case 'maintain':
        this.d.log.error(
          { err: e, input: input.kind },
          'periodic maintenance failed; it runs again next time',
        );
        break;
      case 'install':
        if (e instanceof StoreFailStop) throw e;
        // install() counts and logs the snapshots it refuses; this is anything else it threw.
        if (!(e instanceof SnapshotRefused)) {
          this.d.counters.rejectedSnapshots++;
          this.d.log.error({ err: e }, 'installing a snapshot failed; it was refused');
        }
        if (input.reject) input.reject(e);
        else input.resolve(false);
        break;
    }
  }
}
