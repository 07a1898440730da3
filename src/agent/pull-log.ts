/**
 * What started each anti-entropy pull and how it went (issue 8, "after a partition heals";
 * docs/agent.md "Repair"): pulls started per trigger, and the last few pulls with their phases
 * (started, header read, first events, ended) on the agent's clock. Read by tests (which pull
 * repaired a heal: the reconnection, or a timer?) and logged at debug level when each pull
 * ends, so that a benchmark can tell where the time after a heal went (scripts/wan/heal.js).
 */
import type { Logger } from 'pino';

/**
 * Why a pull started: a new connection to the peer, a periodic round, a gap repair, a heartbeat
 * showing the peer ahead, a pull deferred to another (pull-overlap.ts) now due, another peer
 * after one stalled, the same peer again with our clock now after a stale request brought
 * mostly events we held (`fresh`), or an explicit request (syncAll, syncWith).
 */
export type PullTrigger =
  'connect' | 'round' | 'repair' | 'heartbeat' | 'deferred' | 'retry' | 'fresh' | 'manual';

export const PULL_TRIGGERS: readonly PullTrigger[] = [
  'connect',
  'round',
  'repair',
  'heartbeat',
  'deferred',
  'retry',
  'fresh',
  'manual',
];

/**
 * How a pull ended: read to its end; ended after its header for another running pull
 * (`deferred`) or because we held most of what it would bring (`held`); its snapshot refused
 * because we take no state from that peer (`untrusted`: snapshot-source.ts); failed; stalled.
 */
export type PullOutcome = 'running' | 'done' | 'deferred' | 'held' | 'untrusted' | 'failed' | 'stalled';

export interface PullRecord {
  readonly peer: string;
  readonly trigger: PullTrigger;
  /** When it started (the agent's clock, ms). */
  readonly startedAt: number;
  /** When the stream opened (its protocol negotiated), if it did. */
  openedAt: number | undefined;
  /** When the responder's header came, if it did. */
  headerAt: number | undefined;
  /** When the first frame of events came, if one did. */
  firstEventsAt: number | undefined;
  endedAt: number | undefined;
  /** Envelopes received (before dropping those held already). */
  events: number;
  /** Time spent verifying and applying them (the rest after the header is waiting for frames). */
  applyMs: number;
  outcome: PullOutcome;
}

/** Pulls kept in `recent`. */
const KEPT = 32;

export class PullLog {
  /** Pulls started, per trigger, since the agent started. */
  readonly started: Record<PullTrigger, number> = Object.fromEntries(
    PULL_TRIGGERS.map((t) => [t, 0]),
  ) as Record<PullTrigger, number>;
  private readonly kept: PullRecord[] = [];

  constructor(
    private readonly log: Logger,
    private readonly now: () => number,
  ) {}

  /** The last pulls started, oldest first (running ones too). */
  recent(): readonly PullRecord[] {
    return this.kept;
  }

  start(peer: string, trigger: PullTrigger): PullRecord {
    this.started[trigger]++;
    const r: PullRecord = {
      peer,
      trigger,
      startedAt: this.now(),
      openedAt: undefined,
      headerAt: undefined,
      firstEventsAt: undefined,
      endedAt: undefined,
      events: 0,
      applyMs: 0,
      outcome: 'running',
    };
    this.kept.push(r);
    if (this.kept.length > KEPT) this.kept.shift();
    return r;
  }

  opened(r: PullRecord): void {
    r.openedAt ??= this.now();
  }

  header(r: PullRecord): void {
    r.headerAt ??= this.now();
  }

  /** A frame of `n` events came; `applied` resolves once they are applied. */
  async events(r: PullRecord, n: number, applied: Promise<void>): Promise<void> {
    const at = this.now();
    r.firstEventsAt ??= at;
    r.events += n;
    try {
      await applied;
    } finally {
      r.applyMs += this.now() - at;
    }
  }

  end(r: PullRecord, outcome: Exclude<PullOutcome, 'running'>): void {
    r.endedAt = this.now();
    r.outcome = outcome;
    const since = (t: number | undefined): number | undefined =>
      t === undefined ? undefined : t - r.startedAt;
    this.log.debug(
      {
        peer: r.peer,
        trigger: r.trigger,
        outcome,
        events: r.events,
        applyMs: r.applyMs,
        startedAt: r.startedAt,
        openedMs: since(r.openedAt),
        headerMs: since(r.headerAt),
        firstEventsMs: since(r.firstEventsAt),
        ms: since(r.endedAt),
      },
      'pull ended',
    );
  }
}
