// Issue 9, "The CLI and API, as etcdctl and consul users expect", through the real `smac`
// binary against a real agent: --version, a typeless `get`, `ls` with a type column, the
// human `watch` (and its --json stream) that survives an agent restart and gives up with a
// message, `members` as a table, errors in the CLI's own words with documented exit codes,
// and how the CLI finds the agent's socket.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..', '..');
const BIN = join(ROOT, 'dist', 'cli', 'main.js');
let dir = '';
let agent: ChildProcess | undefined;

/** The environment without any SMAC_* setting, so that the tests say where the agent is. */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('SMAC_')) env[k] = v;
  return { ...env, ...extra };
}

async function startAgent(): Promise<void> {
  const p = spawn(
    process.execPath,
    [BIN, 'agent', '--data-dir', dir, '--listen', '/ip4/127.0.0.1/tcp/0', '--log-level', 'warn'],
    { stdio: ['ignore', 'pipe', 'pipe'], env: cleanEnv() },
  );
  agent = p;
  await new Promise<void>((resolve, reject) => {
    createInterface({ input: p.stdout }).once('line', () => {
      resolve();
    });
    p.once('exit', (code) => {
      reject(new Error(`agent exited with ${code}`));
    });
  });
}

/** Whether the process still runs (one killed by a signal has a signalCode, not an exitCode). */
function isRunning(p: ChildProcess | undefined): p is ChildProcess {
  return p?.exitCode === null && p.signalCode === null;
}

async function stopAgent(): Promise<void> {
  const p = agent;
  if (!isRunning(p)) return;
  const exited = new Promise((r) => p.once('exit', r));
  p.kill('SIGKILL');
  await exited;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'smac-cliux-'));
  await startAgent();
}, 30_000);

afterAll(async () => {
  await stopAgent();
  rmSync(dir, { recursive: true, force: true });
});

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

function smac(...args: string[]): Run {
  return smacIn({}, ...args);
}

function smacIn(o: { cwd?: string; env?: Record<string, string>; socket?: boolean }, ...args: string[]): Run {
  const socket = o.socket === false ? [] : ['--socket', join(dir, 'smac.sock')];
  const r = spawnSync(process.execPath, [BIN, ...socket, ...args], {
    encoding: 'utf8',
    cwd: o.cwd ?? ROOT,
    env: cleanEnv(o.env),
  });
  return { status: r.status, stdout: r.stdout.trim(), stderr: r.stderr.trim() };
}

const HTTP_VERB = /\b(GET|PUT|POST|DELETE)\b/;
const STACK = /\n\s+at /;

async function until(pred: () => boolean, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!pred() && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
}

