/**
 * Agent configuration: every field with its default and the trade-off behind it (after
 * memberlist's DefaultLANConfig), and validation that answers with sentences an operator can act
 * on. Sources (flags, SMAC_* environment, config file) are merged by the CLI; this module only
 * knows the resolved shape.
 */
import { isAbsolute, resolve } from 'node:path';
import { DEFAULT_DNS_ADDRESS, formatDnsAddress, parseDnsAddress } from '../dns/listen-address.js';
import { DEFAULT_CONSUL_ADDR } from '../consul/addr.js';
import {
  consulAddr,
  optionalGroup,
  optionalPath,
  parseMode,
  parseNumbers,
  parseTags,
  divergedPeers,
} from './config-fields.js';
import { isLoopbackMultiaddr } from './loopback.js';

export { isLoopbackHost, isLoopbackMultiaddr } from './loopback.js';

export interface AgentConfig {
  /** Where the store, identity key and socket live. Created with mode 0700. */
  readonly dataDir: string;
  /** libp2p listen multiaddrs. Loopback by default: expose an agent deliberately, with a cluster key. */
  readonly listen: readonly string[];
  /** Peers to join (other regions, or a LAN without multicast). Retried with backoff for as long as the agent runs. */
  readonly join: readonly string[];
  /** Region label, carried in heartbeats and member records. */
  readonly region: string;
  /** Pre-shared cluster key file (`smac keygen`). Without one, any libp2p node that can reach the port may join. */
  readonly clusterKeyFile: string | undefined;
  /**
   * Allow a listen address that is not loopback without a cluster key: any libp2p node that
   * reaches it may join and write. Off by default (the agent refuses to start); on, it warns.
   */
  readonly openCluster: boolean;
  /** Find peers by mDNS on the LAN. Off by default: it multicasts on every interface. */
  readonly mdns: boolean;
  /** Disseminate events by gossipsub (the fast path). Off leaves anti-entropy alone: slower, still convergent. */
  readonly gossip: boolean;
  /** Anti-entropy with one random peer this often. Shorter repairs faster and costs a round trip per peer. */
  readonly syncIntervalMs: number;
  /** Heartbeats (clock, region) this often; they drive causal stability and thus compaction. */
  readonly heartbeatIntervalMs: number;
  /**
   * Anti-entropy pulls running at once, each from a different peer. More repairs faster after a
   * partition and keeps one slow or hostile peer from holding repair up; each pull costs a
   * stream and the verification of what it brings.
   */
  readonly maxConcurrentPulls: number;
  /**
   * A pull whose peer sends nothing for this long is abandoned (counted as `syncsStalled`) and
   * another peer is tried. Shorter gives up on a silent peer sooner; too short abandons a peer
   * across a slow WAN link that is busy reading its log.
   */
  readonly syncStallMs: number;
  /** Longest one pull (or push) may last, however steadily the peer trickles frames. */
  readonly syncTimeoutMs: number;
  /**
   * An event waiting in the causal buffer longer than this is evicted (counted) and repair is
   * asked for: a gap nobody fills cannot pin the buffer. Sync brings evicted events in order.
   */
  readonly bufferMaxAgeMs: number;
  /**
   * An event more than this many seqs ahead of what was delivered (its own, or a dependency's) is
   * refused and counted instead of buffered: only sync can bridge such a gap.
   */
  readonly bufferMaxSeqAhead: number;
  /** Snapshot and compact once the log grew by this many events. Smaller bounds the log tighter, costs more snapshots. */
  readonly snapshotEveryEvents: number;
  /**
   * A member silent and not alive for this long is reaped: compaction stops waiting for it.
   * Silence counts from the later of its last heartbeat and this agent's own (re)start.
   * Until then a down member pins the log (status shows it). 72 h by default, Consul's and
   * Serf's reconnect_timeout: long enough to ride out a weekend outage of a region, short
   * enough that the log of a busy cluster stays in the gigabytes, not more. Shorter frees the
   * log sooner; a member reaped and then back may see its concurrent writes ordered after
   * compacted state (docs/agent.md, "Reaping").
   */
  readonly reapAfterMs: number;
  /**
   * Past this many events in the log, the longest-silent member that is not alive is reaped
   * early (an error log line and the `reaps` counter) so that the disk does not fill up.
   */
  readonly maxLogEvents: number;
  /**
   * How long after a member's reap was agreed this agent still keeps the client batches of its
   * own writes that the reaped member may lack (table own_ops), for a re-run should that member
   * come back on a side that wins a mutual reap against ours (docs/agent.md "Both sides of a
   * long split reap each other"). 7 days by default: past reapAfterMs (72 h) that is a split of
   * 10 days, both sides writing; without a bound the table would grow with every client write
   * after any member died for good, until an operator forgets it (`smac members forget`).
   * Past it the batches are pruned at the next compaction, with a warning per member.
   */
  readonly keepOwnOpsMs: number;
  /** SQLite durability: 'normal' survives kill -9 of the agent; 'full' also survives power loss, at ~1.5x write cost. */
  readonly storeSync: 'normal' | 'full';
  /**
   * A peer whose history diverged from ours for good (each folded into its snapshot events the
   * other lacks, no member knows both: docs/agent.md "Divergence"): 'merge' joins its state into
   * ours when it merges too (older releases and 'refuse' do not: then both refuse); 'refuse'
   * refuses it as a member of another cluster.
   */
  readonly divergedPeers: 'merge' | 'refuse';
  /** If non-empty, only these peer ids may connect. */
  readonly allowPeers: readonly string[];
  /** A remote clock further ahead than this does not drag ours along (it is clamped and counted). */
  readonly maxDriftMs: number;
  /** pino level: fatal, error, warn, info, debug, trace, silent. */
  readonly logLevel: string;
  /** Failure-detector defaults (docs/membership.md): 'lan' detects in seconds; 'wan' is slower and more patient across regions. */
  readonly membershipProfile: 'lan' | 'wan';
  /** REST API Unix socket. Default `<dataDir>/smac.sock`; "" disables it. */
  readonly apiSocket: string | undefined;
  /** File mode of the socket, set before it accepts a connection. 0660: the agent's user and group. */
  readonly apiSocketMode: number;
  /** Group (name or gid) given the socket, so that the application containers of that group can use it. */
  readonly apiSocketGroup: string | undefined;
  /**
   * Whether the REST API also listens on TCP. Off by default (the socket is the interface);
   * giving apiHost or apiPort turns it on. TCP always requires a bearer token, loopback included.
   */
  readonly apiTcp: boolean;
  /** REST API TCP host; loopback by default. */
  readonly apiHost: string;
  /** REST API TCP port (0 picks a free one). */
  readonly apiPort: number;
  /**
   * File holding the TCP API bearer token (first line; mode 0600 or stricter). Without one,
   * the agent generates `<dataDir>/api.token` on first start and reuses it.
   */
  readonly apiTokenFile: string | undefined;
  /**
   * Host names (besides localhost, IP literals and apiHost) a TCP request's Host header may
   * name; anything else is refused, against DNS rebinding.
   */
  readonly apiAllowedHosts: readonly string[];
  /** Whether to serve the Consul-compatible HTTP subset (docs/consul.md); giving consulAddr turns it on. */
  readonly consul: boolean;
  /** `host:port` of that listener. Off loopback it requires the API token, as the TCP API does. */
  readonly consulAddr: string;
  /**
   * Whether the agent serves the web dashboard at /ui (docs/ui.md). Off by default. A browser
   * reaches it on the TCP listener only (apiTcp), after a login through `smac ui`.
   */
  readonly ui: boolean;
  /**
   * Overrides of the failure-detector profile's fields (docs/membership.md), e.g.
   * {"probeIntervalMs": 500}. Validated when the agent starts.
   */
  readonly membership: Readonly<Record<string, number>>;
  /** Free-form labels of this member (e.g. {"rack": "r1"}), shown in the member list. */
  readonly tags: Readonly<Record<string, string>>;
  /** Serve DNS (docs/dns.md). Off by default; giving dnsAddress turns it on. */
  readonly dns: boolean;
  /** DNS listen address, host:port, UDP and TCP. 127.0.0.1:8600 (Consul's port) by default. */
  readonly dnsAddress: string;
  /**
   * TTL of DNS answers and of negative answers. Short, since endpoints come and go with checks
   * and node deaths: longer spares the agent queries, and keeps a dead endpoint in caches longer.
   */
  readonly dnsTtlSeconds: number;
}

