/**
 * A ConsulSource the test drives: members with statuses and regions, endpoints per service,
 * objects, and a change feed it fires by hand (as the agent fires its after each event).
 */
import type { ObjectView } from '../../src/core/keyspace.js';
import type { ConsulMember, ConsulSource, ConsulTouched } from '../../src/consul/source.js';
import type { EndpointView } from '../../src/services/discovery.js';

export class FakeSource implements ConsulSource {
  readonly peerId = 'node-a';
  readonly region = 'eu';
  memberList: ConsulMember[] = [
    member('node-a', 'eu', '10.0.0.1'),
    member('node-b', 'eu', '10.0.0.2'),
    member('node-c', 'us', '10.0.0.3'),
  ];
  readonly services = new Map<string, EndpointView[]>();
  objects: ObjectView[] = [];
  private readonly listeners = new Set<(n: { objects: readonly ConsulTouched[] }) => void>();

  members(): readonly ConsulMember[] {
    return this.memberList;
  }

  serviceNames(): readonly string[] {
    return [...this.services.keys()];
  }

  endpoints(name: string): readonly EndpointView[] {
    return (this.services.get(name) ?? []).map((e) => {
      const m = this.memberList.find((x) => x.id === e.node);
      const alive = e.node === this.peerId || m?.status === 'alive' || m?.status === 'suspect';
      return { ...e, nodeStatus: alive ? 'alive' : 'dead', region: m?.region ?? null };
    });
  }

  list(prefix: string): readonly ObjectView[] {
    return this.objects
      .filter((o) => o.key.startsWith(prefix))
      .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : a.type < b.type ? -1 : 1));
  }

  onChange(fn: (n: { objects: readonly ConsulTouched[] }) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  get listening(): number {
    return this.listeners.size;
  }

  /** Registers (or replaces) an endpoint and fires the feed as the agent would. */
  register(service: string, e: Partial<EndpointView> & { id: string; node: string }): void {
    const list = (this.services.get(service) ?? []).filter((x) => x.id !== e.id);
    list.push({
      service,
      address: '10.1.0.1',
      port: 8080,
      tags: [],
      meta: {},
      region: null,
      nodeStatus: 'alive',
      check: null,
      healthy: true,
      ...e,
    });
    this.services.set(service, list);
    this.fire([{ type: 'rw-set', key: `_sys/services/${service}` }]);
  }

  deregister(service: string, id: string): void {
    this.services.set(
      service,
      (this.services.get(service) ?? []).filter((x) => x.id !== id),
    );
    this.fire([{ type: 'rw-set', key: `_sys/services/${service}` }]);
  }

  setStatus(id: string, status: string): void {
    this.memberList = this.memberList.map((m) => (m.id === id ? { ...m, status } : m));
  }

  put(o: ObjectView): void {
    this.objects = this.objects.filter((x) => !(x.key === o.key && x.type === o.type));
    this.objects.push(o);
    this.fire([{ type: o.type, key: o.key }]);
  }

  fire(objects: ConsulTouched[]): void {
    for (const fn of [...this.listeners]) fn({ objects });
  }
}

export function member(id: string, region: string, ip: string, status = 'alive'): ConsulMember {
  return {
    id,
    status,
    incarnation: 0,
    region,
    meta: { region, tags: { rack: `r-${id}` }, addrs: [`/ip4/${ip}/tcp/7946/p2p/${id}`] },
  };
}
