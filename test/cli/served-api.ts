/**
 * For CLI tests: the real binary (dist/cli/main.js) against an API served from this process on
 * a Unix socket in a temporary directory.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ApiAgent } from '../../src/api/agent-port.js';
import type { RouteModule } from '../../src/api/app.js';
import { createApiApp } from '../../src/api/server.js';
import { listenOnSocket } from '../../src/api/socket.js';

const BIN = join(import.meta.dirname, '..', '..', 'dist', 'cli', 'main.js');

export interface ServedApi {
  /** Runs `smac --socket <socket> ...args` (asynchronously: this process serves the API). */
  smac(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }>;
  close(): Promise<void>;
}

export async function serveApi(agent: ApiAgent, routes: RouteModule[]): Promise<ServedApi> {
  const dir = mkdtempSync(join(tmpdir(), 'smac-cli-'));
  const socket = join(dir, 'smac.sock');
  const app = await createApiApp({ agent, routes });
  await listenOnSocket(app, socket);
  return {
    smac: (...args) =>
      new Promise((resolve) => {
        execFile(
          process.execPath,
          [BIN, '--socket', socket, ...args],
          { timeout: 30_000 },
          (err, stdout, stderr) => {
            resolve({ code: err ? Number(err.code ?? 1) : 0, stdout, stderr });
          },
        );
      }),
    close: async () => {
      await app.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
