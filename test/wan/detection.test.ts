// Failure detection across the emulated WAN (issue 8; docs/membership.md): three agents in
// three regions (scripts/wan) with default settings, under write load. Probes measure each
// link's real round trip (they travel through the delay proxies), and a SIGKILLed agent must be
// declared dead at both other regions (the bound here is generous; the 5 s target is
// bench:wan's). False suspicions in the soak are printed, not asserted: on two shared cores an
// agent starved of CPU for seconds cannot be told from a failed one, so "zero" is a benchmark
// figure (`node scripts/wan/detection.js`, docs/membership.md), not a test that could flake. Runs scripts/wan/detection.js
// against the built dist/; needs root and `ip netns`, and a skip fails under
// SMAC_REQUIRE_EXTERNAL=1.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { netnsAvailable } from '../../scripts/lib/netns.js';

const ROOT = join(import.meta.dirname, '..', '..');
const SCRIPT = join(ROOT, 'scripts', 'wan', 'detection.js');
// Two writers per agent: before long-lived streams and adaptive timeouts this raised 13 false
// suspicions in 25 s (17 with four writers); four writers on a machine whose two cores other
// suites also load starve agents for seconds, which no timeout tells from failure.
const ARGS = ['--soak', '25s', '--load', '2', '--kill', '--detect-timeout', '40s'];

function unavailable(): string | undefined {
  const why = netnsAvailable();
  if (why !== undefined) return why;
  if (!existsSync(join(ROOT, 'dist', 'cli', 'main.js'))) return 'dist/ is not built (npm run build)';
  return undefined;
}

const why = unavailable();
if (why !== undefined) {
  const msg = `WAN failure-detection test skipped: ${why}; it needs root and ip netns`;
  if (process.env.SMAC_REQUIRE_EXTERNAL === '1') throw new Error(`${msg} (SMAC_REQUIRE_EXTERNAL=1)`);
  console.warn(msg);
}

interface Result {
  suspicions: { at: string; about: string; to: string }[];
  detectionMs: Record<string, number>;
  rtts: { from: string; to: string; srttMs: number }[];
}

describe.skipIf(why !== undefined)('failure detection across the WAN, default settings', () => {
  it('probes measure the WAN round trips; a killed region is declared dead everywhere', async () => {
    const child = spawn(process.execPath, [SCRIPT, ...ARGS], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (out += c.toString()));
    const guard = setTimeout(() => child.kill('SIGINT'), 100_000);
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    clearTimeout(guard);
    const replay = `node scripts/wan/detection.js ${ARGS.join(' ')}`;
    expect(code, `the run failed (replay: ${replay}):\n${out}`).toBe(0);
    const line = out.split('\n').find((l) => l.startsWith('RESULT '));
    const result = JSON.parse(line?.slice('RESULT '.length) ?? '{}') as Result;
    console.log(
      out
        .split('\n')
        .filter((l) => !l.startsWith('RESULT '))
        .join('\n'),
    );
    console.log(`false suspicions in the soak: ${result.suspicions.length} (replay: ${replay})`);
    // Every emulated link has a round trip of at least 151 ms (docs/networking.md).
    expect(result.rtts.length, 'round trips measured').toBeGreaterThanOrEqual(4);
    for (const r of result.rtts) expect(r.srttMs, `${r.from}->${r.to}`).toBeGreaterThanOrEqual(140);
    expect(Object.keys(result.detectionMs).sort()).toEqual(['fra', 'sgp']);
  }, 110_000);
});
