/**
 * HTTP requests made by another local user (`nobody`, through runuser), to test what the
 * API's access control lets such a user do. Needs root (the tests run as root here); the
 * tests that use it are skipped elsewhere, with the reason in their name.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';

export const RUNUSER = '/usr/sbin/runuser';
/** Whether this process may run commands as `nobody`. */
export const CAN_SWITCH_USER = process.getuid?.() === 0 && existsSync(RUNUSER);

export interface UserReply {
  /** HTTP status, or undefined when the request failed (see `error`). */
  readonly status?: number;
  readonly body?: string;
  /** errno code of a failed connection, e.g. EACCES for a socket the user may not open. */
  readonly error?: string;
}

// Runs in the child: argv = [target (a socket path or a URL), method, path, token?, host?].
const REQUEST_SCRIPT = `
const http = require('node:http');
const [target, method, path, token, host] = process.argv.slice(1);
const where = target.startsWith('/') ? { socketPath: target } : { host: new URL(target).hostname, port: new URL(target).port };
const headers = { 'content-type': 'application/json' };
if (token) headers.authorization = 'Bearer ' + token;
if (host) headers.host = host;
const req = http.request({ ...where, method, path, headers }, (res) => {
  let body = '';
  res.on('data', (d) => (body += d));
  res.on('end', () => console.log(JSON.stringify({ status: res.statusCode, body })));
});
req.on('error', (e) => console.log(JSON.stringify({ error: e.code })));
req.end(method === 'GET' || method === 'DELETE' ? undefined : '{"kind":"increment","by":1}');
`;

/**
 * One request as `user` (asynchronously: the server under test may live in this process).
 * `target` is a Unix socket path or a base URL.
 */
export function requestAs(
  user: string,
  target: string,
  method: string,
  path: string,
  opts: { token?: string; host?: string } = {},
): Promise<UserReply> {
  const args = [target, method, path, opts.token ?? '', opts.host ?? ''];
  const child = spawn(RUNUSER, ['-u', user, '--', process.execPath, '-e', REQUEST_SCRIPT, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => {
      const line = out.trim().split('\n').pop() ?? '';
      if (code !== 0 || !line.startsWith('{'))
        reject(new Error(`request as ${user} failed (${code}): ${err}`));
      else resolve(JSON.parse(line) as UserReply);
    });
  });
}
