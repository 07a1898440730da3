// Network namespaces from Node, shared by the chaos harness (scripts/chaos/net.js) and the WAN
// emulator (scripts/wan): running `ip`, checking that namespaces can be made here, running a
// process inside one, and finding namespaces that earlier runs left behind.
import { execFileSync, spawn } from 'node:child_process';

/** Runs `ip` with arguments; throws with stderr on failure (or returns '' when `quiet`). */
export function ip(args, { quiet = false } = {}) {
  try {
    return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    if (quiet) return '';
    throw new Error(`ip ${args.join(' ')} failed: ${String(e.stderr ?? e.message).trim()}`, { cause: e });
  }
}

/** Why namespaces cannot be made here (not root, no working `ip netns`), or undefined if they can. */
export function netnsAvailable() {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return 'not running as root';
  const probe = `smacprobe-${process.pid}`;
  try {
    ip(['netns', 'add', probe]);
    ip(['netns', 'del', probe]);
    return undefined;
  } catch (e) {
    ip(['netns', 'del', probe], { quiet: true });
    return `ip netns is unavailable: ${e.message}`;
  }
}

/** Names of the namespaces that exist now and match `pattern`. */
export function namespacesMatching(pattern) {
  return ip(['netns', 'list'], { quiet: true })
    .split('\n')
    .map((l) => l.split(' ')[0])
    .filter((n) => n !== undefined && n !== '' && pattern.test(n));
}

/** Deletes namespaces (and with them every veth and bridge inside); never throws. */
export function deleteNamespaces(names) {
  for (const ns of names) ip(['netns', 'del', ns], { quiet: true });
}

/** Spawns `command args` inside namespace `ns` (child_process.spawn options apply). */
export function spawnIn(ns, command, args, options = {}) {
  return spawn('ip', ['netns', 'exec', ns, command, ...args], options);
}
