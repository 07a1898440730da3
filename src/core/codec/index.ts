/**
 * Versioned binary encodings of the pure core: events (the unit of replication) and
 * snapshots (state + clock), plus the varint / string primitives other wire formats reuse.
 */
export {
  compareBytes,
  isWellFormedText,
  MAX_VARINT_BYTES,
  Reader,
  utf8Decode,
  utf8Encode,
  varintSize,
  Writer,
} from './binary.js';
export {
  decodeEvent,
  DEFAULT_EVENT_CODEC_LIMITS,
  encodeEvent,
  EVENT_CODEC_VERSION,
  eventMetadataBytes,
  type EventCodecLimits,
} from './event-codec.js';
export {
  decodeSnapshot,
  encodeSnapshot,
  PROVEN_SNAPSHOT_CODEC_VERSION,
  SNAPSHOT_CODEC_VERSION,
  type Snapshot,
  type SnapshotCodecLimits,
} from './snapshot-codec.js';