export const DEFAULT_AGENT_CONFIG: AgentConfig = Object.freeze({
  dataDir: resolve('.smac-data'),
  listen: ['/ip4/127.0.0.1/tcp/7946'],
  join: [],
  region: 'default',
  clusterKeyFile: undefined,
  openCluster: false,
  mdns: false,
  gossip: true,
  syncIntervalMs: 5_000,
  heartbeatIntervalMs: 1_000,
  maxConcurrentPulls: 3,
  syncStallMs: 5_000,
  syncTimeoutMs: 120_000,
  bufferMaxAgeMs: 30_000,
  bufferMaxSeqAhead: 100_000,
  snapshotEveryEvents: 50_000,
  reapAfterMs: 72 * 3_600_000,
  maxLogEvents: 10_000_000,
  keepOwnOpsMs: 7 * 86_400_000,
  storeSync: 'normal',
  divergedPeers: 'merge',
  allowPeers: [],
  maxDriftMs: 60_000,
  logLevel: 'info',
  membershipProfile: 'lan',
  apiSocket: undefined,
  apiSocketMode: 0o660,
  apiSocketGroup: undefined,
  apiTcp: false,
  apiHost: '127.0.0.1',
  apiPort: 7947,
  apiTokenFile: undefined,
  apiAllowedHosts: [],
  consul: false,
  consulAddr: DEFAULT_CONSUL_ADDR,
  ui: false,
  membership: {},
  tags: {},
  dns: false,
  dnsAddress: DEFAULT_DNS_ADDRESS,
  dnsTtlSeconds: 5,
});

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  readonly code = 'INVALID_CONFIG';
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

