/** The agent composition root (see agent/agent.ts). */
export {
  Agent,
  AgentStoppedError,
  type AgentOptions,
  type AgentStatus,
  type WriteResult,
} from './agent/agent.js';
export { type AgentConfig, DEFAULT_AGENT_CONFIG, resolveAgentConfig, ConfigError } from './agent/config.js';
