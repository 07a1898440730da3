/**
 * Membership: the SWIM failure detector with Lifeguard's refinements, as a pure state machine
 * (DESIGN.md "Membership and health"; docs/membership.md).
 */
export * from './config.js';
export * from './messages.js';
export {
  FailureDetector,
  startIncarnation,
  type MemberView,
  type MembershipStats,
} from './failure-detector.js';
export { Suspicion } from './suspicion.js';
export { Awareness } from './awareness.js';
export { BroadcastQueue } from './broadcast-queue.js';
export { RttEstimator, adaptiveTimeoutMs, type RttView } from './rtt.js';
