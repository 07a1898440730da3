/**
 * What every client command of `smac` shares (docs/cli.md): where the agent is, the exit codes,
 * errors in the CLI's own words, human output (tables) or `--json`, and argument parsing.
 *
 * Where the agent is, first that applies: `--url` (or `SMAC_URL`) for TCP; else the Unix socket
 * `--socket`, `SMAC_SOCKET`, `$SMAC_DATA_DIR/smac.sock`; else the first socket that exists of
 * `./.smac-data/smac.sock` (the default data directory, relative to the current directory) and
 * `/run/smac/smac.sock` (the shared directory of docs/api.md and the Docker image). When none
 * exists, the message lists where it looked.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { isTypeName, type TypeName } from '../core/crdt/crdt.js';
import { ClientErrorCode, SmacApiError, SmacClient } from '../client/client.js';

/** The exit codes `smac` uses (docs/cli.md "Exit codes"). */
export const EXIT = Object.freeze({
  ok: 0,
  /** The agent refused or failed the operation (no such object, bad op, conflict ...). */
  failed: 1,
  /** Bad usage or configuration: arguments, flags, config file, token, a port in use. */
  usage: 2,
  /** The agent could not be reached (no socket, refused, no answer), or a watch gave up. */
  unreachable: 3,
});

/** The shared socket directory (docs/api.md "Listeners"): the last place the CLI looks. */
export const SHARED_SOCKET = '/run/smac/smac.sock';

export interface GlobalOptions {
  socket?: string;
  url?: string;
  token?: string;
  tokenFile?: string;
  json?: boolean;
}

export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** A failure to report as is: `smac: <message>`, then exit with `exitCode`. */
export class CliError extends Error {
  override readonly name = 'CliError';
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
  }
}

export interface AgentTarget {
  readonly client: SmacClient;
  /** Where the agent is, for messages. */
  readonly where: string;
}

function isSocket(path: string): boolean {
  try {
    return statSync(path).isSocket();
  } catch {
    return false;
  }
}

/** The client for the agent the options, the environment and the usual places point at. */
export function locateAgent(
  opts: GlobalOptions,
  env: NodeJS.ProcessEnv = process.env,
  cwd: string = process.cwd(),
): AgentTarget {
  const dataDir = resolve(cwd, env.SMAC_DATA_DIR ?? '.smac-data');
  const url = opts.url ?? env.SMAC_URL;
  if (url) {
    const token = tokenFor(opts, env, dataDir);
    try {
      return { client: new SmacClient({ url, ...(token ? { token } : {}) }), where: url };
    } catch (e) {
      throw new UsageError(`The agent URL ${url} is not usable: ${(e as Error).message}`);
    }
  }
  const explicit: [string | undefined, string][] = [
    [opts.socket, '--socket'],
    [env.SMAC_SOCKET, 'SMAC_SOCKET'],
    [env.SMAC_DATA_DIR === undefined ? undefined : join(dataDir, 'smac.sock'), 'SMAC_DATA_DIR'],
  ];
  for (const [path, from] of explicit) {
    if (path !== undefined && path !== '') {
      const socketPath = resolve(cwd, path);
      return { client: new SmacClient({ socketPath }), where: `${socketPath} (from ${from})` };
    }
  }
  const looked = [join(dataDir, 'smac.sock'), SHARED_SOCKET];
  const found = looked.find(isSocket);
  if (found === undefined) {
    throw new CliError(
      `No agent found: there is no socket at ${looked.join(' or ')}. Start one with \`smac agent\`, ` +
        'or say where it listens with --socket, SMAC_SOCKET or SMAC_DATA_DIR (--url for TCP).',
      EXIT.unreachable,
    );
  }
  return { client: new SmacClient({ socketPath: found }), where: found };
}

/** The first source that is set: flags, then environment, then the agent's generated file. */
function tokenFor(opts: GlobalOptions, env: NodeJS.ProcessEnv, dataDir: string): string | undefined {
  if (opts.token !== undefined) return opts.token;
  const generated = join(dataDir, 'api.token');
  const file =
    opts.tokenFile ??
    env.SMAC_TOKEN_FILE ??
    (env.SMAC_TOKEN === undefined && existsSync(generated) ? generated : undefined);
  if (file === undefined) return env.SMAC_TOKEN;
  try {
    return readFileSync(file, 'utf8').split('\n')[0]?.trim();
  } catch (e) {
    throw new UsageError(`Cannot read the API token file ${file}: ${(e as Error).message}.`);
  }
}

