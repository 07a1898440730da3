/**
 * The DNS listener's address, written `host:port` (`[v6]:port` for IPv6), as an operator gives
 * it in --dns-address or the config file's `dnsAddress`. 8600 is Consul's DNS port, so tools
 * configured for a Consul agent's DNS need no change.
 */
import { isIPv4, isIPv6 } from 'node:net';

export const DEFAULT_DNS_ADDRESS = '127.0.0.1:8600';

export interface DnsListenAddress {
  readonly host: string;
  /** 0 picks a free port (tests); the listener reports the one it got. */
  readonly port: number;
}

/** The host and port of `text`, or a sentence saying what is wrong with it. */
export function parseDnsAddress(text: unknown): DnsListenAddress | string {
  const bad = `dnsAddress must be host:port with an IP address, e.g. ${DEFAULT_DNS_ADDRESS} or [::1]:8600 (got ${JSON.stringify(text)})`;
  if (typeof text !== 'string') return bad;
  const m = /^\[([^\]]+)\]:(\d{1,5})$/.exec(text) ?? /^([^:[\]]+):(\d{1,5})$/.exec(text);
  if (m === null) return bad;
  const host = m[1] ?? '';
  const port = Number(m[2]);
  if (port > 65_535) return bad;
  if (!isIPv4(host) && !isIPv6(host) && host !== 'localhost') return bad;
  return { host: host === 'localhost' ? '127.0.0.1' : host, port };
}

/** `host:port` as written back (IPv6 in brackets). */
export function formatDnsAddress(a: DnsListenAddress): string {
  return isIPv6(a.host) ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
}
