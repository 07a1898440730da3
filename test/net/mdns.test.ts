// mDNS discovery, run only inside a private network namespace (`unshare -n`): mDNS multicasts on
// every interface, and no test may send traffic beyond loopback or namespaces it created.
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const fixture = fileURLToPath(new URL('./fixtures/mdns-pair.ts', import.meta.url));

// The child runs TypeScript directly; this hook maps the sources' `.js` specifiers to `.ts`.
const resolveHook = `
import { registerHooks } from 'node:module';
registerHooks({
  resolve(specifier, context, next) {
    try {
      return next(specifier, context);
    } catch (e) {
      if (specifier.startsWith('.') && specifier.endsWith('.js')) return next(specifier.slice(0, -3) + '.ts', context);
      throw e;
    }
  },
});`;

function privateNamespaceAvailable(): { ok: boolean; why: string } {
  const probe = spawnSync('unshare', ['-n', 'sh', '-c', 'ip link set lo up'], { encoding: 'utf8' });
  if (probe.error) return { ok: false, why: `unshare is not installed (${probe.error.message})` };
  if (probe.status !== 0)
    return { ok: false, why: `unshare -n failed: ${probe.stderr.trim() || `exit ${probe.status}`}` };
  return { ok: true, why: '' };
}

const netns = privateNamespaceAvailable();
if (!netns.ok)
  console.warn(`Skipping the mDNS test: ${netns.why}. It needs root or unprivileged user namespaces.`);

describe('mDNS discovery', () => {
  it.skipIf(!netns.ok)(
    'finds a peer and connects exactly once, inside a private network namespace',
    async () => {
      const child = spawn(
        'unshare',
        [
          '-n',
          'sh',
          '-c',
          'ip link set lo up && exec "$0" --experimental-transform-types --no-warnings --import "$1" "$2"',
          process.execPath,
          `data:text/javascript,${encodeURIComponent(resolveHook)}`,
          fixture,
        ],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      let out = '';
      let err = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
      const line = out.trim().split('\n').at(-1) ?? '';
      expect({ code, line, err: code === 0 ? '' : err }).toMatchObject({ code: 0 });
      expect(JSON.parse(line)).toEqual({ found: true, connections: 1 });
    },
  );
});