/** An error of the SDK in the CLI's words, with its exit code. */
export function cliErrorOf(e: SmacApiError, where: string): CliError {
  switch (e.code) {
    case ClientErrorCode.ConnectionFailed:
      return new CliError(
        `Cannot reach the agent at ${where}: ${reason(e)}. Is it running? ` +
          'Say where it listens with --socket, SMAC_SOCKET or SMAC_DATA_DIR (--url for TCP).',
        EXIT.unreachable,
      );
    case ClientErrorCode.Timeout:
      return new CliError(`The agent at ${where} did not answer in time.`, EXIT.unreachable);
    case ClientErrorCode.BadResponse:
      return new CliError(`The agent at ${where} sent an answer smac does not understand.`, EXIT.failed);
    case 'UNAUTHORIZED':
      return new CliError(
        `The agent at ${where} refused the API token. Give the agent's token with --token-file or ` +
          'SMAC_TOKEN_FILE (it is in <data dir>/api.token), or use the Unix socket, which needs none.',
        EXIT.usage,
      );
    case 'HOST_NOT_ALLOWED':
      return new CliError(
        `The agent at ${where} does not answer to that host name; use its IP address, or add the ` +
          'name to the agent with --api-allowed-hosts.',
        EXIT.usage,
      );
    default:
      return new CliError(`${e.message} (${e.code})`, EXIT.failed);
  }
}

/** The cause of a connection failure, without the SDK's prefix. */
export function reason(e: SmacApiError): string {
  const code = (e.cause as { code?: unknown } | undefined)?.code;
  if (code === 'ENOENT') return 'no such socket';
  if (e.code === ClientErrorCode.Timeout) return 'no answer in time';
  if (code === 'ECONNRESET' || /\baborted\b/.test(e.message)) return 'the connection broke';
  if (code === 'ECONNREFUSED') return 'connection refused (nothing listens there)';
  if (code === 'EACCES') return 'permission denied (the socket belongs to another user or group)';
  return e.message.replace(/^Cannot reach the agent: /, '');
}

type Action = (target: AgentTarget, opts: GlobalOptions, ...args: (string | undefined)[]) => Promise<void>;

/** A commander action that talks to the agent: finds it, runs, and puts errors in the CLI's words. */
export function run(fn: Action) {
  return async (...args: unknown[]): Promise<void> => {
    const cmd = args[args.length - 1] as Command;
    const opts: GlobalOptions = cmd.optsWithGlobals();
    const target = locateAgent(opts);
    try {
      await fn(target, opts, ...(args.slice(0, -2) as (string | undefined)[]));
    } catch (e) {
      throw e instanceof SmacApiError ? cliErrorOf(e, target.where) : e;
    } finally {
      target.client.close();
    }
  };
}

export function parseJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    // A bare word is a string: `smac set lww-register k hello` sets "hello".
    if (/^[^{}[\]"]*$/.test(text) && !/^(true|false|null|-?\d)/.test(text)) return text;
    throw new UsageError(`The ${what} must be JSON (got ${text}); quote strings, e.g. '"text"'.`);
  }
}

export function typeArg(t: string | undefined): TypeName {
  if (!isTypeName(t)) {
    throw new UsageError(
      `Unknown type ${String(t)}; use pn-counter, lww-register, mv-register, aw-set, rw-set, ew-flag or or-map.`,
    );
  }
  return t;
}

/** Prints `data` as JSON with --json, else the human form. */
export function out(opts: GlobalOptions, data: unknown, human: () => string): void {
  const text = opts.json ? JSON.stringify(data, null, 2) : human();
  if (text !== '') process.stdout.write(text + '\n');
}

/** A positional argument commander guarantees; named for the type checker. */
export function req(v: string | undefined): string {
  if (v === undefined) throw new UsageError('A required argument is missing; see --help.');
  return v;
}

/** A value as one line: strings bare, anything else as JSON. */
export const show = (v: unknown): string => (typeof v === 'string' ? v : JSON.stringify(v));

/** Columns padded to their widest cell, two spaces apart, under an upper-case header. */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}
