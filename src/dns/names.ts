/**
 * The names the DNS interface answers, after Consul's DNS interface: what a query name asks
 * for, and the `.addr.` names that SRV records point at. Pure: no I/O.
 *
 *   NAME.service.smac            endpoints of service NAME (passing, on live nodes)
 *   NAME.service.REGION.smac     the same, in one region
 *   TAG.NAME.service[.REGION].smac   only endpoints carrying TAG (when NAME.TAG is no service)
 *   _NAME._tcp.service[.REGION].smac the RFC 2782 form of the above
 *   ID.node.smac                 a member (its peer id), from the addresses it advertises
 *   HEX.addr.smac                an IP address written in hex (SRV targets point here)
 *
 * Service names may hold dots, so the service part is "everything before `.service`". DNS
 * compares names without regard to case; the lookup (resolver.ts) does too.
 */
import { isIPv4, isIPv6 } from 'node:net';

/** The zone the listener is authoritative for. */
export const DNS_DOMAIN = 'smac';

export type ParsedName =
  | { readonly kind: 'apex' }
  | {
      readonly kind: 'service';
      readonly name: string;
      readonly region: string | undefined;
      /** The first label, when it may be a tag filter rather than part of the name. */
      readonly tagged: { readonly tag: string; readonly name: string } | undefined;
    }
  | { readonly kind: 'node'; readonly id: string }
  | { readonly kind: 'addr'; readonly ip: string }
  /** Inside the zone, but no name the interface knows: NXDOMAIN. */
  | { readonly kind: 'unknown' }
  /** Outside the zone: not ours to answer (REFUSED). */
  | { readonly kind: 'outside' };

/** What a query name asks for. `qname` as decoded (no trailing dot; any case). */
export function parseName(qname: string): ParsedName {
  const labels = qname
    .replace(/\.$/, '')
    .split('.')
    .filter((l) => l.length > 0);
  const last = labels[labels.length - 1];
  if (last?.toLowerCase() !== DNS_DOMAIN) return { kind: 'outside' };
  const rest = labels.slice(0, -1);
  if (rest.length === 0) return { kind: 'apex' };
  const lower = rest.map((l) => l.toLowerCase());
  const n = rest.length;
  if (lower[n - 1] === 'node' && n === 2) return { kind: 'node', id: rest[0] ?? '' };
  if (lower[n - 1] === 'addr' && n === 2) {
    const ip = decodeAddr(rest[0] ?? '');
    return ip === undefined ? { kind: 'unknown' } : { kind: 'addr', ip };
  }
  let region: string | undefined;
  let head: string[];
  if (lower[n - 1] === 'service') head = rest.slice(0, -1);
  else if (n >= 3 && lower[n - 2] === 'service') {
    region = rest[n - 1];
    head = rest.slice(0, -2);
  } else return { kind: 'unknown' };
  if (head.length === 0) return { kind: 'unknown' };
  // RFC 2782: _service._proto.service.smac (the protocol is not recorded; any is accepted).
  if (head.length === 2 && head[0]?.startsWith('_') === true && head[1]?.startsWith('_') === true) {
    const name = head[0].slice(1);
    return name.length === 0 ? { kind: 'unknown' } : { kind: 'service', name, region, tagged: undefined };
  }
  const tagged = head.length >= 2 ? { tag: head[0] ?? '', name: head.slice(1).join('.') } : undefined;
  return { kind: 'service', name: head.join('.'), region, tagged };
}

/**
 * The `.addr.` label of an IP address: 8 hex digits for IPv4, 32 for IPv6 (as Consul writes
 * them). Undefined for anything that is not a plain IP address.
 */
export function encodeAddr(ip: string): string | undefined {
  if (isIPv4(ip)) {
    return ip
      .split('.')
      .map((o) => Number(o).toString(16).padStart(2, '0'))
      .join('');
  }
  if (isIPv6(ip) && !ip.includes('%')) return expandIPv6(ip)?.join('');
  return undefined;
}

/** The IP address an `.addr.` label stands for, or undefined when it is no such label. */
export function decodeAddr(label: string): string | undefined {
  if (!/^[0-9a-fA-F]+$/.test(label)) return undefined;
  const hex = label.toLowerCase();
  if (hex.length === 8) {
    return [0, 2, 4, 6].map((i) => String(parseInt(hex.slice(i, i + 2), 16))).join('.');
  }
  if (hex.length === 32) {
    const groups = [];
    for (let i = 0; i < 32; i += 4) groups.push(hex.slice(i, i + 4).replace(/^0+(?=.)/, ''));
    return groups.join(':');
  }
  return undefined;
}

/** An IPv6 address as eight 4-digit hex groups (IPv4-mapped tails included). */
function expandIPv6(ip: string): string[] | undefined {
  let text = ip.toLowerCase();
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4 !== null) {
    const hex = encodeAddr(v4[1] ?? '');
    if (hex === undefined) return undefined;
    text = text.slice(0, v4.index) + `${hex.slice(0, 4)}:${hex.slice(4)}`;
  }
  const [left, right] = text.split('::') as [string, string | undefined];
  const head = left === '' ? [] : left.split(':');
  const tail = right === undefined || right === '' ? [] : right.split(':');
  const fill = right === undefined ? 0 : 8 - head.length - tail.length;
  const groups = [...head, ...Array<string>(fill).fill('0'), ...tail];
  return groups.length === 8 ? groups.map((g) => g.padStart(4, '0')) : undefined;
}

/**
 * The IP address an endpoint or member address stands for: brackets stripped, IPv6 zones
 * refused (they mean nothing to another host). Undefined for host names.
 */
export function plainIp(address: string): { ip: string; family: 4 | 6 } | undefined {
  const a = address.startsWith('[') && address.endsWith(']') ? address.slice(1, -1) : address;
  if (isIPv4(a)) return { ip: a, family: 4 };
  if (isIPv6(a) && !a.includes('%')) return { ip: a, family: 6 };
  return undefined;
}

/** The IP addresses in a member's advertised multiaddrs (/ip4/…, /ip6/…), without duplicates. */
export function multiaddrIps(addrs: readonly string[]): { ip: string; family: 4 | 6 }[] {
  const out = new Map<string, { ip: string; family: 4 | 6 }>();
  for (const a of addrs) {
    const [, proto, host] = a.split('/');
    if ((proto !== 'ip4' && proto !== 'ip6') || host === undefined) continue;
    const ip = plainIp(host);
    if (ip?.family === (proto === 'ip4' ? 4 : 6)) out.set(ip.ip, ip);
  }
  return [...out.values()];
}

/** Whether `name` can be written on the wire: at most 253 characters, labels of 1 to 63. */
export function isDnsName(name: string): boolean {
  const n = name.replace(/\.$/, '');
  return n.length > 0 && n.length <= 253 && n.split('.').every((l) => l.length > 0 && l.length <= 63);
}
