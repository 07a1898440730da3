/**
 * Parsers of the agent configuration's structured fields (src/agent/config.ts): each takes what
 * a flag, the environment or the config file gave, returns the resolved value, and adds a
 * sentence an operator can act on to `problems` when the value is invalid.
 */
import { resolve } from 'node:path';
import { DEFAULT_CONSUL_ADDR, parseConsulAddr } from '../consul/addr.js';

export function consulAddr(v: unknown, problems: string[]): string {
  if (typeof v === 'string' && parseConsulAddr(v) !== undefined) return v;
  problems.push(`consulAddr must be host:port, e.g. ${DEFAULT_CONSUL_ADDR} (got ${JSON.stringify(v)})`);
  return DEFAULT_CONSUL_ADDR;
}

/** A file mode: a number, or octal text ("0660", "660", "0o660"), at most 0777. */
export function parseMode(raw: unknown, fallback: number, problems: string[]): number {
  const text = typeof raw === 'string' ? raw.replace(/^0o/i, '') : undefined;
  const v = text !== undefined && /^[0-7]{3,4}$/.test(text) ? parseInt(text, 8) : raw;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 0o777) {
    problems.push(`apiSocketMode must be an octal file mode such as 0660 (got ${JSON.stringify(raw)})`);
    return fallback;
  }
  return v;
}

export function optionalGroup(raw: unknown, problems: string[]): string | undefined {
  if (raw === undefined || raw === '') return undefined;
  if (typeof raw === 'number' && Number.isInteger(raw) && raw >= 0) return String(raw);
  if (typeof raw !== 'string' || !/^[A-Za-z0-9_.][A-Za-z0-9_.-]*\$?$/.test(raw)) {
    problems.push(`apiSocketGroup must be a group name or a numeric gid (got ${JSON.stringify(raw)})`);
    return undefined;
  }
  return raw;
}

/** Tags as an object, or `k=v,k2=v2` from a flag or the environment. */
export function parseTags(raw: unknown, problems: string[]): Record<string, string> {
  let obj: unknown = raw;
  if (typeof raw === 'string') {
    obj = Object.fromEntries(
      raw
        .split(',')
        .filter((s) => s.trim().length > 0)
        .map((pair) => {
          const i = pair.indexOf('=');
          return i < 0 ? [pair.trim(), ''] : [pair.slice(0, i).trim(), pair.slice(i + 1).trim()];
        }),
    );
  }
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) {
    problems.push('tags must be an object of strings or "key=value,key2=value2"');
    return {};
  }
  const entries = Object.entries(obj);
  if (
    entries.length > 32 ||
    !entries.every(([k, v]) => k.length > 0 && k.length <= 64 && typeof v === 'string' && v.length <= 256)
  ) {
    problems.push('tags are at most 32 pairs of a key (1-64 chars) and a string value (up to 256 chars)');
    return {};
  }
  return Object.fromEntries(entries);
}

export function optionalPath(raw: unknown, name: string, problems: string[]): string | undefined {
  if (raw === undefined) return undefined;
  if (typeof raw !== 'string') {
    problems.push(`${name} must be a path`);
    return undefined;
  }
  return raw === '' ? '' : resolve(raw);
}

/** An object of numbers, or the same as a JSON string (from a flag or the environment). */
export function parseNumbers(raw: unknown, name: string, problems: string[]): Record<string, number> {
  let obj: unknown = raw;
  if (typeof raw === 'string') {
    try {
      obj = JSON.parse(raw);
    } catch {
      problems.push(`${name} must be a JSON object of numbers, e.g. {"probeIntervalMs": 500}`);
      return {};
    }
  }
  if (
    typeof obj !== 'object' ||
    obj === null ||
    Array.isArray(obj) ||
    !Object.values(obj).every((v) => typeof v === 'number' && Number.isFinite(v))
  ) {
    problems.push(`${name} must be an object of numbers, e.g. {"probeIntervalMs": 500}`);
    return {};
  }
  return obj as Record<string, number>;
}

/** How to treat a diverged peer (config.ts `divergedPeers`). */
export function divergedPeers(raw: unknown, problems: string[]): 'merge' | 'refuse' {
  if (raw === 'merge' || raw === 'refuse') return raw;
  problems.push(`divergedPeers must be "merge" or "refuse" (got ${JSON.stringify(raw)})`);
  return 'merge';
}
