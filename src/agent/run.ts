/**
 * Runs an agent with its REST API: what `smac agent` and `npm start` do. The API closes first
 * on shutdown (ending open watches), then the agent leaves the cluster.
 */
import { join } from 'node:path';
import type { ApiServers } from '../api/server.js';
import { startApiServers } from '../api/server.js';
import { membersRouteModule } from '../api/routes/members.js';
import { servicesRouteModule } from '../api/routes/services.js';
import { loadRouteModule } from '../api/routes/load.js';
import { Agent, type AgentOptions } from './agent.js';
import type { AgentConfig } from './config.js';

export interface RunningAgent {
  readonly agent: Agent;
  readonly api: ApiServers;
  stop(): Promise<void>;
}

export async function runAgent(config: AgentConfig, options: AgentOptions = {}): Promise<RunningAgent> {
  const agent = await Agent.start(config, options);
  let api: ApiServers;
  try {
    api = await startApiServers({
      agent,
      socketPath: config.apiSocket === '' ? false : (config.apiSocket ?? join(config.dataDir, 'smac.sock')),
      tcp: config.apiHost === '' ? false : { host: config.apiHost, port: config.apiPort },
      tokenFile: config.apiTokenFile,
      // Added to the plugin's default routes (objects, batch, watch, status).
      routes: [membersRouteModule(agent), servicesRouteModule(agent.services), loadRouteModule(agent.load)],
    });
  } catch (e) {
    await agent.stop();
    throw e;
  }
  let stopping: Promise<void> | undefined;
  return {
    agent,
    api,
    stop: () =>
      (stopping ??= (async () => {
        await api.close().catch(() => undefined);
        await agent.stop();
      })()),
  };
}
