// The short seeded nemesis run (issue 7; docs/chaos.md): three real agents in network
// namespaces, every fault kind, then the history checker. It runs scripts/chaos/run.js as a
// child process against the built dist/, so its teardown (processes, namespaces, temp
// directory) is the harness's own. Needs root and `ip netns`; skipped with a message otherwise.
// SMAC_CHAOS_SEED replays another seed.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..', '..');
const RUN = join(ROOT, 'scripts', 'chaos', 'run.js');
const SEED = process.env.SMAC_CHAOS_SEED ?? '1';
// Only a guard against a hang: the harness bounds itself (faults, the cut, the rebase and re-run,
// convergence). About 1-2 minutes on a quiet machine; at load 25 on two cores agents take up to
// a minute to restart and one run took over 4 minutes (docs/chaos.md); with the mutual-reap
// fault one run took 391 s at load 24 (before the sequential-reaps fix), so the guard is 10 min.
const LIMIT_MS = 600_000;

function unavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'not running as root';
  try {
    execFileSync('ip', ['netns', 'list'], { stdio: 'ignore' });
  } catch {
    return '`ip netns` is unavailable';
  }
  if (!existsSync(join(ROOT, 'dist', 'cli', 'main.js'))) return 'dist/ is not built (npm run build)';
  return undefined;
}

const why = unavailable();
if (why !== undefined) console.warn(`nemesis test skipped: ${why}; it needs root and ip netns`);

describe.skipIf(why !== undefined)(
  'nemesis: real agents, real network cuts, kills, pauses, store loss',
  () => {
    it(
      `seed ${SEED}: every acknowledged op survives, replicas converge, semantics hold`,
      async () => {
        // Every kind, the reap faults included: a `mutual-reap` (1|2, the lone agent's side
        // loses and rebases); `opposite-reaps` needs four agents and runs in the long runs
        // (docs/chaos.md "Mutual and opposite-order reaps"). `--force-leave heal-only` would
        // only heal a force-left member.
        const args = [
          RUN,
          '--seed',
          SEED,
          '--duration',
          '30s',
          '--agents',
          '3',
          '--converge-timeout',
          '45s',
          '--force-leave',
          'any',
        ];
        const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
        let out = '';
        child.stdout.on('data', (c: Buffer) => (out += c.toString()));
        child.stderr.on('data', (c: Buffer) => (out += c.toString()));
        // The harness bounds itself; this only guards against a hang, and lets it tear down.
        const guard = setTimeout(() => child.kill('SIGINT'), LIMIT_MS - 15_000);
        const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
        clearTimeout(guard);
        if (code === 77) {
          console.warn(`nemesis test could not run:\n${out}`);
          return;
        }
        expect(
          code,
          `the nemesis run failed (replay: node scripts/chaos/run.js ${args.slice(1).join(' ')}):\n${out}`,
        ).toBe(0);
      },
      LIMIT_MS,
    );
  },
);
