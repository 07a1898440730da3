/**
 * The network layer (DESIGN.md "Architecture": src/net): identity and cluster keys, the libp2p
 * node, join addresses, signed event envelopes, gossip, and the sync and push protocols.
 * docs/networking.md describes the wire formats and the settings chosen.
 */
export {
  CLUSTER_KEY_BYTES,
  generateClusterKey,
  loadClusterKey,
  type LoadClusterKeyOptions,
  parseClusterKey,
  writeClusterKey,
} from './cluster-key.js';
export {
  ED25519_SIGNATURE_BYTES,
  ENVELOPE_OVERHEAD_BYTES,
  ENVELOPE_SIGNING_DOMAIN,
  ENVELOPE_VERSION,
  maxEnvelopeBytes,
  type OpenedEnvelope,
  openEnvelope,
  sealEvent,
} from './envelope.js';
export { errorCode, isNetError, NetError, NetErrorCode } from './errors.js';
export {
  type BatchRejectReason,
  EventGossip,
  type EventGossipCounters,
  type EventGossipOptions,
  HeartbeatGossip,
  type HeartbeatGossipCounters,
  type HeartbeatGossipOptions,
  type PublishReport,
  type VerifiedEvent,
} from './gossip.js';
export {
  decodeEventBatch,
  DEFAULT_EVENT_BATCH_LIMITS,
  encodeEventBatch,
  EVENTS_TOPIC,
  type EventBatchLimits,
  GOSSIP_MAX_ENVELOPES_PER_BATCH,
  GOSSIP_MAX_MESSAGE_BYTES,
  GOSSIP_MAX_RPC_BYTES,
  HEARTBEAT_MAX_BYTES,
  HEARTBEAT_TOPIC,
  LEGACY_TOPICS,
  SMAC_TOPICS,
} from './gossip-wire.js';
export {
  HEARTBEAT_FRAME_VERSION,
  HEARTBEAT_SIGNING_DOMAIN,
  type HeartbeatFrame,
  openHeartbeat,
  sealHeartbeat,
} from './heartbeat-frame.js';
export { IDENTITY_FILE_NAME, loadOrCreateIdentity } from './identity.js';
export {
  backoffDelayMs,
  type JoinAddressStatus,
  Joiner,
  type JoinerOptions,
  type JoinState,
} from './join.js';
export {
  createSmacNode,
  DEFAULT_MDNS_SERVICE_TAG,
  type SmacNode,
  type SmacNodeOptions,
  type SmacServices,
} from './node.js';
export {
  type SyncCounters,
  type SyncFrame,
  type SyncHeader,
  SyncService,
  type SyncServiceOptions,
  type SyncSnapshot,
  type SyncSource,
} from './sync-protocol.js';
export { DEFAULT_SYNC_WIRE_LIMITS, PUSH_PROTOCOL, SYNC_PROTOCOL, type SyncWireLimits } from './sync-wire.js';
