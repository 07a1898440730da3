// Helpers of scripts/bench/write-path.js: SMAC agents as `node dist/cli/main.js agent`
// processes (the loop monitor preloaded, optionally under --cpu-prof), a keep-alive HTTP
// client for their Unix socket, and a registry that removes every process and temp dir however
// the run ends. Everything listens on 127.0.0.1 or a socket in a temp dir.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sleep } from './ipc.js';

const here = dirname(fileURLToPath(import.meta.url));
export const root = join(here, '..', '..');
// SMAC_BENCH_MAIN: another entry point to run instead (e.g. the bundle, dist/bundle/main.js).
const mainJs = process.env.SMAC_BENCH_MAIN ?? join(root, 'dist', 'cli', 'main.js');
const monitor = join(here, 'loop-monitor.js');

/** Processes and temp dirs of this run; `cleanup()` removes them all (also on exit and signals). */
export class Registry {
  constructor(note) {
    this.note = note;
    this.procs = new Set();
    this.dirs = new Set();
    process.on('exit', () => this.cleanup());
    for (const sig of ['SIGINT', 'SIGTERM']) {
      process.on(sig, () => {
        note(`${sig}: stopping children and removing temp dirs`);
        this.cleanup();
        process.exit(130);
      });
    }
  }

  track(p) {
    this.procs.add(p);
    p.once('exit', () => this.procs.delete(p));
    return p;
  }

  tempDir(prefix) {
    const d = mkdtempSync(join(tmpdir(), prefix));
    this.dirs.add(d);
    return d;
  }

  cleanup() {
    for (const p of this.procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
    for (const d of this.dirs) rmSync(d, { recursive: true, force: true });
    this.procs.clear();
    this.dirs.clear();
  }
}

/** Node flags for a benchmarked process: the loop monitor, and a CPU profile when asked for. */
export function nodeFlags(cpuProfDir, name) {
  const flags = ['--disable-warning=ExperimentalWarning', '--import', monitor];
  // Extra Node/V8 flags for every agent (say `--single-threaded-gc`), to try runtime settings.
  flags.push(...(process.env.SMAC_BENCH_NODE_FLAGS ?? '').split(' ').filter(Boolean));
  if (cpuProfDir)
    flags.push('--cpu-prof', `--cpu-prof-dir=${cpuProfDir}`, `--cpu-prof-name=${name}.cpuprofile`);
  return flags;
}

/** Keep-alive HTTP over a Unix socket; resolves to the body text, rejects on non-2xx. */
export function socketClient(socketPath, maxSockets) {
  // Idle connections close after 4 s, before the agent's keep-alive timeout, as the SDK does:
  // a client that never closes them races the server's close (docs/api.md "Connections").
  const agent = new http.Agent({ keepAlive: true, maxSockets, timeout: 4_000 });
  const request = (method, path, body) =>
    new Promise((resolve, reject) => {
      const headers =
        body === undefined
          ? {}
          : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) };
      const req = http.request({ socketPath, agent, method, path, headers }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c) => (text += c));
        res.on('end', () =>
          res.statusCode >= 200 && res.statusCode < 300
            ? resolve(text)
            : reject(new Error(`${method} ${path}: HTTP ${res.statusCode} ${text.slice(0, 300)}`)),
        );
        res.on('error', reject);
      });
      req.setTimeout(30_000, () => req.destroy(new Error(`${method} ${path}: no answer within 30 s`)));
      req.on('error', reject);
      req.end(body);
    });
  return {
    request,
    json: async (method, path, body) => JSON.parse(await request(method, path, body)),
    close: () => agent.destroy(),
  };
}

/**
 * Starts an agent process and waits for its ready line. `opts`: { dataDir, join, region,
 * extra (CLI flags), cpuProfDir, nodeFlags, monitor (false: without loop-monitor.js), main (the
 * entry point; default dist/cli/main.js or SMAC_BENCH_MAIN) }. Returns { name, proc, pid, peerId, addresses, ctl, loop() }.
 */
