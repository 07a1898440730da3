/**
 * The `smac` package: the client SDK for applications, the agent for embedding, and the pure
 * core (CRDTs, clocks, codecs) for tools. Applications that only talk to an agent (and may run
 * on Node 20) import `smac/client` instead, which loads none of the agent.
 */
export * from './core/index.js';
export * from './client/index.js';
export * from './agent.js';
export { runAgent, type RunningAgent } from './agent/run.js';
export {
  startHeapRelease,
  DEFAULT_HEAP_RELEASE,
  type HeapRelease,
  type HeapReleaseOptions,
  type HeapReleasePolicy,
} from './agent/heap-release.js';
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
