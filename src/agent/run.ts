/**
 * Runs an agent with its REST API: what `smac agent` and `npm start` do. The API closes first
 * on shutdown (ending open watches), then the agent leaves the cluster.
 */
import type { ApiServers } from '../api/server.js';
import { defaultSocketPath, startApiServers } from '../api/server.js';
import { defaultTokenFile } from '../api/token.js';
import { membersRouteModule } from '../api/routes/members.js';
import { servicesRouteModule } from '../api/routes/services.js';
import { loadRouteModule } from '../api/routes/load.js';
import type { ConsulServer } from '../consul/server.js';
import { UiSessions } from '../api/ui-sessions.js';
import { Agent, type AgentOptions } from './agent.js';
import type { AgentConfig } from './config.js';
import { dnsMetricSource } from '../dns/metrics.js';
import type { DnsServer } from '../dns/server.js';

export interface RunningAgent {
  readonly agent: Agent;
  readonly api: ApiServers;
  /** The DNS listener, when `config.dns` is on (docs/dns.md). */
  readonly dns: DnsServer | undefined;
  /** The Consul-compatible listener (docs/consul.md), when configured. */
  readonly consul: ConsulServer | undefined;
  stop(): Promise<void>;
}

export async function runAgent(config: AgentConfig, options: AgentOptions = {}): Promise<RunningAgent> {
  const agent = await Agent.start(config, options);
  let api: ApiServers;
  let consul: ConsulServer | undefined;
  let dns: DnsServer | undefined;
  try {
    api = await startApiServers({
      agent,
      socketPath: config.apiSocket === '' ? false : (config.apiSocket ?? defaultSocketPath(config.dataDir)),
      socketAccess: { mode: config.apiSocketMode, group: config.apiSocketGroup },
      tcp: config.apiTcp ? { host: config.apiHost, port: config.apiPort } : false,
      // The operator's token file, else one generated in the data directory on first start.
      tokenFile: config.apiTokenFile,
      generateAt: config.apiTokenFile === undefined ? defaultTokenFile(config.dataDir) : undefined,
      allowedHosts: config.apiAllowedHosts,
      // Added to the plugin's default routes (objects, batch, watch, status).
      routes: [membersRouteModule(agent), servicesRouteModule(agent.services), loadRouteModule(agent.load)],
      // The dashboard (docs/ui.md), off unless --ui.
      ui: config.ui ? new UiSessions() : undefined,
      // The DNS listener's counters on /metrics, read from it once it runs (started below).
      metricSources: config.dns ? [dnsMetricSource(() => dns?.counters)] : [],
    });
    // The Consul and DNS listeners' modules are loaded only when configured: an agent without
    // them does not keep their code in memory (docs/benchmarks.md "Idle memory").
    consul = !config.consul
      ? undefined
      : await import('../consul/start.js')
          .then((m) => m.startConsulFor(agent, config))
          .catch(async (e: unknown) => {
            await api.close();
            throw e;
          });
  } catch (e) {
    await agent.stop();
    throw e;
  }
  try {
    dns = config.dns
      ? await (await import('../dns/start.js')).startDns(agent, config, options.logger)
      : undefined;
  } catch (e) {
    await consul?.close().catch(() => undefined);
    await api.close().catch(() => undefined);
    await agent.stop();
    throw e;
  }
  let stopping: Promise<void> | undefined;
  return {
    agent,
    api,
    dns,
    consul,
    stop: () =>
      (stopping ??= (async () => {
        await dns?.close().catch(() => undefined);
        await consul?.close().catch(() => undefined);
        await api.close().catch(() => undefined);
        await agent.stop();
      })()),
  };
}
