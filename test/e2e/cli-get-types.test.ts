// `smac get KEY` when two types hold the key, as two partitions may leave it (docs/semantics.md
// "One key, one type"): the CLI names the types instead of picking one. The agent is the API
// on a pure replica in this process, written past the API's one-type rule; the CLI is the
// real binary.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startApiServers, type ApiServers } from '../../src/api/server.js';
import { ReplicaAgent } from '../api/helpers.js';

const BIN = join(import.meta.dirname, '..', '..', 'dist', 'cli', 'main.js');
const dir = mkdtempSync(join(tmpdir(), 'smac-get-types-'));
const socket = join(dir, 'smac.sock');
let servers: ApiServers;

beforeAll(async () => {
  const agent = new ReplicaAgent();
  await agent.write([
    { type: 'pn-counter', key: 'both', op: { kind: 'increment' } },
    { type: 'lww-register', key: 'both', op: { kind: 'set', value: 'v' } },
    { type: 'lww-register', key: 'both/child', op: { kind: 'set', value: 'c' } },
  ]);
  servers = await startApiServers({ agent, socketPath: socket, tcp: false });
});

afterAll(async () => {
  await servers.close();
  rmSync(dir, { recursive: true, force: true });
});

function smac(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, '--socket', socket, ...args], (err, stdout, stderr) => {
      resolve({ code: err ? Number(err.code) : 0, stdout: stdout.trim(), stderr: stderr.trim() });
    });
  });
}

it('names every type that holds the key, and reads one when told which', async () => {
  const r = await smac('get', 'both');
  expect(r.code).toBe(1);
  expect(r.stderr).toMatch(/held by 2 types here \(lww-register, pn-counter\)/);
  expect(r.stderr).toMatch(/smac get TYPE KEY/);
  expect((await smac('get', 'pn-counter', 'both')).stdout).toBe('1');
  expect((await smac('get', 'both/child')).stdout).toBe('c');
});
