/**
 * What the REST API needs from an agent, and nothing more (the "Components" of a js-libp2p
 * component: a narrow interface, not the concrete class). The real `Agent` (agent/agent.ts)
 * satisfies it structurally; tests may pass a fake or a thin adapter.
 */
import type { ReadonlyVectorClock } from '../core/clock/vector-clock.js';
import type { TypeName } from '../core/crdt/crdt.js';
import type { ObjectView } from '../core/keyspace.js';
import type { AgentStatus, WriteResult } from '../agent/agent.js';

export interface ApiObjectRef {
  readonly type: TypeName;
  readonly key: string;
}

/** The part of an applied event a watch needs to advance its cursor exactly. */
export interface ApiChangedEvent {
  readonly origin: string;
  readonly seq: number;
  /** Delta-encoded dependencies (entries of the origin's clock that grew since its previous event). */
  readonly deps: ReadonlyVectorClock;
}

export interface ApiChangeNotice {
  readonly event: ApiChangedEvent;
  readonly objects: readonly ApiObjectRef[];
}

export interface ChangesSince {
  /**
   * True when the agent can no longer tell what changed after the cursor (its log was
   * compacted past it): the watcher must be sent a fresh snapshot instead.
   */
  readonly snapshotNeeded: boolean;
  /** The objects touched by the events the cursor does not cover (any order, duplicates allowed). */
  readonly objects: readonly ApiObjectRef[];
}

export interface ApiAgent {
  /** Applies ops as one atomic event; resolves once durable, rejects with SmacError on bad input. */
  write(ops: readonly unknown[], opts?: { system?: boolean; oneTypePerKey?: boolean }): Promise<WriteResult>;
  read(type: TypeName, key: string): ObjectView | undefined;
  /** Objects whose key starts with `prefix`, ordered by key then type. */
  list(prefix?: string): ObjectView[];
  clock(): ReadonlyVectorClock;
  /**
   * A clock as replies and cursors show it: without the retired (reaped) epochs it provably
   * holds at their cut (src/core/retired-epochs.ts). Absent: shown whole.
   */
  pruneClock?(vc: ReadonlyVectorClock): ReadonlyVectorClock;
  /** A clock a client sent back (a watch cursor), with the pruned retired epochs restored. */
  expandClock?(vc: ReadonlyVectorClock): ReadonlyVectorClock;
  status(): AgentStatus;
  /** Called synchronously after every applied event that changed objects; returns an unsubscribe. */
  onChange(fn: (notice: ApiChangeNotice) => void): () => void;
  /** What changed after `cursor` (a vector clock the agent handed out earlier). */
  changesSince(cursor: ReadonlyVectorClock): ChangesSince;
}

/** `vc` as the API shows it (ApiAgent.pruneClock). */
export function shownClock(agent: ApiAgent, vc: ReadonlyVectorClock): ReadonlyVectorClock {
  return agent.pruneClock ? agent.pruneClock(vc) : vc;
}
