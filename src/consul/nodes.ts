/**
 * SMAC members as Consul nodes (docs/consul.md, "Mapping"): the node name is the member's peer
 * id, its ID a UUID derived from it (Consul node IDs are UUIDs), its address the first IP of
 * the addresses it announced, its datacenter its region, and its meta its tags plus `region`.
 * A member that left is not a node (Consul deregisters those); a dead one stays, with a
 * critical `serfHealth` check, as Consul keeps a failed node until it is reaped.
 */
import { createHash } from 'node:crypto';
import type { ConsulMember, ConsulSource } from './source.js';

export interface NodeInfo {
  readonly name: string;
  readonly id: string;
  readonly address: string;
  readonly datacenter: string;
  readonly meta: Record<string, string>;
  /** alive or suspect: Consul's serf member status "alive", and a passing serfHealth check. */
  readonly alive: boolean;
  /** The member's SMAC status (alive, suspect, dead), or unknown when no member has this id. */
  readonly status: string;
}

/** A UUID-shaped id derived from the peer id: stable, distinct per member. */
export function nodeUuid(peerId: string): string {
  const h = createHash('sha256').update(peerId).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

/** The first IPv4 or IPv6 address in a list of multiaddrs, if any. */
export function ipOfMultiaddrs(addrs: readonly unknown[]): string | undefined {
  for (const a of addrs) {
    if (typeof a !== 'string') continue;
    const m = /^\/ip[46]\/([^/]+)/.exec(a);
    if (m?.[1] !== undefined) return m[1];
  }
  return undefined;
}

function record(v: unknown): Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
}

export function nodeOfMember(m: ConsulMember, fallbackRegion: string): NodeInfo {
  const meta = record(m.meta);
  const tags: Record<string, string> = {};
  for (const [k, v] of Object.entries(record(meta.tags))) if (typeof v === 'string') tags[k] = v;
  const region =
    m.region ?? (typeof meta.region === 'string' && meta.region !== '' ? meta.region : fallbackRegion);
  return {
    name: m.id,
    id: nodeUuid(m.id),
    address: ipOfMultiaddrs(Array.isArray(meta.addrs) ? meta.addrs : []) ?? '',
    datacenter: region,
    meta: { ...tags, region },
    alive: m.status === 'alive' || m.status === 'suspect',
    status: m.status,
  };
}

/** The members that are Consul nodes (not left), by name, this agent always included. */
export function nodeMap(source: ConsulSource): Map<string, NodeInfo> {
  const out = new Map<string, NodeInfo>();
  for (const m of source.members()) {
    if (m.status === 'left') continue;
    out.set(m.id, nodeOfMember(m, source.region));
  }
  const self = out.get(source.peerId);
  // This agent is alive to itself whatever its detector says; and it is always a node.
  out.set(
    source.peerId,
    self
      ? { ...self, alive: true, datacenter: source.region, meta: { ...self.meta, region: source.region } }
      : nodeOfMember(
          { id: source.peerId, status: 'alive', incarnation: 0, region: source.region, meta: {} },
          source.region,
        ),
  );
  return out;
}

/** A node for an endpoint whose member is unknown here: named by the endpoint, dead. */
export function unknownNode(name: string, address: string, region: string): NodeInfo {
  return {
    name,
    id: nodeUuid(name),
    address,
    datacenter: region,
    meta: { region },
    alive: false,
    status: 'unknown',
  };
}

/** Consul's node JSON (catalog/nodes, and `Node` in health answers). */
export function nodeJson(n: NodeInfo, stamp: { create: number; modify: number }): Record<string, unknown> {
  return {
    ID: n.id,
    Node: n.name,
    Address: n.address,
    Datacenter: n.datacenter,
    TaggedAddresses: { lan: n.address, lan_ipv4: n.address, wan: n.address, wan_ipv4: n.address },
    Meta: n.meta,
    CreateIndex: stamp.create,
    ModifyIndex: stamp.modify,
  };
}

/** serf's member status codes, as /v1/agent/self's `Member.Status` reports them. */
export function serfStatus(status: string): number {
  if (status === 'alive' || status === 'suspect') return 1;
  if (status === 'left') return 3;
  if (status === 'dead') return 4;
  return 0;
}
