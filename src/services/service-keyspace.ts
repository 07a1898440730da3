/**
 * How services live in the keyspace (DESIGN.md "Services on the CRDTs"): the keys, the
 * endpoint records of `_sys/services/<name>` (a remove-wins set) and the check statuses of
 * `_sys/checks/<name>` (an OR-map of lww-registers), read back with validation, and the ops
 * that write statuses. Records that fail validation (e.g. from a newer agent) are skipped.
 */
import { isRecord, type Json } from '../core/json.js';
import { checkAddress, checkEndpointId, checkMeta, checkPort, checkTags, isSafeName } from './bounds.js';
import { type CheckDefinition, type CheckStatus, isCheckStatus, parseCheckDefinition } from './checks.js';
import type { KeyspaceHost } from './host.js';

export const SERVICES_PREFIX = '_sys/services/';
export const CHECKS_PREFIX = '_sys/checks/';
/** A whole endpoint record as JSON; well under the keyspace's value bound. */
export const MAX_RECORD_BYTES = 16 * 1024;
/** What a check's status says before its first result: hidden until it passes (as Consul does). */
export const PENDING_OUTPUT = 'no check result yet';

/** An endpoint as replicated in the service's remove-wins set. */
export interface EndpointRecord {
  readonly id: string;
  /** The node (agent peer id) the endpoint runs on, whose agent runs its check. */
  readonly node: string;
  readonly address: string;
  readonly port: number;
  readonly tags: readonly string[];
  readonly meta: Readonly<Record<string, string>>;
  readonly check?: CheckDefinition;
}

/** The endpoint fields of a record (all but its check), copied so that a caller may change them. */
export function endpointFields(r: EndpointRecord): {
  id: string;
  node: string;
  address: string;
  port: number;
  tags: string[];
  meta: Record<string, string>;
} {
  return { id: r.id, node: r.node, address: r.address, port: r.port, tags: [...r.tags], meta: { ...r.meta } };
}

/** A check status as replicated in `_sys/checks/<name>`. */
export interface CheckState {
  readonly status: CheckStatus;
  readonly output: string;
  readonly node: string;
  readonly updatedAt: number;
}

const SEP = '\u0000';

/** A record read back from the set: the parsed record and the exact JSON element to remove. */
export interface StoredRecord {
  readonly record: EndpointRecord;
  readonly raw: Json;
}

/** The valid records of a service. */
export function storedRecords(host: KeyspaceHost, name: string): StoredRecord[] {
  const value = host.read('rw-set', SERVICES_PREFIX + name)?.value;
  if (!Array.isArray(value)) return [];
  const out: StoredRecord[] = [];
  for (const raw of value) {
    const record = parseRecord(raw);
    if (record) out.push({ record, raw });
  }
  return out;
}

/** The valid check statuses of a service, by endpoint id. */
export function checkStatuses(host: KeyspaceHost, name: string): Map<string, CheckState> {
  const value = host.read('or-map', CHECKS_PREFIX + name)?.value;
  const out = new Map<string, CheckState>();
  if (!isRecord(value)) return out;
  for (const [id, v] of Object.entries(value)) {
    if (!isRecord(v)) continue;
    const { status, output, node, updatedAt } = v;
    if (
      isCheckStatus(status) &&
      typeof output === 'string' &&
      typeof node === 'string' &&
      typeof updatedAt === 'number'
    )
      out.set(id, { status, output, node, updatedAt });
  }
  return out;
}

export function hasStatusField(host: KeyspaceHost, name: string, id: string): boolean {
  const value = host.read('or-map', CHECKS_PREFIX + name)?.value;
  return isRecord(value) && Object.hasOwn(value, id);
}

export function statusOp(name: string, id: string, state: CheckState): unknown {
  return {
    type: 'or-map',
    key: CHECKS_PREFIX + name,
    op: { kind: 'update', field: id, type: 'lww-register', op: { kind: 'set', value: state } },
  };
}

export function removeStatusOp(name: string, id: string): unknown {
  return {
    type: 'or-map',
    key: CHECKS_PREFIX + name,
    op: { kind: 'remove', field: id, type: 'lww-register' },
  };
}

/** The key of a check on this agent: its service and endpoint id. */
export function checkId(name: string, id: string): string {
  return name + SEP + id;
}

export function splitCheckId(id: string): [string, string] {
  const i = id.indexOf(SEP);
  return [id.slice(0, i), id.slice(i + 1)];
}

/** Whether check `id` (checkId) belongs to service `name`. */
export function isCheckOf(id: string, name: string): boolean {
  return id.startsWith(name + SEP);
}

/** The service a `_sys/services/` or `_sys/checks/` key is about, if it names one. */
export function serviceOfKey(key: string): string | undefined {
  for (const prefix of [SERVICES_PREFIX, CHECKS_PREFIX]) {
    if (key.startsWith(prefix)) {
      const name = key.slice(prefix.length);
      return isSafeName(name) ? name : undefined;
    }
  }
  return undefined;
}

/** Validates a record read from the set; undefined when it is not one this build understands. */
export function parseRecord(raw: unknown): EndpointRecord | undefined {
  if (!isRecord(raw)) return undefined;
  try {
    const { id, node, address, port, tags, meta, check } = raw;
    if (typeof node !== 'string' || node.length === 0 || node.length > 256) return undefined;
    return {
      id: checkEndpointId(id),
      node,
      address: checkAddress(address),
      port: checkPort(port),
      tags: checkTags(tags),
      meta: checkMeta(meta),
      ...(check === undefined ? {} : { check: parseCheckDefinition(check) }),
    };
  } catch {
    return undefined;
  }
}
