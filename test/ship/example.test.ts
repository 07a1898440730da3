/**
 * examples/discovery-app against a real agent process (dist/, as `npm start` runs it): it
 * registers itself, finds itself healthy, reports load, prints what it sees, and deregisters.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AgentProcess, BIN, ROOT, startAgentProcess } from '../support/agent-process.js';

let agent: AgentProcess;

beforeAll(async () => {
  agent = await startAgentProcess();
}, 30_000);

afterAll(() => {
  agent.kill();
});

describe('examples/discovery-app', () => {
  it('registers, discovers itself, reports load and deregisters', () => {
    const r = spawnSync(
      process.execPath,
      [join(ROOT, 'examples', 'discovery-app', 'index.js'), '--rounds', '2', '--interval-ms', '300'],
      {
        cwd: ROOT,
        encoding: 'utf8',
        timeout: 30_000,
        env: { ...process.env, SMAC_SOCKET: agent.socket, APP_NAME: 'web-t' },
      },
    );
    expect(r.status, r.stderr).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^registered web\/web-t at 127\.0\.0\.1:\d+ \(ttl check, 3000 ms\)$/);
    expect(lines).toContainEqual(
      expect.stringMatching(/^round 2: web has 1 healthy endpoint\(s\): web-t 127\.0\.0\.1:\d+$/),
    );
    expect(lines).toContainEqual(
      expect.stringMatching(
        /^round 2: requests 2 over 1 node\(s\), by region \{"default":2\}; rss_mb \d+ over 1 node\(s\)$/,
      ),
    );
    expect(lines.at(-1)).toBe('deregistered web/web-t');

    // It left nothing behind: its endpoint is gone.
    const after = spawnSync(
      process.execPath,
      [BIN, '--socket', agent.socket, '--json', 'services', 'get', 'web', '--all'],
      {
        encoding: 'utf8',
      },
    );
    expect(JSON.parse(after.stdout)).toMatchObject({ endpoints: [] });
  });
});
