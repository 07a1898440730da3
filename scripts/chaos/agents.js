// Real agent processes, one per network namespace: start, SIGKILL, SIGSTOP/SIGCONT, restart,
// and store loss (kill, delete smac.db*, keep identity.key, restart). The REST API is the
// agent's Unix socket in its data directory, reachable from here because it is a file.
import { spawn } from 'node:child_process';
import { createWriteStream, mkdirSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

const ROOT = join(import.meta.dirname, '..', '..');
/** The CLI the agents run: this tree's build, or SMAC_CHAOS_BIN (to try another build). */
export const BIN = process.env.SMAC_CHAOS_BIN ?? join(ROOT, 'dist', 'cli', 'main.js');

/** Polls `probe` every `everyMs` until it returns a truthy value or `timeoutMs` passes. */
export async function waitUntil(probe, what, timeoutMs, everyMs = 100) {
  const deadline = Date.now() + timeoutMs;
  for (let i = 0; ; i++) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > deadline || i > 100_000) throw new Error(`timed out after ${timeoutMs} ms: ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** How long a start may take to report ready: generous, the machine is shared and loaded. */
const START_WAIT_MS = 90_000;

export class ChaosAgent {
  /**
   * `net` is a ChaosNet or a WanEmulator (scripts/wan): with `addrFrom`, joins go through the
   * region's proxies. `tuning: false` runs the agent with default timings (no chaos tuning).
   * `joinTo`: the indices of the agents it joins (default: every other slot of `net`); a
   * joiner started during a split joins one member (nemesis-splits.js).
   */
  constructor({
    index,
    net,
    dir,
    clusterKey,
    snapshotEvery,
    logLevel,
    tuning = true,
    extraArgs = [],
    joinTo = undefined,
  }) {
    this.tuning = tuning;
    this.joinTo = joinTo;
    this.extraArgs = extraArgs;
    this.index = index;
    this.net = net;
    this.dir = dir;
    this.dataDir = join(dir, 'data');
    this.socket = join(this.dataDir, 'smac.sock');
    this.clusterKey = clusterKey;
    this.snapshotEvery = snapshotEvery;
    this.logLevel = logLevel;
    this.child = undefined;
    /** 'running' | 'stopped' (SIGSTOP) | 'dead' */
    this.state = 'dead';
    this.starts = 0;
    /** Times (ms) of the store losses of this agent. */
    this.storeLosses = [];
    /** Time of the latest death (kill or exit), for classifying requests that broke then. */
    this.diedAt = 0;
    /** When the latest SIGKILL was sent: a request broken after it broke because the agent died. */
    this.killSentAt = 0;
    /** Exits nobody asked for (a crash): { at, code, signal, tail }. The run fails on any. */
    this.crashes = [];
    this.peerId = undefined;
    mkdirSync(this.dataDir, { recursive: true, mode: 0o700 });
  }

  get name() {
    return `a${this.index}`;
  }

  args() {
    const joins = [];
    const count = this.net.count ?? this.net.regions.length;
    for (let j = 0; j < count; j++) {
      if (this.joinTo !== undefined && !this.joinTo.includes(j)) continue;
      const host = this.net.addrFrom ? this.net.addrFrom(this.index, j) : this.net.addr(j);
      if (j !== this.index) joins.push('--join', `/ip4/${host}/tcp/7946`);
    }
    const tuning = this.tuning
      ? [
          '--snapshot-every-events',
          String(this.snapshotEvery),
          '--sync-interval-ms',
          '500',
          '--heartbeat-interval-ms',
          '200',
        ]
      : [];
    return [
      BIN,
      'agent',
      '--data-dir',
      this.dataDir,
      '--listen',
      `/ip4/${this.net.addr(this.index)}/tcp/7946`,
      ...joins,
      '--cluster-key',
      this.clusterKey,
      '--api-socket',
      this.socket,
      '--api-host',
      '',
      ...tuning,
      '--region',
      this.net.regions?.[this.index] ?? `r${this.index}`,
      '--log-level',
      this.logLevel,
      ...this.extraArgs,
    ];
  }

  /** Starts the process in its namespace and waits for its ready line (bounded). */
  async start() {
    if (this.destroyed) throw new Error(`${this.name} was torn down`);
    if (this.state !== 'dead') throw new Error(`${this.name} is already running`);
    this.starts++;
    const startedAt = Date.now();
    const log = createWriteStream(join(this.dir, `agent.log`), { flags: 'a' });
    log.write(`--- start ${this.starts} at ${new Date().toISOString()}\n`);
    const child = spawn('ip', ['netns', 'exec', this.net.ns(this.index), process.execPath, ...this.args()], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    this.state = 'running';
    child.stderr.pipe(log, { end: false });
    const exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        log.write(`--- exit code=${code} signal=${signal}\n`);
        if (this.child === child && this.killSentAt < startedAt && !this.destroyed)
          this.crashes.push({ at: Date.now(), code, signal, tail: this.logTail(8) });
        if (this.child === child) {
          this.state = 'dead';
          this.diedAt = Date.now();
          this.child = undefined;
        }
        resolve({ code, signal });
      });
    });
    this.exited = exited;
    const ready = await Promise.race([
      new Promise((resolve) => {
        createInterface({ input: child.stdout }).once('line', (line) => {
          resolve(line);
        });
      }),
      exited.then(({ code, signal }) => {
        // The run directory goes at teardown (unless --keep): say why here.
        throw new Error(
          `${this.name} exited at start (code ${code}, signal ${signal}); the end of ${this.dir}/agent.log:\n    ${this.logTail(3)}`,
        );
      }),
      new Promise((_, reject) =>
        setTimeout(() => {
          reject(new Error(`${this.name} did not report ready within ${START_WAIT_MS} ms`));
        }, START_WAIT_MS).unref(),
      ),
    ]);
    const info = JSON.parse(String(ready));
    this.peerId = info.peerId;
    return info;
  }

  /** The last `n` lines of the agent's log (stderr), for error messages. */
  logTail(n) {
    try {
      return readFileSync(join(this.dir, 'agent.log'), 'utf8').trimEnd().split('\n').slice(-n).join('\n    ');
    } catch {
      return '(no log)';
    }
  }

  /** What the agent is doing now, for an error message: state, pid, crashes, log tail. */
  describe() {
    const crash = this.crashes.at(-1);
    return `${this.name} is ${this.state}${this.child ? ` (pid ${this.child.pid})` : ''}${crash ? `; it exited on its own (code ${crash.code}, signal ${crash.signal})` : ''}; the end of ${this.dir}/agent.log:\n    ${this.logTail(5)}`;
  }

  /** SIGKILL, and wait for the exit (bounded). */
  async kill() {
    const child = this.child;
    if (!child) return;
    this.killSentAt = Date.now();
    child.kill('SIGKILL');
    if (this.state === 'stopped') child.kill('SIGCONT');
    await Promise.race([this.exited, new Promise((r) => setTimeout(r, 10_000).unref())]);
    if (this.state !== 'dead') throw new Error(`${this.name} did not die after SIGKILL`);
  }

  pause() {
    if (this.state !== 'running') return false;
    this.child.kill('SIGSTOP');
    this.state = 'stopped';
    return true;
  }

  resume() {
    if (this.state !== 'stopped') return;
    this.child.kill('SIGCONT');
    this.state = 'running';
  }

  /** Deletes the store (smac.db and its -wal/-shm files), keeping identity.key. Agent must be dead. */
  deleteStore() {
    if (this.state !== 'dead') throw new Error(`${this.name} must be dead before its store is deleted`);
    const removed = [];
    for (const f of readdirSync(this.dataDir)) {
      if (f.startsWith('smac.db')) {
        rmSync(join(this.dataDir, f), { force: true });
        removed.push(f);
      }
    }
    this.storeLosses.push(Date.now());
    return removed;
  }

  /** Best-effort final stop (SIGCONT + SIGKILL); never throws. */
  async destroy() {
    this.destroyed = true;
    try {
      await this.kill();
    } catch {
      // already gone, or it will go with its namespace
    }
  }
}
