/**
 * SMAC objects as Consul KV entries (docs/consul.md, "Mapping"), read-only. A Consul key is a
 * SMAC key; its `Value` (base64, as Consul sends it) is the UTF-8 text of an lww-register that
 * holds a string, and the canonical JSON of any other value. Keys under `_sys/` are the
 * agent's own bookkeeping and are not shown. Where several objects of different types share a
 * key, Consul can show one: the first in SMAC's order (by type name).
 */
import { canonicalJson } from '../core/json.js';
import type { ObjectView } from '../core/keyspace.js';
import type { ConsulIndexes } from './indexes.js';

export const SYSTEM_PREFIX = '_sys/';

export interface KvEntry {
  readonly key: string;
  /** The bytes Consul would hold for the key. */
  readonly value: Buffer;
}

/** The bytes of an object's value as a Consul client reads them. */
export function valueBytes(o: ObjectView): Buffer {
  if (o.type === 'lww-register' && typeof o.value === 'string') return Buffer.from(o.value, 'utf8');
  return Buffer.from(canonicalJson(o.value, Number.MAX_SAFE_INTEGER), 'utf8');
}

/** The entries at `key` (exactly), or under it with `recurse`, ordered by key. */
export function kvEntries(
  list: (prefix: string) => readonly ObjectView[],
  key: string,
  recurse: boolean,
): KvEntry[] {
  const out: KvEntry[] = [];
  let last: string | undefined;
  for (const o of list(key)) {
    if (o.key.startsWith(SYSTEM_PREFIX) || o.key === last) continue;
    if (!recurse && o.key !== key) continue;
    last = o.key;
    out.push({ key: o.key, value: valueBytes(o) });
  }
  return out;
}

/** Consul's KV entry JSON. */
export function kvJson(indexes: ConsulIndexes, e: KvEntry): object {
  const stamp = indexes.stamp('kv\u0000' + e.key, e.value.toString('base64'));
  return {
    LockIndex: 0,
    Key: e.key,
    Flags: 0,
    Value: e.value.length === 0 ? null : e.value.toString('base64'),
    CreateIndex: stamp.create,
    ModifyIndex: stamp.modify,
  };
}

/**
 * `?keys`: the key names under the prefix; with a separator, each name cut after the first
 * separator past the prefix (Consul's "folders"), without duplicates.
 */
export function kvKeys(entries: readonly KvEntry[], prefix: string, separator: string | undefined): string[] {
  const out: string[] = [];
  for (const { key } of entries) {
    let k = key;
    if (separator !== undefined && separator !== '') {
      const at = key.indexOf(separator, prefix.length);
      if (at >= 0) k = key.slice(0, at + separator.length);
    }
    if (out[out.length - 1] !== k) out.push(k);
  }
  return out;
}
