/**
 * The DNS listener's counters (server.ts, `DnsCounters`) as Prometheus counters on the agent's
 * /metrics (docs/dns.md "Metrics"). They are read at scrape time from the running listener,
 * so a registry built before the listener started (run.ts starts the API first) shows them
 * from its first scrape on, all at 0 until DNS traffic comes.
 */
import { Counter, type Registry } from 'prom-client';
import type { MetricSource } from '../api/metrics.js';
import type { Rcode } from './resolver.js';
import type { DnsCounters } from './server.js';

/** Every rcode the listener answers with, so that each series exists (at 0) before its first use. */
const RCODES: readonly Rcode[] = ['NOERROR', 'NXDOMAIN', 'FORMERR', 'SERVFAIL', 'NOTIMP', 'REFUSED'];

/** A counter whose value is `read()` at each scrape (the listener keeps the count itself). */
function mirrored(registry: Registry, name: string, help: string, read: () => number | undefined): void {
  new Counter({
    name,
    help,
    registers: [registry],
    collect(this: Counter) {
      this.reset();
      this.inc(read() ?? 0);
    },
  });
}

/** The DNS counters of the listener `counters()` returns (undefined: not started yet, all 0). */
export function dnsMetricSource(counters: () => DnsCounters | undefined): MetricSource {
  return {
    register(registry) {
      new Counter({
        name: 'smac_dns_queries_total',
        help: 'DNS packets received, by transport (malformed ones included).',
        labelNames: ['transport'],
        registers: [registry],
        collect(this: Counter<'transport'>) {
          const c = counters();
          this.reset();
          this.inc({ transport: 'udp' }, c?.queriesUdp ?? 0);
          this.inc({ transport: 'tcp' }, c?.queriesTcp ?? 0);
        },
      });
      new Counter({
        name: 'smac_dns_responses_total',
        help: 'DNS responses sent, by rcode.',
        labelNames: ['rcode'],
        registers: [registry],
        collect(this: Counter<'rcode'>) {
          const rcodes = counters()?.rcodes ?? {};
          this.reset();
          for (const rcode of new Set([...RCODES, ...Object.keys(rcodes)]))
            this.inc({ rcode }, rcodes[rcode] ?? 0);
        },
      });
      mirrored(
        registry,
        'smac_dns_malformed_packets_total',
        'DNS packets that did not decode, or were no query (answered FORMERR, or dropped).',
        () => counters()?.malformed,
      );
      mirrored(
        registry,
        'smac_dns_truncated_total',
        "UDP answers cut to the client's size, with TC set (the client retries over TCP).",
        () => counters()?.truncated,
      );
      mirrored(
        registry,
        'smac_dns_tcp_refused_total',
        'DNS TCP connections closed at once because the most allowed were open.',
        () => counters()?.tcpRefused,
      );
    },
  };
}
