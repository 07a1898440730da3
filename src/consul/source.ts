/**
 * What the Consul-compatible listener needs from an agent, and nothing more (as api/agent-port.ts
 * does for the REST API). The real Agent satisfies it through `agentConsulSource` (run.ts);
 * tests pass a fake.
 */
import type { ObjectView } from '../core/keyspace.js';
import { isSafeName } from '../services/bounds.js';
import type { EndpointView } from '../services/discovery.js';

/** A member as the failure detector sees it, with what it announced about itself. */
export interface ConsulMember {
  readonly id: string;
  readonly status: string;
  readonly incarnation: number;
  readonly region: string | undefined;
  /** `{ region, tags, addrs }` as the member announced it; anything else is ignored. */
  readonly meta: unknown;
}

/** A touched object, as the agent's change feed reports it. */
export interface ConsulTouched {
  readonly type: string;
  readonly key: string;
}

export interface ConsulSource {
  /** This agent's peer id (its Consul node name). */
  readonly peerId: string;
  /** This agent's region (its Consul datacenter). */
  readonly region: string;
  /** Members, this agent included. */
  members(): readonly ConsulMember[];
  /** Names of the services that have endpoints. */
  serviceNames(): readonly string[];
  /** Every endpoint of a service, healthy or not, with its node's status and its check. */
  endpoints(name: string): readonly EndpointView[];
  /** Objects whose key starts with `prefix`, ordered by key then type. */
  list(prefix: string): readonly ObjectView[];
  /** Called after every applied event that changed objects; returns an unsubscribe. */
  onChange(fn: (notice: { readonly objects: readonly ConsulTouched[] }) => void): () => void;
}

/** The parts of the Agent the adapter reads (structural, so that run.ts passes the Agent itself). */
export interface ConsulAgentLike {
  readonly peerId: string;
  readonly config: { readonly region: string };
  members(): { readonly members: readonly ConsulMember[] };
  readonly services: {
    services(): readonly { readonly name: string }[];
    healthy(name: string, options: { all?: boolean }): EndpointView[];
  };
  list(prefix?: string): ObjectView[];
  onChange(fn: (notice: { readonly objects: readonly ConsulTouched[] }) => void): () => void;
}

export function agentConsulSource(agent: ConsulAgentLike): ConsulSource {
  return {
    peerId: agent.peerId,
    region: agent.config.region,
    members: () => agent.members().members,
    serviceNames: () => agent.services.services().map((s) => s.name),
    // A name SMAC cannot register has no endpoints (Consul answers [] for an unknown service).
    endpoints: (name) => (isSafeName(name) ? agent.services.healthy(name, { all: true }) : []),
    list: (prefix) => agent.list(prefix),
    onChange: (fn) => agent.onChange(fn),
  };
}
