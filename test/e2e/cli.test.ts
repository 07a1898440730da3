// The `smac` client commands against a real agent process: reads and ops for every type,
// listing, members, services, load, batch, watch, human output and --json, and clear errors.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const BIN = join(import.meta.dirname, '..', '..', 'dist', 'cli', 'main.js');
let dir = '';
let agent: ChildProcess;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'smac-cli-'));
  agent = spawn(
    process.execPath,
    [
      BIN,
      'agent',
      '--data-dir',
      dir,
      '--listen',
      '/ip4/127.0.0.1/tcp/0',
      '--api-host',
      '',
      '--log-level',
      'warn',
      '--tag',
      'rack=r1',
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  await new Promise<void>((resolve, reject) => {
    createInterface({ input: agent.stdout! }).once('line', () => {
      resolve();
    });
    agent.once('exit', (code) => {
      reject(new Error(`agent exited with ${code}`));
    });
  });
}, 30_000);

afterAll(() => {
  agent.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

function smac(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, '--socket', join(dir, 'smac.sock'), ...args], {
    encoding: 'utf8',
  });
  return { status: r.status, stdout: r.stdout.trim(), stderr: r.stderr.trim() };
}

describe('smac client commands', () => {
  it('applies ops for every type and reads them back', () => {
    expect(smac('inc', 'app/hits', '5').stdout).toBe('5');
    expect(smac('dec', 'app/hits').stdout).toBe('4');
    expect(smac('set', 'lww-register', 'app/mode', '"blue"').stdout).toBe('blue');
    expect(smac('set', 'mv-register', 'app/mv', '{"a":1}').stdout).toBe('[{"a":1}]');
    expect(smac('add', 'aw-set', 'app/aw', '1').stdout).toBe('[1]');
    expect(smac('add', 'rw-set', 'app/rw', '"x"').stdout).toBe('["x"]');
    expect(smac('remove', 'rw-set', 'app/rw', '"x"').stdout).toBe('[]');
    expect(smac('enable', 'app/flag').stdout).toBe('true');
    expect(
      smac(
        'op',
        'or-map',
        'app/map',
        '{"kind":"update","field":"n","type":"pn-counter","op":{"kind":"increment"}}',
      ).stdout,
    ).toBe('{"n":1}');
    expect(smac('get', 'pn-counter', 'app/hits').stdout).toBe('4');
    expect(JSON.parse(smac('--json', 'get', 'lww-register', 'app/mode').stdout)).toMatchObject({
      type: 'lww-register',
      key: 'app/mode',
      value: 'blue',
    });
    const [header, ...ls] = smac('ls', 'app/').stdout.split('\n');
    expect(header).toMatch(/^KEY\s+TYPE\s+VALUE$/);
    expect(ls.map((l) => l.split(' ')[0])).toEqual([
      'app/aw',
      'app/flag',
      'app/hits',
      'app/map',
      'app/mode',
      'app/mv',
      'app/rw',
    ]);
  });

  it('creates, deletes and batches', () => {
    expect(smac('create', 'aw-set', 'tmp/s').stdout).toBe('created');
    expect(smac('del', 'aw-set', 'tmp/s').stdout).toBe('deleted');
    const file = join(dir, 'batch.json');
    writeFileSync(
      file,
      JSON.stringify({
        ops: [
          { type: 'pn-counter', key: 'b/1', op: { kind: 'increment' } },
          { type: 'pn-counter', key: 'b/2', op: { kind: 'increment', by: 2 } },
        ],
      }),
    );
    expect(smac('batch', file).stdout).toMatch(/^applied 2 ops as /);
    expect(smac('get', 'pn-counter', 'b/2').stdout).toBe('2');
  });

  it('shows status, members, services and load', () => {
    expect(smac('status').stdout).toMatch(/^peer id\s+12D3KooW/);
    expect(smac('members').stdout).toMatch(/alive/);
    expect(JSON.parse(smac('--json', 'members').stdout).members[0].tags).toEqual({ rack: 'r1' });
    expect(smac('services', 'register', 'web', 'w1', '{"address":"127.0.0.1","port":8080}').stdout).toBe(
      'registered',
    );
    expect(
      JSON.parse(smac('--json', 'services', 'get', 'web').stdout).endpoints.map((e: { id: string }) => e.id),
    ).toEqual(['w1']);
    expect(smac('services').stdout).toMatch(/^SERVICE\s+ENDPOINTS\s+HEALTHY\nweb\s+1\s+1$/);
    // 204 No Content is a success, not an answer the SDK fails to parse.
    expect(smac('services', 'deregister', 'web', 'w1')).toMatchObject({ status: 0, stdout: 'deregistered' });
    expect(smac('load', 'add', 'conns', '3').status).toBe(0);
    expect(JSON.parse(smac('--json', 'load', 'get', 'conns').stdout).counter.sum).toBe(3);
  });

  it('watches a prefix and prints the changes', async () => {
    const w = spawn(process.execPath, [BIN, '--socket', join(dir, 'smac.sock'), '--json', 'watch', 'w/'], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let buf = '';
    w.stdout.on('data', (d: Buffer) => {
      buf += d.toString();
    });
    const until = async (pred: () => boolean) => {
      const end = Date.now() + 15_000;
      while (!pred() && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
    };
    await until(() => buf.includes('"snapshot"'));
    smac('set', 'lww-register', 'w/k', '42');
    await until(() => buf.includes('"w/k"'));
    w.kill('SIGINT');
    // --json: one event per line.
    const events = buf
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { kind: string; key?: string; value?: unknown });
    expect(events[0]?.kind).toBe('snapshot');
    expect(events).toContainEqual(expect.objectContaining({ kind: 'change', key: 'w/k', value: 42 }));
  });

  it('reports errors clearly, with exit codes', () => {
    const missing = smac('get', 'pn-counter', 'nope');
    expect(missing.status).toBe(1);
    expect(missing.stderr).toMatch(/There is no pn-counter "nope" on this agent/);
    const badType = smac('get', 'counter', 'x');
    expect(badType.status).toBe(2);
    expect(badType.stderr).toMatch(/Unknown type counter/);
    const badJson = smac('set', 'lww-register', 'k', '{oops');
    expect(badJson.status).toBe(2);
    expect(badJson.stderr).toMatch(/must be JSON/);
    const noAgent = spawnSync(process.execPath, [BIN, '--socket', join(dir, 'none.sock'), 'status'], {
      encoding: 'utf8',
    });
    expect(noAgent.status).toBe(3);
    expect(noAgent.stderr).toMatch(/Cannot reach the agent at .*none\.sock/);
  });
});
