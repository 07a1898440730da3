/**
 * The API's Unix socket: access to it is its file permissions (DESIGN.md "Security"), so the
 * socket must have its final mode and group before anyone can connect to it.
 *
 * How: a socket's file is created by bind(2) with the process umask applied, and chmod/chown
 * can only follow. So the agent binds it inside a fresh private directory (mkdtemp, mode 0700)
 * next to the final path, where no other user can reach it; sets the mode and group there;
 * and only then hard-links it to the final path and unlinks the staged name. The link makes
 * the socket appear at its path atomically, already with its mode and group (a link shares the
 * inode, and a Unix socket is found by its inode). link(2) fails if the path exists, so a
 * concurrent agent's socket is never replaced. A umask would do the same for the mode, but it
 * is process-wide (other files created meanwhile would get it) and cannot set the group.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, linkSync, lstatSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createConnection } from 'node:net';
import { dirname, join } from 'node:path';
import { ConfigError } from '../agent/config.js';
import type { ApiApp } from './app.js';

/** sockaddr_un holds 108 bytes including the terminating NUL on Linux. */
export const MAX_SOCKET_PATH_BYTES = 107;
/** The default mode: the agent's user and group (DESIGN.md "Interfaces"). */
export const DEFAULT_SOCKET_MODE = 0o660;

export interface SocketAccess {
  /** File mode, e.g. 0o660 (default). */
  readonly mode?: number | undefined;
  /** Group name or numeric gid to give the socket; the agent's own group by default. */
  readonly group?: string | number | undefined;
}

/** Makes `app` listen on `path` with its mode and group set before the socket is reachable. */
export async function listenOnSocket(app: ApiApp, path: string, access: SocketAccess = {}): Promise<void> {
  const gid = access.group === undefined ? undefined : resolveGroup(access.group);
  await prepareSocketPath(path);
  let stage: string;
  try {
    stage = mkdtempSync(join(dirname(path), '.smac-'));
  } catch (e) {
    throw socketError(e, path);
  }
  const staged = join(stage, 's');
  try {
    checkLength(staged, `The API socket's staging path ${staged}`);
    try {
      await app.listen({ path: staged });
    } catch (e) {
      throw socketError(e, path);
    }
    chmodSync(staged, access.mode ?? DEFAULT_SOCKET_MODE);
    if (gid !== undefined) {
      try {
        chownSync(staged, -1, gid);
      } catch (e) {
        throw new ConfigError(
          `Cannot give the API socket the group ${String(access.group)} (${(e as NodeJS.ErrnoException).code ?? 'error'}): ` +
            'the agent must run as root or be a member of that group.',
        );
      }
    }
    try {
      linkSync(staged, path);
    } catch (e) {
      throw (e as NodeJS.ErrnoException).code === 'EEXIST'
        ? new ConfigError(
            `Another process created ${path} while the agent was starting; is another agent running?`,
          )
        : socketError(e, path);
    }
  } finally {
    rmSync(stage, { recursive: true, force: true });
  }
}

function checkLength(path: string, what: string): void {
  const bytes = Buffer.byteLength(path);
  if (bytes > MAX_SOCKET_PATH_BYTES) {
    throw new ConfigError(
      `${what} is ${bytes} bytes; Unix sockets allow ${MAX_SOCKET_PATH_BYTES}. ` +
        'Use a shorter data directory or socket path.',
    );
  }
}

/** A gid from a number, a numeric string or a group name (/etc/group, then NSS via getent). */
export function resolveGroup(group: string | number): number {
  if (typeof group === 'number' || /^\d+$/.test(group)) return Number(group);
  const fromFile = (text: string): number | undefined => {
    for (const line of text.split('\n')) {
      const [name, , gid] = line.split(':');
      if (name === group && gid !== undefined && /^\d+$/.test(gid)) return Number(gid);
    }
    return undefined;
  };
  const read = (fn: () => string): string => {
    try {
      return fn();
    } catch {
      return '';
    }
  };
  const gid =
    fromFile(read(() => readFileSync('/etc/group', 'utf8'))) ??
    fromFile(read(() => execFileSync('getent', ['group', group], { encoding: 'utf8', timeout: 5_000 })));
  if (gid === undefined) {
    throw new ConfigError(
      `There is no group ${group} for the API socket; give an existing group name or a gid.`,
    );
  }
  return gid;
}

/**
 * Makes the socket path usable: too long is an error; a live socket means another agent
 * serves this data directory (an error); a dead one is left from a crash and is removed.
 */
async function prepareSocketPath(path: string): Promise<void> {
  checkLength(path, `The API socket path ${path}`);
  let isSocket: boolean;
  try {
    isSocket = lstatSync(path).isSocket();
  } catch {
    return; // nothing there
  }
  if (!isSocket) {
    throw new ConfigError(`${path} exists and is not a socket; move it away or choose another socket path.`);
  }
  if (await someoneListens(path)) {
    throw new ConfigError(
      `Another process serves the API on ${path}; is an agent already running with this data directory?`,
    );
  }
  rmSync(path, { force: true });
}

function someoneListens(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createConnection({ path });
    const done = (answer: boolean): void => {
      s.destroy();
      resolve(answer);
    };
    s.setTimeout(1_000, () => {
      done(true); // it accepted the connection or hangs: either way, not ours to remove
    });
    s.once('connect', () => {
      done(true);
    });
    s.once('error', () => {
      done(false);
    });
  });
}

function socketError(e: unknown, path: string): unknown {
  const code = (e as { code?: unknown }).code;
  if (code === 'EACCES' || code === 'EPERM')
    return new ConfigError(
      `Not allowed to create the API socket ${path}; check its directory's permissions.`,
    );
  if (code === 'ENOENT')
    return new ConfigError(`Cannot create the API socket ${path}: its directory does not exist.`);
  return e;
}
