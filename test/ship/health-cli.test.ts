/**
 * `smac health` as the image's HEALTHCHECK and the Kubernetes probes run it: exit 0 when
 * healthy, 1 when the agent answers that it is not (here: not ready, its join address is
 * unreachable), 3 when there is no agent; --wait retries until healthy.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AgentProcess, BIN, startAgentProcess } from '../support/agent-process.js';

let alone: AgentProcess;
let joining: AgentProcess;

beforeAll(async () => {
  alone = await startAgentProcess();
  // Port 9 (discard) on loopback: nothing listens, the dial fails and is retried.
  joining = await startAgentProcess(['--join', '/ip4/127.0.0.1/tcp/9']);
}, 30_000);

afterAll(() => {
  alone.kill();
  joining.kill();
});

function health(
  socket: string,
  ...args: string[]
): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, '--socket', socket, 'health', ...args], { encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout.trim(), stderr: r.stderr.trim() };
}

describe('smac health', () => {
  it('exits 0 for a live and ready agent, and prints its checks', () => {
    const live = health(alone.socket);
    expect(live.status).toBe(0);
    expect(live.stdout).toContain(`ready  ${alone.ready.peerId}`);
    expect(live.stdout).toMatch(/store {2}\d+ event\(s\) in the log/);
    expect(health(alone.socket, '--ready').status).toBe(0);
    expect(JSON.parse(health(alone.socket, '--json').stdout)).toMatchObject({ live: true, ready: true });
  });

  it('exits 1 for an agent that is live but not ready, saying why', () => {
    expect(health(joining.socket).status).toBe(0);
    const r = health(joining.socket, '--ready');
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/not ready: None of the 1 join address\(es\) is connected yet/);
    expect(r.stderr).toContain('(UNAVAILABLE)');
  });

  it('exits 3 when no agent answers', () => {
    const r = health(join(alone.dir, 'nothing.sock'));
    expect(r.status).toBe(3);
    expect(r.stderr).toMatch(/Cannot reach the agent at .*nothing\.sock/);
  });

  it('--wait retries until the agent answers', async () => {
    const later = join(alone.dir, 'later');
    mkdirSync(later);
    const waiting = spawn(
      process.execPath,
      [BIN, '--socket', join(later, 'smac.sock'), 'health', '--wait', '20'],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    const exited = new Promise<number | null>((resolve) => waiting.once('exit', resolve));
    await new Promise((r) => setTimeout(r, 1000));
    const started = await startAgentProcess(['--api-socket', join(later, 'smac.sock')]);
    try {
      expect(await exited).toBe(0);
    } finally {
      started.kill();
    }
  });
});
