/** `--consul-addr`: where the Consul-compatible listener listens (no imports: config.ts uses it). */
export const DEFAULT_CONSUL_ADDR = '127.0.0.1:8500';

/** Parses `host:port` (`[v6]:port`); undefined when it is not one. */
export function parseConsulAddr(s: string): { host: string; port: number } | undefined {
  const m = /^\[([0-9a-fA-F:.]+)\]:(\d{1,5})$/.exec(s) ?? /^([^:[\]\s]+):(\d{1,5})$/.exec(s);
  const port = Number(m?.[2]);
  if (!m?.[1] || !Number.isInteger(port) || port > 65_535) return undefined;
  return { host: m[1], port };
}
