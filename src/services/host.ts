/**
 * The narrow interfaces the services depend on (after js-libp2p's "components": a service takes
 * the few capabilities it needs, not the whole agent). `KeyspaceHost` is what the Agent
 * (src/agent/agent.ts) offers; `Liveness` is what the membership layer (SWIM on the add-wins
 * set, DESIGN.md "Membership and health") offers. Tests pass fakes of both.
 */
import type { TypeName } from '../core/crdt/crdt.js';
import type { ObjectView } from '../core/keyspace.js';

/** Which nodes are alive, and where they run. */
export interface Liveness {
  /** True while the membership layer considers the node alive (alive or suspect, not dead or left). */
  isAlive(nodeId: string): boolean;
  /** The node's region, if it is known. */
  region(nodeId: string): string | undefined;
  /** The ids of the live nodes. */
  nodes(): string[];
}

/** A touched object as the agent reports it after applying an event. */
export interface TouchedKey {
  readonly type: TypeName;
  readonly key: string;
}

/** The replicated keyspace of the local agent. */
export interface KeyspaceHost {
  /** This node's id (its libp2p peer id). */
  readonly peerId: string;
  /** Applies ops as one atomic event; resolves once durable locally. `system` allows `_sys/` keys. */
  write(ops: readonly unknown[], opts?: { system?: boolean }): Promise<unknown>;
  read(type: TypeName, key: string): ObjectView | undefined;
  list(prefix?: string): ObjectView[];
  /** Called after every applied event that touched objects (local or remote); returns an unsubscribe. */
  onChange(fn: (c: { readonly objects: readonly TouchedKey[] }) => void): () => void;
}

/** What the services log: a subset of pino's Logger. */
export interface ServiceLogger {
  warn(obj: object, msg: string): void;
  debug(obj: object, msg: string): void;
}

export const silentLogger: ServiceLogger = {
  warn: () => undefined,
  debug: () => undefined,
};
