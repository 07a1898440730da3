/**
 * Start-up checks of what the agent exposes (DESIGN.md "Security"): the data directory holds
 * the identity key, the store and the API token, so it is private (0700) even when it existed
 * before with a looser mode; and an open cluster (listening off loopback without a cluster
 * key, allowed by config.ts only with `openCluster`) is announced loudly.
 */
import { chmodSync, mkdirSync, statSync } from 'node:fs';
import type { Logger } from 'pino';
import { type AgentConfig, ConfigError, isLoopbackMultiaddr } from './config.js';

/** Creates the data directory mode 0700, or tightens an existing one to 0700 (logged). */
export function securePrivateDir(dir: string, log: Pick<Logger, 'warn'>): void {
  const code = (e: unknown): string => (e as NodeJS.ErrnoException).code ?? String(e);
  let mode: number;
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    mode = statSync(dir).mode & 0o777;
  } catch (e) {
    throw new ConfigError(
      `Cannot create the data directory ${dir} (${code(e)}). Create it (mkdir -m 700 ${dir}) as the ` +
        'user running smac, or pass another data directory.',
    );
  }
  if ((mode & 0o077) === 0) return;
  try {
    chmodSync(dir, 0o700);
  } catch (e) {
    throw new ConfigError(
      `The data directory ${dir} has mode ${mode.toString(8)} and cannot be made private (${code(e)}); ` +
        `run the agent as its owner, or chmod 700 ${dir}.`,
    );
  }
  log.warn({ dir, from: mode.toString(8), to: '700' }, 'made the data directory private');
}

/** Warns when the cluster is open: a non-loopback listen address and no cluster key. */
export function warnIfOpenCluster(config: AgentConfig, log: Pick<Logger, 'warn'>): void {
  if (config.clusterKeyFile !== undefined) return;
  const exposed = config.listen.filter((a) => !isLoopbackMultiaddr(a));
  if (exposed.length === 0) return;
  log.warn(
    { listen: exposed },
    'OPEN CLUSTER: no cluster key, so any libp2p node that reaches these addresses can join and write; ' +
      'use --cluster-key (smac keygen) unless this is intended',
  );
}
