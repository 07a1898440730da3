/**
 * The pure core of SMAC: clocks, the CmRDT library, causal delivery, the replica state
 * machine and the wire codecs. No I/O, no timers, no ambient randomness.
 */
export * from './errors.js';
export type { Json } from './json.js';
export { canonicalJson } from './json.js';
export { DEFAULT_LIMITS, type Limits } from './limits.js';
export * from './clock/vector-clock.js';
export * from './clock/hlc.js';
export { TYPE_NAMES, isTypeName, type TypeName, type CrdtType, type AnyCrdt } from './crdt/crdt.js';
export { getType } from './crdt/registry.js';
export * from './causal/causal-buffer.js';
export type { Event } from './event.js';
export * from './codec/index.js';
export { checkKey, RESERVED_PREFIX, type KeyOp, type ObjectView } from './keyspace.js';
export * from './replica.js';
export { StabilityTracker } from './stability.js';
export { MemoryLog } from './memory-log.js';
export * from './membership/index.js';
