/**
 * Where agent settings come from, in order of precedence: command-line flags, then `SMAC_*`
 * environment variables, then a JSON config file (`--config` or `SMAC_CONFIG`), then defaults.
 * Environment names are the setting names in upper snake case: `syncIntervalMs` is
 * `SMAC_SYNC_INTERVAL_MS`. Lists in the environment are comma-separated.
 */
import { readFileSync } from 'node:fs';
import { type AgentConfig, ConfigError, DEFAULT_AGENT_CONFIG, resolveAgentConfig } from '../agent/config.js';

type Raw = Partial<Record<keyof AgentConfig, unknown>>;

export function envName(key: string): string {
  return 'SMAC_' + key.replace(/[A-Z]/g, (c) => '_' + c).toUpperCase();
}

export function fromEnv(env: NodeJS.ProcessEnv): Raw {
  const out: Raw = {};
  for (const key of Object.keys(DEFAULT_AGENT_CONFIG) as (keyof AgentConfig)[]) {
    const v = env[envName(key)];
    if (v !== undefined && v !== '') out[key] = v;
  }
  return out;
}

export function fromFile(path: string): Raw {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new ConfigError(`Cannot read the config file ${path}: ${(e as Error).message}.`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new ConfigError(`The config file ${path} is not valid JSON: ${(e as Error).message}.`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new ConfigError(`The config file ${path} must hold a JSON object of settings.`);
  }
  return parsed;
}

/** Merges the sources (flags win) and validates the result. */
export function loadAgentConfig(
  flags: Raw,
  env: NodeJS.ProcessEnv,
  configFile: string | undefined,
): AgentConfig {
  const file = configFile ?? env.SMAC_CONFIG;
  const merged: Raw = { ...(file ? fromFile(file) : {}), ...fromEnv(env) };
  for (const [k, v] of Object.entries(flags)) if (v !== undefined) merged[k as keyof AgentConfig] = v;
  return resolveAgentConfig(merged);
}
