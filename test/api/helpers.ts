/**
 * Helpers for API tests: an in-process agent on the pure Replica (no libp2p, no SQLite) that
 * implements the API's narrow agent interface, including `changesSince` over an in-memory
 * change log that can be "compacted"; and an adapter giving a real Agent the same method.
 */
import type { Agent, AgentStatus, WriteResult } from '../../src/agent/agent.js';
import type { ApiAgent, ApiChangeNotice, ApiObjectRef, ChangesSince } from '../../src/api/agent-port.js';
import {
  type ReadonlyVectorClock,
  type VectorClock,
  vcGet,
  vcLeq,
  vcToRecord,
} from '../../src/core/clock/vector-clock.js';
import type { TypeName } from '../../src/core/crdt/crdt.js';
import type { Event } from '../../src/core/event.js';
import type { ObjectView } from '../../src/core/keyspace.js';
import { type Effect, Replica, type ReplicaSnapshot } from '../../src/core/replica.js';

interface Logged {
  readonly origin: string;
  readonly seq: number;
  readonly objects: readonly ApiObjectRef[];
}

/** Answers `changesSince` from a log of notices, with a floor below which it "compacted". */
class ChangeLog {
  private entries: Logged[] = [];
  constructor(private floor: VectorClock) {}

  record(n: ApiChangeNotice): void {
    this.entries.push({ origin: n.event.origin, seq: n.event.seq, objects: n.objects });
  }

  since(cursor: ReadonlyVectorClock): ChangesSince {
    if (!vcLeq(this.floor, cursor)) return { snapshotNeeded: true, objects: [] };
    return {
      snapshotNeeded: false,
      objects: this.entries.filter((e) => e.seq > vcGet(cursor, e.origin)).flatMap((e) => e.objects),
    };
  }

  compact(upTo: VectorClock): void {
    this.floor = upTo;
    this.entries = [];
  }
}

export class ReplicaAgent implements ApiAgent {
  readonly replica: Replica;
  private readonly listeners = new Set<(n: ApiChangeNotice) => void>();
  private readonly changes = new ChangeLog(new Map());
  private now = 1_000_000;
  /** Make the next calls fail (simulating a stopping agent or a bug). */
  failWrites: Error | undefined;
  failReads: Error | undefined;

  constructor(readonly id = 'peer-a') {
    this.replica = new Replica({ id });
  }

  write(
    ops: readonly unknown[],
    opts: { system?: boolean; oneTypePerKey?: boolean } = {},
  ): Promise<WriteResult> {
    if (this.failWrites) return Promise.reject(this.failWrites);
    try {
      const r = this.replica.step(
        { kind: 'local', ops, system: opts.system === true, oneTypePerKey: opts.oneTypePerKey === true },
        this.now++,
      );
      this.handle(r.effects);
      if (!r.event) throw new Error('no event');
      return Promise.resolve({ origin: r.event.origin, seq: r.event.seq });
    } catch (e) {
      return Promise.reject(e instanceof Error ? e : new Error(String(e)));
    }
  }

  /** Delivers an event made by another replica, as gossip would. */
  deliver(event: Event): void {
    this.handle(this.replica.step({ kind: 'remote', event, bytes: 100 }, this.now++).effects);
  }

  /** Installs a snapshot without any notice, as sync does. */
  installSilently(snap: ReplicaSnapshot): void {
    this.replica.install(snap);
  }

  /** Forgets the change log up to the current clock: older cursors need a snapshot. */
  compact(): void {
    this.changes.compact(this.replica.clock());
  }

  read(type: TypeName, key: string): ObjectView | undefined {
    if (this.failReads) throw this.failReads;
    return this.replica.read(type, key);
  }

  list(prefix = ''): ObjectView[] {
    if (this.failReads) throw this.failReads;
    return this.replica.list(prefix);
  }

  clock(): VectorClock {
    return this.replica.clock();
  }

  pruneClock(vc: ReadonlyVectorClock): VectorClock {
    return this.replica.pruneClock(vc);
  }

  expandClock(vc: ReadonlyVectorClock): VectorClock {
    return this.replica.expandClock(vc);
  }

  listenerCount(): number {
    return this.listeners.size;
  }

  onChange(fn: (n: ApiChangeNotice) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  changesSince(cursor: ReadonlyVectorClock): ChangesSince {
    return this.changes.since(cursor);
  }

  status(): AgentStatus {
    const stats = this.replica.stats();
    return {
      peerId: this.id,
      origin: this.id,
      region: 'test',
      addresses: [],
      peers: [{ peerId: 'peer-z', region: undefined, connected: true, lastHeartbeatAgoMs: 12, lag: 3 }],
      clock: vcToRecord(this.replica.clock()),
      retired: {},
      buffered: stats.buffered,
      log: { events: 7, bytes: 700, lastPos: 7, compacted: {} },
      objects: stats.objects,
      counters: {
        localEvents: 5,
        remoteEvents: 2,
        rejectedEvents: 1,
        notOwnerEvents: 0,
        clockDrift: 0,
        syncsStarted: 0,
        syncsFailed: 0,
        syncsStalled: 0,
        divergedPulls: 0,
        bufferEvicted: 0,
        bufferFarAhead: 0,
        snapshotsInstalled: 0,
        rejectedSnapshots: 0,
        compactions: 0,
        reaps: 0,
        heartbeatsReceived: 0,
        badHeartbeats: 0,
        refusedPeers: 0,
        gossipStreamsReopened: 0,
        refusedDiverged: 0,
        peersMerged: 0,
      },
      join: [],
      compaction: {
        members: ['peer-z'],
        stable: {},
        blockedBy: [{ peerId: 'peer-z', reason: 'behind', pinnedEvents: 3, silentForMs: 12 }],
        retired: {},
        reaps: [],
        forceLeaves: [],
        reapAfterMs: 259_200_000,
        maxLogEvents: 10_000_000,
        forgotten: [],
        ownOpsKept: 7,
      },
      protocol: { major: 1, minEvent: 1, maxEvent: 2, emitting: 1 },
      refused: [],
    };
  }

  private handle(effects: readonly Effect[]): void {
    for (const fx of effects) {
      if (fx.kind !== 'changed') continue;
      const notice: ApiChangeNotice = { event: fx.event, objects: fx.objects };
      this.changes.record(notice);
      for (const fn of this.listeners) fn(notice);
    }
  }
}

/** The real Agent already fits the API's interface, all but `changesSince` (the lead adds it). */
type AgentFits = Agent extends Omit<ApiAgent, 'changesSince'> ? true : never;
export const AGENT_FITS: AgentFits = true;

/** A real Agent with `changesSince` answered from the notices seen since the adapter was made. */
export function realAgentPort(agent: Agent): ApiAgent & { compact(): void } {
  const changes = new ChangeLog(agent.clock());
  agent.onChange((n) => {
    changes.record(n);
  });
  return {
    write: (ops, opts) => agent.write(ops, opts),
    read: (type, key) => agent.read(type, key),
    list: (prefix) => agent.list(prefix),
    clock: () => agent.clock(),
    pruneClock: (vc) => agent.pruneClock(vc),
    expandClock: (vc) => agent.expandClock(vc),
    status: () => agent.status(),
    onChange: (fn) => agent.onChange(fn),
    changesSince: (cursor) => changes.since(cursor),
    compact: () => {
      changes.compact(agent.clock());
    },
  };
}

/** Everything observable of an agent's state, for "unchanged on rejection" checks. */
export function stateOf(agent: ApiAgent): string {
  return JSON.stringify({ clock: vcToRecord(agent.clock()), objects: agent.list() });
}