/** Fills defaults and validates. Throws ConfigError naming the field and what would be valid. */
export function resolveAgentConfig(input: Partial<Record<keyof AgentConfig, unknown>>): AgentConfig {
  const d = DEFAULT_AGENT_CONFIG;
  const problems: string[] = [];
  const str = (k: keyof AgentConfig, fallback: string): string => {
    const v = input[k] ?? fallback;
    if (typeof v !== 'string' || v.length === 0) {
      problems.push(`${k} must be a non-empty string`);
      return fallback;
    }
    return v;
  };
  const list = (k: keyof AgentConfig, fallback: readonly string[]): string[] => {
    const v = input[k] ?? fallback;
    const arr =
      typeof v === 'string'
        ? v
            .split(',')
            .map((s) => s.trim())
            .filter((s) => s.length > 0)
        : v;
    if (!Array.isArray(arr) || !arr.every((x) => typeof x === 'string' && x.length > 0)) {
      problems.push(`${k} must be a list of non-empty strings`);
      return [...fallback];
    }
    return arr as string[];
  };
  const int = (k: keyof AgentConfig, fallback: number, min: number, max: number): number => {
    const raw = input[k] ?? fallback;
    const v = typeof raw === 'string' && /^\d+$/.test(raw) ? Number(raw) : raw;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
      problems.push(`${k} must be an integer from ${min} to ${max} (got ${JSON.stringify(raw)})`);
      return fallback;
    }
    return v;
  };
  const bool = (k: keyof AgentConfig, fallback: boolean): boolean => {
    const raw = input[k] ?? fallback;
    if (raw === 'true' || raw === '1') return true;
    if (raw === 'false' || raw === '0') return false;
    if (typeof raw !== 'boolean') {
      problems.push(`${k} must be true or false (got ${JSON.stringify(raw)})`);
      return fallback;
    }
    return raw;
  };
  const dataDir = str('dataDir', d.dataDir);
  const listen = list('listen', d.listen);
  const join = list('join', d.join);
  for (const a of [...listen, ...join]) {
    if (!a.startsWith('/'))
      problems.push(`${JSON.stringify(a)} is not a multiaddr; write it like /ip4/10.0.0.1/tcp/7946`);
  }
  const keyFile = input.clusterKeyFile;
  if (keyFile !== undefined && (typeof keyFile !== 'string' || keyFile.length === 0)) {
    problems.push('clusterKeyFile must be a path to a key made by `smac keygen`');
  }
  const storeSync = input.storeSync ?? d.storeSync;
  if (storeSync !== 'normal' && storeSync !== 'full')
    problems.push(`storeSync must be "normal" or "full" (got ${JSON.stringify(storeSync)})`);
  const logLevel = str('logLevel', d.logLevel);
  if (!LOG_LEVELS.includes(logLevel)) problems.push(`logLevel must be one of ${LOG_LEVELS.join(', ')}`);
  const profile = input.membershipProfile ?? d.membershipProfile;
  if (profile !== 'lan' && profile !== 'wan')
    problems.push(`membershipProfile must be "lan" or "wan" (got ${JSON.stringify(profile)})`);
  const tags = parseTags(input.tags ?? d.tags, problems);
  const clusterKeyFile = typeof keyFile === 'string' && keyFile.length > 0 ? resolve(keyFile) : undefined;
  const openCluster = bool('openCluster', d.openCluster);
  if (clusterKeyFile === undefined && !openCluster) {
    for (const a of listen.filter((l) => l.startsWith('/') && !isLoopbackMultiaddr(l))) {
      problems.push(
        `listen ${a} is not a loopback address and there is no cluster key, so any libp2p node that ` +
          'reaches it could join the cluster and write to it: give a key (--cluster-key, made by ' +
          '`smac keygen`), or --open-cluster if the cluster is meant to be open',
      );
    }
  }
  const apiHost = input.apiHost === '' ? '' : str('apiHost', d.apiHost);
  // Naming a host or port asks for TCP; "" as the host (the old way to turn TCP off) keeps it off.
  const apiTcpImplied = (input.apiHost !== undefined && input.apiHost !== '') || input.apiPort !== undefined;
  const apiTcp = apiHost !== '' && (input.apiTcp === undefined ? apiTcpImplied : bool('apiTcp', d.apiTcp));
  const dnsAddress = input.dnsAddress ?? d.dnsAddress;
  const dnsParsed = parseDnsAddress(dnsAddress);
  if (typeof dnsParsed === 'string') problems.push(dnsParsed);
  const config: AgentConfig = {
    dataDir: isAbsolute(dataDir) ? dataDir : resolve(dataDir),
    listen,
    join,
    region: str('region', d.region),
    clusterKeyFile,
    openCluster,
    mdns: bool('mdns', d.mdns),
    gossip: bool('gossip', d.gossip),
    syncIntervalMs: int('syncIntervalMs', d.syncIntervalMs, 10, 3_600_000),
    heartbeatIntervalMs: int('heartbeatIntervalMs', d.heartbeatIntervalMs, 10, 600_000),
    maxConcurrentPulls: int('maxConcurrentPulls', d.maxConcurrentPulls, 1, 32),
    syncStallMs: int('syncStallMs', d.syncStallMs, 100, 600_000),
    syncTimeoutMs: int('syncTimeoutMs', d.syncTimeoutMs, 1_000, 3_600_000),
    bufferMaxAgeMs: int('bufferMaxAgeMs', d.bufferMaxAgeMs, 100, 86_400_000),
    bufferMaxSeqAhead: int('bufferMaxSeqAhead', d.bufferMaxSeqAhead, 1, 1_000_000_000),
    snapshotEveryEvents: int('snapshotEveryEvents', d.snapshotEveryEvents, 1, 100_000_000),
    reapAfterMs: int('reapAfterMs', d.reapAfterMs, 1_000, 365 * 86_400_000),
    maxLogEvents: int('maxLogEvents', d.maxLogEvents, 100, 1_000_000_000),
    keepOwnOpsMs: int('keepOwnOpsMs', d.keepOwnOpsMs, 1_000, 3_650 * 86_400_000),
    storeSync: storeSync === 'full' ? 'full' : 'normal',
    divergedPeers: divergedPeers(input.divergedPeers ?? d.divergedPeers, problems),
    allowPeers: list('allowPeers', d.allowPeers),
    maxDriftMs: int('maxDriftMs', d.maxDriftMs, 0, 86_400_000),
    logLevel,
    membershipProfile: profile === 'wan' ? 'wan' : 'lan',
    apiSocket: optionalPath(input.apiSocket, 'apiSocket', problems),
    apiSocketMode: parseMode(input.apiSocketMode ?? d.apiSocketMode, d.apiSocketMode, problems),
    apiSocketGroup: optionalGroup(input.apiSocketGroup, problems),
    apiTcp,
    apiHost: apiHost === '' ? d.apiHost : apiHost,
    apiPort: int('apiPort', d.apiPort, 0, 65_535),
    apiTokenFile: optionalPath(input.apiTokenFile, 'apiTokenFile', problems),
    apiAllowedHosts: list('apiAllowedHosts', d.apiAllowedHosts).map((h) => h.toLowerCase()),
    // Naming an address asks for the listener, as naming apiHost asks for TCP.
    consul: input.consul === undefined ? input.consulAddr !== undefined : bool('consul', d.consul),
    consulAddr: consulAddr(input.consulAddr ?? d.consulAddr, problems),
    ui: bool('ui', d.ui),
    membership: parseNumbers(input.membership ?? d.membership, 'membership', problems),
    tags,
    dns: input.dns === undefined ? input.dnsAddress !== undefined : bool('dns', d.dns),
    dnsAddress: typeof dnsParsed === 'string' ? d.dnsAddress : formatDnsAddress(dnsParsed),
    dnsTtlSeconds: int('dnsTtlSeconds', d.dnsTtlSeconds, 0, 86_400),
  };
  if (config.ui && !config.apiTcp) {
    problems.push('ui needs the TCP API (--api-tcp): a browser cannot reach the Unix socket');
  }
  for (const k of Object.keys(input)) {
    if (!(k in d)) problems.push(`unknown setting ${JSON.stringify(k)}`);
  }
  if (problems.length > 0) throw new ConfigError(`Invalid agent configuration: ${problems.join('; ')}.`);
  return config;
}