export async function startAgentProc(reg, name, opts) {
  mkdirSync(opts.dataDir, { recursive: true });
  const loopFile = join(opts.dataDir, 'loop.json');
  const argv = [
    ...(opts.monitor === false ? [] : nodeFlags(opts.cpuProfDir, `agent-${name}`)),
    ...(opts.nodeFlags ?? []),
    opts.main ?? mainJs,
    'agent',
    '--data-dir',
    opts.dataDir,
    '--listen',
    '/ip4/127.0.0.1/tcp/0',
    '--log-level',
    'warn',
    '--region',
    opts.region ?? name,
    ...(opts.join ?? []).flatMap((a) => ['--join', a]),
    ...(opts.extra ?? []),
  ];
  const env = { ...process.env, SMAC_BENCH_LOOP_FILE: loopFile };
  const proc = reg.track(spawn(process.execPath, argv, { stdio: ['ignore', 'pipe', 'pipe'], env }));
  let stderr = '';
  proc.stderr.on('data', (d) => (stderr = (stderr + d.toString()).slice(-4000)));
  const ready = await new Promise((resolve, reject) => {
    let out = '';
    const fail = (why) => {
      clearTimeout(timer);
      reject(new Error(`agent ${name} ${why}: ${stderr}`));
    };
    const timer = setTimeout(() => fail('not ready within 60 s'), 60_000);
    proc.once('exit', (code, signal) => fail(`exited (code ${code}, signal ${signal}) before ready`));
    proc.stdout.on('data', (d) => {
      out += d.toString();
      const nl = out.indexOf('\n');
      if (nl < 0) return;
      clearTimeout(timer);
      try {
        resolve(JSON.parse(out.slice(0, nl)));
      } catch (e) {
        reject(new Error(`agent ${name}: unexpected first line ${out.slice(0, nl)} (${e})`));
      }
    });
  });
  const ctl = socketClient(ready.api.socket, 4);
  return {
    name,
    proc,
    pid: proc.pid,
    peerId: ready.peerId,
    addresses: ready.addresses,
    socketPath: ready.api.socket,
    ctl,
    loop: () => loopReport(proc, loopFile),
    status: () => ctl.json('GET', '/v1/status'),
  };
}

/**
 * Asks a process running loop-monitor.js for what it measured since the last ask (and resets
 * it). Waits up to 10 s for the report; undefined if none came.
 */
export async function loopReport(proc, file) {
  const before = existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')).seq : 0;
  proc.kill('SIGUSR2');
  for (let i = 0; i < 200; i++) {
    await sleep(50);
    if (!existsSync(file)) continue;
    const r = JSON.parse(readFileSync(file, 'utf8'));
    if (r.seq > before) return r;
  }
  return undefined;
}

/** SIGTERM (a graceful leave, which also writes a CPU profile), SIGKILL after `graceMs`. */
export function terminate(proc, graceMs = 10_000) {
  return new Promise((resolve) => {
    if (proc.exitCode !== null || proc.signalCode !== null) return resolve();
    const t = setTimeout(() => proc.kill('SIGKILL'), graceMs);
    proc.once('exit', () => {
      clearTimeout(t);
      resolve();
    });
    proc.kill('SIGTERM');
  });
}

/** Polls `cond` every `everyMs` until true; throws after `timeoutMs`. */
export async function until(what, cond, timeoutMs = 30_000, everyMs = 50) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await cond()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

/** Share of the last 60 s in which some runnable task waited for a CPU (Linux PSI), in %. */
export function cpuPressure() {
  try {
    const m = /some avg10=[\d.]+ avg60=([\d.]+)/.exec(readFileSync('/proc/pressure/cpu', 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** Runs a benchmark's `main`, then removes what `reg` holds and exits (1 after an error). */
export function runMain(main, reg, note) {
  main().then(
    () => {
      reg.cleanup();
      process.exit(0);
    },
    (e) => {
      note(e instanceof Error ? e.stack : String(e));
      reg.cleanup();
      process.exit(1);
    },
  );
}
