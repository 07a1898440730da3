/**
 * Types of the SDK's requests and replies that are the SDK's own (the others come from the
 * API's schemas): members, ops by object type, list options. Re-exported by client.ts.
 */
import type { TypeName } from '../core/crdt/crdt.js';
import type { Json } from '../core/json.js';

export interface MembersReply {
  readonly members: readonly {
    readonly id: string;
    readonly status: 'alive' | 'suspect' | 'dead' | 'left';
    readonly incarnation: number;
    readonly region?: string;
    readonly tags: Readonly<Record<string, string>>;
    readonly addresses: readonly string[];
    /** Round trips measured by this agent's failure detector (docs/membership.md). */
    readonly rtt?: {
      readonly srttMs: number;
      readonly rttvarMs: number;
      readonly lastMs: number;
      readonly samples: number;
      readonly probeTimeoutMs: number;
    };
  }[];
  readonly transitions: readonly {
    readonly id: string;
    readonly from: string | null;
    readonly to: string;
    readonly incarnation: number;
    readonly at: string;
  }[];
}

/** The ops of each type (docs/semantics.md); `create` and `delete` apply to every object. */
export interface OpsByType {
  'pn-counter': { kind: 'increment' | 'decrement'; by?: number };
  'lww-register': { kind: 'set'; value: Json };
  'mv-register': { kind: 'set'; value: Json };
  'aw-set': { kind: 'add' | 'remove'; value: Json } | { kind: 'clear' };
  'rw-set': { kind: 'add' | 'remove'; value: Json } | { kind: 'clear' };
  'ew-flag': { kind: 'enable' | 'disable' };
  'or-map':
    | { kind: 'update'; field: string; type: TypeName; op: unknown }
    | { kind: 'create' | 'remove'; field: string; type: TypeName };
}
export type ObjectOp<T extends TypeName> = OpsByType[T] | { kind: 'create' } | { kind: 'delete' };
export type BatchOp = { [T in TypeName]: { type: T; key: string; op: ObjectOp<T> } }[TypeName];

export interface ListOptions {
  readonly prefix?: string;
  /** Keys after this one (the `next` of the previous page). */
  readonly after?: string;
  /** 1..1000, default 100. */
  readonly limit?: number;
}
