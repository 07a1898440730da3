/** Whether an address reaches this machine only: the agent's listeners are safe there without a key. */
import { isIPv4, isIPv6 } from 'node:net';

/** Whether a libp2p multiaddr listens on loopback only: /ip4/127.x, /ip6/::1 or /dns4/localhost. */
export function isLoopbackMultiaddr(addr: string): boolean {
  const [, proto, host] = addr.split('/');
  if (proto === 'ip4' || proto === 'ip6') return host !== undefined && isLoopbackHost(host);
  return (proto === 'dns' || proto === 'dns4' || proto === 'dns6') && host === 'localhost';
}

export function isLoopbackHost(host: string): boolean {
  if (host === 'localhost') return true;
  if (isIPv4(host)) return host.startsWith('127.');
  if (isIPv6(host)) {
    const h = host.toLowerCase();
    return h === '::1' || h === '0:0:0:0:0:0:0:1' || h.startsWith('::ffff:127.');
  }
  return false;
}
