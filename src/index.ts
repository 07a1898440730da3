/**
 * The `smac` package: the client SDK for applications, the agent for embedding, and the pure
 * core (CRDTs, clocks, codecs) for tools.
 */
export * from './core/index.js';
export {
  SmacClient,
  SmacApiError,
  ClientErrorCode,
  WatchStream,
  objectPath,
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
} from './client/client.js';
export {
  Agent,
  AgentStoppedError,
  type AgentOptions,
  type AgentStatus,
  type WriteResult,
} from './agent/agent.js';
export { type AgentConfig, DEFAULT_AGENT_CONFIG, resolveAgentConfig, ConfigError } from './agent/config.js';
export { runAgent, type RunningAgent } from './agent/run.js';
export {
  startApiServers,
  createApiApp,
  defaultSocketPath,
  isLoopbackHost,
  DEFAULT_API_PORT,
  DEFAULT_API_HOST,
  type ApiServers,
  type ApiServerOptions,
  type ApiAppOptions,
} from './api/server.js';
export { API_TOKEN_FILE_NAME, defaultTokenFile } from './api/token.js';
export {
  smacApi,
  DEFAULT_API_OPTIONS,
  type SmacApiOptions,
  type RouteModule,
  type ApiContext,
} from './api/app.js';
