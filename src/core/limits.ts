/**
 * Bounds on every input the core accepts. Defaults are generous for configuration and service
 * data, and small enough that one request or message cannot exhaust an agent's memory.
 */
export interface Limits {
  /** Longest key in UTF-8 bytes. etcd allows 1.5 MiB keys; ours are names, not payloads. */
  maxKeyBytes: number;
  /** Largest single JSON value (register value, set element) in bytes. Consul's KV limit is 512 KiB. */
  maxValueBytes: number;
  /** Most operations in one atomic batch (one event). Bigger batches amortize more, but hold the owner longer. */
  maxOpsPerEvent: number;
  /** Longest map field name in UTF-8 bytes. */
  maxFieldBytes: number;
  /** Deepest nesting of maps inside maps. */
  maxMapDepth: number;
  /** Largest increment or decrement of a counter in one op (absolute). */
  maxCounterDelta: number;
}

export const DEFAULT_LIMITS: Readonly<Limits> = Object.freeze({
  maxKeyBytes: 512,
  maxValueBytes: 64 * 1024,
  maxOpsPerEvent: 10_000,
  maxFieldBytes: 256,
  maxMapDepth: 4,
  maxCounterDelta: Number.MAX_SAFE_INTEGER,
});
