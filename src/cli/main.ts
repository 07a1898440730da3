#!/usr/bin/env node
/**
 * The `smac` command. `smac agent` runs an agent; `smac keygen` writes a cluster key; the
 * other commands talk to the local agent (client-commands.ts). Settings come from flags, then
 * SMAC_* environment variables, then a config file (see config-sources.ts); bad values are
 * reported with what would be valid. Exit codes (docs/cli.md): 0 done, 1 the operation failed,
 * 2 bad usage or configuration, 3 the agent could not be reached.
 */
import { readFileSync } from 'node:fs';
import { Command, CommanderError, Option } from 'commander';
import { addClientCommands, CliError, EXIT, UsageError } from './client-commands.js';
import { cliErrorOf } from './cli-support.js';
import { addHealthCommand } from './health-command.js';
import { addTemplateCommand } from './template-command.js';
import { SmacApiError } from '../client/client.js';
import { ConfigError } from '../agent/config.js';
import { loadAgentConfig } from './config-sources.js';

/** The package's version (package.json, two levels above dist/cli/). */
function version(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
      version?: unknown;
    };
    return typeof pkg.version === 'string' ? pkg.version : 'unknown';
  } catch {
    return 'unknown';
  }
}

const EXIT_CODES_HELP = `
Exit codes:
  0  done
  1  the agent refused or failed the operation (no such object, bad op, type conflict)
  2  bad usage or configuration (arguments, flags, config file, token, an address in use)
  3  the agent could not be reached, or a watch gave up reconnecting`;

/**
 * An agent that cannot start because an address is taken says so, as bad configuration:
 * libp2p's error carries a whole stack trace in its message.
 */
function startError(e: unknown): unknown {
  const message = e instanceof Error ? e.message : String(e);
  if (!message.includes('EADDRINUSE')) return e;
  const addr = /(\/ip[46]\/[^\s:]+\/tcp\/\d+)/.exec(message)?.[1];
  const what = addr === undefined ? 'A libp2p listen address' : `The libp2p listen address ${addr}`;
  return new ConfigError(`${what} is in use (another agent?); choose another with --listen.`);
}

const collect = (v: string, prev: string[] | undefined): string[] => [...(prev ?? []), v];

