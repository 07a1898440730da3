// Tests that drive a real third-party program (dig, prometheus, chromium, etcd) install it with
// the project's own script on first use. Where it cannot be installed, the test is skipped with a
// clear message, except under SMAC_REQUIRE_EXTERNAL=1 (set by .ci/run), where the skip becomes a
// failing test that says what was missing.
import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'vitest';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

export interface External {
  /** The command that must be on PATH. */
  readonly command: string;
  /** Why it is unavailable; undefined when it is there. */
  readonly missing: string | undefined;
}

/** Whether the external checks are mandatory (CI): a skip then fails. */
export function externalRequired(): boolean {
  return process.env.SMAC_REQUIRE_EXTERNAL === '1';
}

function onPath(command: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/**
 * Makes `command` available by installing `packages` through scripts/lib/apt-install.sh (or the
 * given script, relative to the repository), at most once per test process.
 */
export function ensureExternal(command: string, packages: string[], script?: string): External {
  if (onPath(command)) return { command, missing: undefined };
  const file = join(root, script ?? 'scripts/lib/apt-install.sh');
  const args = script === undefined ? [command, ...packages] : [];
  try {
    execFileSync(file, args, { stdio: ['ignore', 'ignore', 'pipe'], timeout: 600_000 });
  } catch (err) {
    const stderr = (err as { stderr?: Buffer }).stderr?.toString().trim() ?? '';
    return {
      command,
      missing: `${command} could not be installed (${packages.join(' ')}): ${stderr || String(err)}`,
    };
  }
  return onPath(command)
    ? { command, missing: undefined }
    : { command, missing: `${command} is not on PATH after install` };
}

/**
 * describe() when every external is available; otherwise a skipped suite with the reason, or,
 * under SMAC_REQUIRE_EXTERNAL=1, one failing test naming what was missing.
 */
export function describeWith(externals: External[], name: string, body: () => void): void {
  const missing = externals.map((e) => e.missing).filter((m): m is string => m !== undefined);
  if (missing.length === 0) {
    describe(name, body);
    return;
  }
  const why = missing.join('; ');
  if (externalRequired()) {
    describe(name, () => {
      it('has its external programs (SMAC_REQUIRE_EXTERNAL=1)', () => {
        throw new Error(`missing: ${why}`);
      });
    });
    return;
  }
  console.warn(`${name}: skipped: ${why}`);
  describe.skip(name, body);
}
