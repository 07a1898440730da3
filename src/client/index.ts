/**
 * The SDK's own entry point, `smac/client`: what an application needs to talk to its local
 * agent, and nothing that loads the agent. Application containers bring their own Node, so
 * this entry runs on Node 20 and later (the agent needs 22: libp2p, node:sqlite). It imports
 * only node:http, node:https and the files of src/client; the types it names from the core
 * and the API are erased at build time (test/client/node20.test.ts checks the import graph and
 * runs it on the system Node 20).
 */
export {
  SmacClient,
  SmacApiError,
  ClientErrorCode,
  WatchStream,
  objectPath,
  DEFAULT_CLIENT_KEEP_ALIVE_MS,
  type CommonClientOptions,
  type SmacClientOptions,
  type WatchEvent,
  type WatchOptions,
  type ListOptions,
  type ObjectOp,
  type OpsByType,
  type BatchOp,
  type ListedObject,
  type ClockRecord,
  type ReadReply,
  type CreateReply,
  type OpReply,
  type DeleteReply,
  type ListReply,
  type BatchReply,
  type ChangeData,
  type StatusReply,
  type MembersReply,
  type HealthReply,
} from './client.js';
