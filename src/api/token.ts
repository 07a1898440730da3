/**
 * The bearer token of the TCP listener (DESIGN.md "Security": TCP always requires one,
 * loopback included, since any local user can reach a loopback port).
 *
 * It comes from the operator (a token, or a token file), or else the agent makes one on first
 * start: 32 random bytes in hex, written atomically with mode 0600 to `<data dir>/api.token`
 * and reused on every restart, so that the `smac` CLI on the same host (run by a user who may
 * read the data directory) finds it there. A token file that group or others may access is
 * refused, as the cluster key and the identity key are.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError } from '../agent/config.js';
import { createExclusively, privateModeProblem } from '../net/identity.js';

/** Name of the generated token file in the data directory. */
export const API_TOKEN_FILE_NAME = 'api.token';
/** A bearer token shorter than this is guessable; `openssl rand -hex 32` makes a good one. */
export const MIN_TOKEN_LENGTH = 16;
/** No token file is larger; anything bigger is not a token file. */
const MAX_TOKEN_FILE_BYTES = 4096;

export function defaultTokenFile(dataDir: string): string {
  return join(dataDir, API_TOKEN_FILE_NAME);
}

export interface TokenSources {
  /** The token itself. */
  readonly token?: string | undefined;
  /** A file holding the token (first line), mode 0600 or stricter. */
  readonly tokenFile?: string | undefined;
  /** Where to generate a token when neither of the above is given, and to find it next time. */
  readonly generateAt?: string | undefined;
}

export interface ResolvedToken {
  readonly token: string;
  /** The file it came from (or was written to); undefined when given directly. */
  readonly file: string | undefined;
  /** True when this call wrote a new token file. */
  readonly generated: boolean;
}

/** The TCP listener's token, or undefined when no source is given. Throws ConfigError. */
export async function resolveApiToken(sources: TokenSources): Promise<ResolvedToken | undefined> {
  const { token, tokenFile, generateAt } = sources;
  if (token !== undefined && tokenFile !== undefined) {
    throw new ConfigError('Set the API token or the API token file, not both.');
  }
  if (token !== undefined)
    return { token: validToken(token, 'The API token'), file: undefined, generated: false };
  if (tokenFile !== undefined)
    return { token: readSecretTokenFile(tokenFile), file: tokenFile, generated: false };
  if (generateAt === undefined) return undefined;
  const fresh = randomBytes(32).toString('hex');
  let created: boolean;
  try {
    created = await createExclusively(generateAt, Buffer.from(fresh + '\n'));
  } catch (e) {
    throw new ConfigError(`Cannot write the API token file ${generateAt}: ${(e as Error).message}.`);
  }
  if (created) return { token: fresh, file: generateAt, generated: true };
  // There already (an earlier start): reuse it, so that clients keep working across restarts.
  return { token: readSecretTokenFile(generateAt), file: generateAt, generated: false };
}

/** Reads a token file, refusing one that group or others may access or that holds no valid token. */
function readSecretTokenFile(path: string): string {
  let info;
  try {
    info = statSync(path);
  } catch (e) {
    throw new ConfigError(`Cannot read the API token file ${path}: ${(e as Error).message}.`);
  }
  if (!info.isFile() || info.size > MAX_TOKEN_FILE_BYTES) {
    throw new ConfigError(`The API token file ${path} is not a regular file of at most 4 KiB.`);
  }
  const problem = privateModeProblem(path, info.mode, 'API token');
  if (problem !== undefined) throw new ConfigError(problem);
  return validToken(readTokenFile(path), `The API token in ${path}`);
}

/** The first line of a token file, trimmed. Throws ConfigError if unreadable. */
function readTokenFile(path: string): string {
  try {
    return readFileSync(path, 'utf8').split('\n')[0]?.trim() ?? '';
  } catch (e) {
    throw new ConfigError(`Cannot read the API token file ${path}: ${(e as Error).message}.`);
  }
}

function validToken(t: string, what: string): string {
  if (t.length < MIN_TOKEN_LENGTH || !/^[\x21-\x7e]+$/.test(t)) {
    throw new ConfigError(
      `${what} must be at least ${MIN_TOKEN_LENGTH} printable characters without spaces ` +
        '(for example the output of `openssl rand -hex 32`).',
    );
  }
  return t;
}
