/**
 * `smac agent` releases the heap it kept after start-up once idle (src/agent/heap-release.ts),
 * and keeps answering afterwards. The first version hung for good right after its first
 * release: it disconnected the inspector session from inside the collectGarbage callback, which
 * node 24 never returns from.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterEach, describe, expect, it } from 'vitest';
import { SmacClient } from '../../src/client/client.js';
import { BIN } from '../support/agent-process.js';

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

describe('heap release in smac agent', () => {
  it('releases once idle after start-up and the agent answers afterwards', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'smac-heap-release-'));
    const child = spawn(
      process.execPath,
      [BIN, 'agent', '--data-dir', dir, '--listen', '/ip4/127.0.0.1/tcp/0', '--log-level', 'debug'],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    cleanups.push(() => {
      child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    });
    // The first check runs 10 s after start; allow for a loaded machine.
    const released = await new Promise<{ rssBeforeMb: number; rssAfterMb: number }>((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new Error('no heap release logged within 120 s'));
      }, 120_000);
      createInterface({ input: child.stderr }).on('line', (line) => {
        if (!line.includes('idle: heap released')) return;
        clearTimeout(timer);
        resolve(JSON.parse(line) as { rssBeforeMb: number; rssAfterMb: number });
      });
      child.once('exit', (code) => {
        reject(new Error(`agent exited with ${code}`));
      });
    });
    expect(released.rssAfterMb).toBeLessThan(released.rssBeforeMb);
    const client = new SmacClient({ socketPath: join(dir, 'smac.sock') });
    const status = await client.status();
    expect(status.peerId).toMatch(/^12D3KooW/);
  }, 150_000);
});
