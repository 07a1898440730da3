/** The SMAC_* environment variables the agent (its settings) or the CLI (its client) reads. */
import { DEFAULT_AGENT_CONFIG } from '../../src/agent/config.js';
import { envName } from '../../src/cli/config-sources.js';

const SETTINGS = new Set(Object.keys(DEFAULT_AGENT_CONFIG).map(envName));
const CLIENT = new Set([
  'SMAC_SOCKET',
  'SMAC_URL',
  'SMAC_TOKEN',
  'SMAC_TOKEN_FILE',
  'SMAC_CONFIG',
  'SMAC_DATA_DIR',
]);

export function isKnownSmacEnv(name: string): boolean {
  return SETTINGS.has(name) || CLIENT.has(name);
}
