/**
 * Starts the Consul-compatible listener for an agent, as configured (`consulAddr`): the hook
 * run.ts calls. On every address, loopback included, it requires the agent's API token (the
 * operator's token file, or the one generated in the data directory), as the TCP API does.
 */
import type { AgentConfig } from '../agent/config.js';
import { defaultTokenFile, resolveApiToken } from '../api/token.js';
import type { FastifyBaseLogger } from 'fastify';
import { parseConsulAddr } from './addr.js';
import { type ConsulServer, startConsulServer } from './server.js';
import { agentConsulSource, type ConsulAgentLike } from './source.js';

export async function startConsulFor(
  agent: ConsulAgentLike,
  config: AgentConfig,
  logger?: FastifyBaseLogger,
): Promise<ConsulServer | undefined> {
  if (!config.consul) return undefined;
  const addr = parseConsulAddr(config.consulAddr);
  if (addr === undefined) return undefined; // config.ts refused it already
  const token = (
    await resolveApiToken({
      tokenFile: config.apiTokenFile,
      generateAt: config.apiTokenFile === undefined ? defaultTokenFile(config.dataDir) : undefined,
    })
  )?.token;
  return startConsulServer({
    source: agentConsulSource(agent),
    host: addr.host,
    port: addr.port,
    token,
    allowedHosts: config.apiAllowedHosts,
    ...(logger ? { logger } : {}),
  });
}
