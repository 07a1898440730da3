/**
 * An agent as a separate process, run from dist/ as `npm start` and the image run it: started
 * in a fresh data directory, ready once it printed its ready line, killed and removed after.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

export const ROOT = join(import.meta.dirname, '..', '..');
export const BIN = join(ROOT, 'dist', 'cli', 'main.js');

export interface AgentProcess {
  readonly dir: string;
  readonly socket: string;
  readonly process: ChildProcess;
  /** The ready line the agent printed (peer id, addresses, API). */
  readonly ready: { peerId: string; addresses: string[] };
  kill(): void;
}

/** Starts `smac agent` on loopback with a free port and `args` added; resolves once ready. */
export async function startAgentProcess(args: string[] = []): Promise<AgentProcess> {
  const dir = mkdtempSync(join(tmpdir(), 'smac-proc-'));
  const child = spawn(
    process.execPath,
    [BIN, 'agent', '--data-dir', dir, '--listen', '/ip4/127.0.0.1/tcp/0', '--log-level', 'warn', ...args],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const line = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout }).once('line', resolve);
    child.once('exit', (code) => {
      reject(new Error(`agent exited with ${code}`));
    });
  });
  return {
    dir,
    socket: join(dir, 'smac.sock'),
    process: child,
    ready: JSON.parse(line) as AgentProcess['ready'],
    kill: () => {
      child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
