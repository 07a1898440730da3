/**
 * Starts the DNS listener of a running agent when its configuration asks for one: the agent's
 * service discovery and member view are what DNS reads (nothing is written).
 */
import type { Logger } from 'pino';
import type { Agent } from '../agent/agent.js';
import { type AgentConfig, ConfigError } from '../agent/config.js';
import { createLogger } from '../agent/logger.js';
import { parseDnsAddress } from './listen-address.js';
import { DnsServer } from './server.js';

export async function startDns(
  agent: Agent,
  config: AgentConfig,
  logger?: Logger,
): Promise<DnsServer | undefined> {
  if (!config.dns) return undefined;
  const address = parseDnsAddress(config.dnsAddress);
  if (typeof address === 'string') throw new ConfigError(address);
  try {
    return await DnsServer.start({
      source: { services: agent.services, members: agent },
      address,
      ttlSeconds: config.dnsTtlSeconds,
      logger: logger ?? createLogger(config.logLevel),
    });
  } catch (e) {
    const code = (e as { code?: unknown }).code;
    if (code === 'EADDRINUSE' || code === 'EACCES' || code === 'EADDRNOTAVAIL') {
      throw new ConfigError(
        `The DNS address ${config.dnsAddress} cannot be used (${code}); choose another with --dns-address.`,
      );
    }
    throw e;
  }
}