describe('smac, as etcdctl and consul users expect', () => {
  it('prints its version', () => {
    const version = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string })
      .version;
    const r = smacIn({ socket: false }, '--version');
    expect(r.status).toBe(0);
    expect(r.stdout).toBe(version);
  });

  it('gets a key whatever its type', () => {
    expect(smac('inc', 'ux/hits', '3').status).toBe(0);
    const r = smac('get', 'ux/hits');
    expect(r.status).toBe(0);
    expect(r.stdout).toBe('3');
    expect(JSON.parse(smac('--json', 'get', 'ux/hits').stdout)).toMatchObject({
      type: 'pn-counter',
      key: 'ux/hits',
      value: 3,
    });
    const missing = smac('get', 'ux/none');
    expect(missing.status).toBe(1);
    expect(missing.stderr).toMatch(/ux\/none/);
  });

  it('refuses to create a key another type holds, naming that type', () => {
    const r = smac('set', 'lww-register', 'ux/hits', '"x"');
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/pn-counter/);
    expect(r.stderr).not.toMatch(HTTP_VERB);
    expect(smac('get', 'ux/hits').stdout).toBe('3');
  });

  it('lists with a type column under a header', () => {
    smac('set', 'lww-register', 'ux/mode', 'blue');
    const lines = smac('ls', 'ux/').stdout.split('\n');
    expect(lines[0]).toMatch(/^KEY\s+TYPE\s+VALUE$/);
    expect(lines.slice(1).map((l) => l.split(/\s+/).slice(0, 3))).toEqual([
      ['ux/hits', 'pn-counter', '3'],
      ['ux/mode', 'lww-register', 'blue'],
    ]);
  });

  it('shows members as a table marking the local agent', () => {
    const r = smac('members');
    expect(r.status).toBe(0);
    const [header, ...rows] = r.stdout.split('\n');
    expect(header).toMatch(/^\s*ID\s+ADDRESS\s+REGION\s+STATUS/);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatch(/^\* 12D3KooW\S+\s+\/ip4\/127\.0\.0\.1\/tcp\/\d+\s+default\s+alive/);
  });

  it('refuses a missing value instead of storing null', () => {
    for (const args of [
      ['set', 'lww-register', 'ux/empty'],
      ['add', 'aw-set', 'ux/set'],
    ]) {
      const r = smac(...args);
      expect(r.status, args.join(' ')).toBe(2);
      expect(r.stderr, args.join(' ')).toMatch(/value/i);
    }
    expect(smac('get', 'ux/empty').status).toBe(1);
  });

  it('says what is missing in its own words, without HTTP verbs', () => {
    const r = smac('get', 'pn-counter', 'ux/nope');
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^smac: /);
    expect(r.stderr).toMatch(/ux\/nope/);
    expect(r.stderr).not.toMatch(HTTP_VERB);
    const del = smac('del', 'aw-set', 'ux/nope');
    expect(del.status).toBe(1);
    expect(del.stderr).not.toMatch(HTTP_VERB);
  });

  it('finds the agent through the default data directory, and lists where it looked when it cannot', () => {
    const cwd = mkdtempSync(join(tmpdir(), 'smac-cwd-'));
    try {
      const lost = smacIn({ cwd, socket: false }, 'status');
      expect(lost.status).toBe(3);
      expect(lost.stderr).toContain(join(cwd, '.smac-data', 'smac.sock'));
      expect(lost.stderr).toContain('/run/smac/smac.sock');
      expect(lost.stderr).toMatch(/--socket|SMAC_SOCKET/);
      expect(lost.stderr).not.toMatch(STACK);

      expect(smacIn({ cwd, socket: false, env: { SMAC_DATA_DIR: dir } }, 'get', 'ux/hits').stdout).toBe('3');
      expect(
        smacIn({ cwd, socket: false, env: { SMAC_SOCKET: join(dir, 'smac.sock') } }, 'get', 'ux/hits').stdout,
      ).toBe('3');
      mkdirSync(join(cwd, 'sub'));
      symlinkSync(dir, join(cwd, 'sub', '.smac-data'));
      expect(smacIn({ cwd: join(cwd, 'sub'), socket: false }, 'get', 'ux/hits').stdout).toBe('3');
    } finally {
      rmSync(cwd, { recursive: true, force: true });
    }
  });

  it('exits 2 on bad configuration and says a port is in use, without a stack trace', () => {
    const bad = smacIn({ socket: false }, 'agent', '--sync-interval-ms', 'abc', '--data-dir', join(dir, 'x'));
    expect(bad.status).toBe(2);
    const status = JSON.parse(smac('--json', 'status').stdout) as { addresses: string[] };
    const port = /\/tcp\/(\d+)/.exec(status.addresses[0] ?? '')?.[1] ?? '0';
    const other = mkdtempSync(join(tmpdir(), 'smac-other-'));
    try {
      const r = spawnSync(
        process.execPath,
        [
          BIN,
          'agent',
          '--data-dir',
          other,
          '--listen',
          `/ip4/127.0.0.1/tcp/${port}`,
          '--log-level',
          'silent',
        ],
        { encoding: 'utf8', env: cleanEnv(), timeout: 20_000 },
      );
      expect(r.status).toBe(2);
      expect(r.stderr).toMatch(new RegExp(`127\\.0\\.0\\.1/tcp/${port}.*in use`));
      expect(r.stderr).not.toMatch(STACK);
    } finally {
      rmSync(other, { recursive: true, force: true });
    }
  }, 30_000);

  it('watches with one line per change, resumes across an agent restart, and gives up with a message', async () => {
    const human = spawn(
      process.execPath,
      // Long enough for an agent restart on a loaded machine (3 s was not: the watch gave up
      // while the agent was still starting, and never saw w/b).
      [BIN, '--socket', join(dir, 'smac.sock'), 'watch', 'w/', '--retry-for', '20'],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: cleanEnv(),
      },
    );
    const raw = spawn(process.execPath, [BIN, '--socket', join(dir, 'smac.sock'), '--json', 'watch', 'w/'], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: cleanEnv(),
    });
    let out = '';
    let err = '';
    let rawOut = '';
    human.stdout.on('data', (d: Buffer) => (out += d.toString()));
    human.stderr.on('data', (d: Buffer) => (err += d.toString()));
    raw.stdout.on('data', (d: Buffer) => (rawOut += d.toString()));
    try {
      await until(() => rawOut.includes('snapshot'));
      await new Promise((r) => setTimeout(r, 300));
      smac('set', 'lww-register', 'w/a', '{"n":1}');
      await until(() => out.includes('w/a'));
      const line = out.split('\n').find((l) => l.includes('w/a')) ?? '';
      expect(line).toMatch(/^\d{2}:\d{2}:\d{2}(\.\d{3})?\s+lww-register\s+w\/a\s+\{"n":1\}$/);
      await until(() => rawOut.includes('w/a'));
      // --json: one JSON document per line.
      const docs = rawOut
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { kind: string; key?: string });
      expect(docs[0]?.kind).toBe('snapshot');
      expect(docs.some((d) => d.kind === 'change' && d.key === 'w/a')).toBe(true);

      // The agent restarts: the watch resumes from its cursor and sees the next change once.
      await stopAgent();
      await new Promise((r) => setTimeout(r, 500));
      await startAgent();
      smac('set', 'lww-register', 'w/b', '2');
      await until(() => out.includes('w/b'), 40_000);
      expect(out.split('\n').filter((l) => l.includes('w/a'))).toHaveLength(1);
      expect(out).toMatch(/\s+lww-register\s+w\/b\s+2\n/);
      expect(err).toMatch(/reconnect/i);

      // The agent goes away for good: the watch gives up after --retry-for, exit 3.
      const exited = new Promise<number | null>((r) => human.once('exit', r));
      await stopAgent();
      const code = await Promise.race([
        exited,
        new Promise((r) => {
          setTimeout(() => {
            r('still running');
          }, 45_000);
        }),
      ]);
      expect(code).toBe(3);
      expect(err).toMatch(/gave up/i);
      expect(err).not.toMatch(STACK);
    } finally {
      human.kill('SIGKILL');
      raw.kill('SIGKILL');
      if (!isRunning(agent)) await startAgent();
    }
  }, 150_000);
});