export function buildProgram(): Command {
  const program = new Command('smac')
    .description('SMAC: state management for geo-distributed containers')
    .version(version(), '-V, --version', 'print the version')
    .addHelpText('after', EXIT_CODES_HELP)
    .showHelpAfterError()
    // Usage errors exit 2 (documented), not commander's 1; subcommands inherit this.
    .exitOverride();

  program
    .command('agent')
    .description('run an agent')
    .option('--config <file>', 'JSON config file (also SMAC_CONFIG)')
    .option('--data-dir <dir>', 'data directory (store, identity key); default ./.smac-data')
    .option(
      '--listen <multiaddr>',
      'libp2p listen address, repeatable; default /ip4/127.0.0.1/tcp/7946',
      collect,
    )
    .option('--join <multiaddr>', 'peer to join (other regions), repeatable; retried with backoff', collect)
    .option('--region <name>', 'region label')
    .option('--cluster-key <file>', 'pre-shared cluster key made by `smac keygen`')
    .option('--mdns', 'discover peers on the LAN by mDNS (multicasts on every interface)')
    .addOption(
      new Option('--no-gossip', 'disable gossip dissemination (anti-entropy only)').default(undefined),
    )
    .option('--sync-interval-ms <ms>', 'anti-entropy period')
    .option('--heartbeat-interval-ms <ms>', 'heartbeat period')
    .option('--snapshot-every-events <n>', 'snapshot and compact after this many events')
    .option('--reap-after-ms <ms>', 'reap a member silent and not alive this long (default 72 h)')
    .option('--max-log-events <n>', 'past this log size, reap the longest-silent dead member early')
    .addOption(new Option('--store-sync <mode>', 'SQLite durability').choices(['normal', 'full']))
    .addOption(
      new Option('--diverged-peers <mode>', 'merge or refuse a peer whose history diverged').choices([
        'merge',
        'refuse',
      ]),
    )
    .option('--allow-peer <peerId>', 'only these peers may connect, repeatable', collect)
    .option('--log-level <level>', 'fatal, error, warn, info, debug, trace or silent')
    .addOption(
      new Option('--membership-profile <profile>', 'failure-detector defaults').choices(['lan', 'wan']),
    )
    .option('--tag <key=value>', 'a label of this member, repeatable', collect)
    .option('--membership <json>', 'failure-detector overrides, e.g. {"probeIntervalMs":500}')
    .option(
      '--open-cluster',
      'allow listening off loopback without a cluster key: any node that reaches the port may join',
    )
    .option('--api-socket <path>', 'REST API Unix socket (default <data-dir>/smac.sock; "" for none)')
    .option('--api-socket-mode <mode>', 'file mode of the socket, octal (default 0660)')
    .option(
      '--api-socket-group <group>',
      'group of the socket (name or gid), e.g. for application containers',
    )
    .option('--api-tcp', 'also serve the REST API on TCP (127.0.0.1:7947 unless --api-host/--api-port say)')
    .option('--api-host <host>', 'REST API TCP host; implies --api-tcp (default 127.0.0.1)')
    .option('--api-port <port>', 'REST API TCP port; implies --api-tcp (default 7947)')
    .option(
      '--api-token-file <file>',
      'bearer token of the TCP API, mode 0600 (default: generated in <data-dir>/api.token)',
    )
    .option(
      '--api-allowed-hosts <hosts>',
      'host names TCP requests may use besides localhost and IPs',
      collect,
    )
    .option(
      '--dns',
      'serve DNS (NAME.service.smac, ID.node.smac) on 127.0.0.1:8600 unless --dns-address says',
    )
    .option('--dns-address <host:port>', 'DNS listen address, UDP and TCP; implies --dns')
    .option('--dns-ttl-seconds <s>', 'TTL of DNS answers (default 5)')
    .option('--consul', 'serve a Consul-compatible HTTP subset (127.0.0.1:8500 unless --consul-addr says)')
    .option('--consul-addr <host:port>', 'address of the Consul-compatible listener; implies --consul')
    .option('--ui', 'serve the web dashboard at /ui on the TCP API (docs/ui.md; log in with `smac ui`)')
    .action(async (flags: Record<string, unknown>) => {
      const config = loadAgentConfig(
        {
          dataDir: flags.dataDir,
          listen: flags.listen,
          join: flags.join,
          region: flags.region,
          clusterKeyFile: flags.clusterKey,
          openCluster: flags.openCluster,
          mdns: flags.mdns,
          gossip: flags.gossip,
          syncIntervalMs: flags.syncIntervalMs,
          heartbeatIntervalMs: flags.heartbeatIntervalMs,
          snapshotEveryEvents: flags.snapshotEveryEvents,
          storeSync: flags.storeSync,
          divergedPeers: flags.divergedPeers,
          reapAfterMs: flags.reapAfterMs,
          maxLogEvents: flags.maxLogEvents,
          allowPeers: flags.allowPeer,
          logLevel: flags.logLevel,
          membershipProfile: flags.membershipProfile,
          membership: flags.membership,
          tags: Array.isArray(flags.tag) ? flags.tag.join(',') : undefined,
          apiSocket: flags.apiSocket,
          apiSocketMode: flags.apiSocketMode,
          apiSocketGroup: flags.apiSocketGroup,
          apiTcp: flags.apiTcp,
          apiHost: flags.apiHost,
          apiPort: flags.apiPort,
          apiTokenFile: flags.apiTokenFile,
          apiAllowedHosts: Array.isArray(flags.apiAllowedHosts) ? flags.apiAllowedHosts.join(',') : undefined,
          dns: flags.dns,
          dnsAddress: flags.dnsAddress,
          dnsTtlSeconds: flags.dnsTtlSeconds,
          consul: flags.consul,
          consulAddr: flags.consulAddr,
          ui: flags.ui,
        },
        process.env,
        flags.config as string | undefined,
      );
      // Loaded here so that client commands do not load the agent (node:sqlite, libp2p).
      const [{ runAgent }, { startHeapRelease }, { createLogger }] = await Promise.all([
        import('../agent/run.js'),
        import('../agent/heap-release.js'),
        import('../agent/logger.js'),
      ]);
      const logger = createLogger(config.logLevel);
      const running = await runAgent(config, { logger }).catch((e: unknown) => {
        throw startError(e);
      });
      // Returns the memory V8 keeps after start-up and loads once the agent is idle (this process only).
      const heapRelease = startHeapRelease({
        onRelease: (r) => {
          logger.debug(
            {
              rssBeforeMb: Math.round(r.rssBefore / 2 ** 20),
              rssAfterMb: Math.round(r.rssAfter / 2 ** 20),
              ms: Math.round(r.ms),
            },
            'idle: heap released',
          );
        },
      });
      const { agent, api, dns } = running;
      // One line on stdout that scripts can wait for.
      process.stdout.write(
        JSON.stringify({
          ready: true,
          peerId: agent.peerId,
          addresses: agent.addresses(),
          api: { socket: api.socketPath, url: api.tcp?.url, tokenFile: api.tokenFile },
          dns: dns?.url,
          ...(running.consul ? { consul: running.consul.url } : {}),
        }) + '\n',
      );
      const stop = (signal: string): void => {
        process.stderr.write(`received ${signal}, leaving the cluster\n`);
        heapRelease.stop();
        running.stop().then(
          () => process.exit(0),
          () => process.exit(1),
        );
      };
      process.once('SIGINT', () => {
        stop('SIGINT');
      });
      process.once('SIGTERM', () => {
        stop('SIGTERM');
      });
    });

  program
    .command('keygen')
    .description('write a new pre-shared cluster key (give the same file to every agent)')
    .option('--out <file>', 'where to write it (mode 0600)', 'cluster.key')
    .action(async (flags: { out: string }) => {
      const { writeClusterKey } = await import('../net/cluster-key.js');
      await writeClusterKey(flags.out);
      process.stdout.write(
        `wrote a cluster key to ${flags.out}; pass it to every agent with --cluster-key\n`,
      );
    });

  addClientCommands(program);
  addHealthCommand(program);
  addTemplateCommand(program);
  return program;
}

/** Reports any failure in one line or a few (never a stack trace) and exits with its code. */
function fail(e: unknown): never {
  if (e instanceof CommanderError) {
    // Commander printed the message (or the help, or the version) itself.
    process.exit(e.exitCode === 0 ? EXIT.ok : EXIT.usage);
  }
  const err = e instanceof SmacApiError ? cliErrorOf(e, 'the agent') : e;
  if (err instanceof CliError) {
    process.stderr.write(`smac: ${err.message}\n`);
    process.exit(err.exitCode);
  }
  if (err instanceof ConfigError || err instanceof UsageError) {
    process.stderr.write(`smac: ${err.message}\n`);
    process.exit(EXIT.usage);
  }
  const code = (err as { code?: unknown }).code;
  const message = (err instanceof Error ? err.message : String(err))
    .split('\n')
    .filter((l) => !/^\s+at /.test(l))
    .join('\n')
    .trim();
  process.stderr.write(`smac: ${message}${typeof code === 'string' ? ` (${code})` : ''}\n`);
  process.exit(EXIT.failed);
}

buildProgram().parseAsync(process.argv).catch(fail);
