// Request/response over the IPC channel of `child_process.fork`, shared by the replication
// benchmark (replication.js) and its child processes (agent-child.js, etcd-child.js).
// A child serves named commands; the parent calls them and awaits the result. Every call has a
// time limit, so a stuck child fails the run instead of hanging it.
import { fork, spawn } from 'node:child_process';
import { performance } from 'node:perf_hooks';

/** Wall-clock time in ms with sub-ms resolution; comparable across processes on one machine. */
export const wallNow = () => performance.timeOrigin + performance.now();

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Nearest-rank percentile of an ascending array (the same rule as scripts/bench/core.js). */
export function pct(sorted, p) {
  if (sorted.length === 0) return undefined;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/** p50, p99 and max of unsorted latencies (ms), rounded to µs, plus the count. */
export function summarize(values) {
  const sorted = Float64Array.from(values).sort();
  const r = (x) => (x === undefined ? undefined : Math.round(x * 1000) / 1000);
  return { n: sorted.length, p50: r(pct(sorted, 50)), p99: r(pct(sorted, 99)), max: r(sorted.at(-1)) };
}

/**
 * Child side: answers `{ id, cmd, args }` with `{ id, ok, result | error }`. Exits when the
 * parent goes away, after `onDisconnect` (say, a graceful agent stop) has had its chance.
 */
export function serve(handlers, onDisconnect = async () => {}) {
  process.on('message', async ({ id, cmd, args }) => {
    try {
      const handler = handlers[cmd];
      if (!handler) throw new Error(`unknown command ${cmd}`);
      const result = await handler(args ?? {});
      if (process.connected) process.send({ id, ok: true, result });
    } catch (e) {
      if (process.connected) process.send({ id, ok: false, error: e instanceof Error ? e.stack : String(e) });
    }
  });
  process.once('disconnect', () => {
    const hardExit = setTimeout(() => process.exit(1), 5000);
    hardExit.unref();
    Promise.resolve(onDisconnect())
      .catch(() => undefined)
      .finally(() => process.exit(0));
  });
}

/**
 * Parent side: one forked child and its pending calls. With `netns`, the child runs inside that
 * network namespace (`ip netns exec` execs Node, which keeps the IPC channel).
 */
export class ChildProcess {
  constructor(script, name, execArgv = ['--disable-warning=ExperimentalWarning'], { netns } = {}) {
    this.name = name;
    this.pending = new Map();
    this.nextId = 1;
    this.exited = false;
    const stdio = ['ignore', 'inherit', 'inherit', 'ipc'];
    this.proc =
      netns === undefined
        ? fork(script, [], { stdio, execArgv })
        : spawn('ip', ['netns', 'exec', netns, process.execPath, ...execArgv, script], { stdio });
    this.pid = this.proc.pid;
    this.proc.on('message', ({ id, ok, result, error }) => {
      const p = this.pending.get(id);
      if (!p) return;
      this.pending.delete(id);
      clearTimeout(p.timer);
      if (ok) p.resolve(result);
      else p.reject(new Error(`${this.name}: ${error}`));
    });
    this.proc.on('exit', (code, signal) => {
      this.exited = true;
      for (const p of this.pending.values()) {
        clearTimeout(p.timer);
        p.reject(new Error(`${this.name} exited (code ${code}, signal ${signal}) during a call`));
      }
      this.pending.clear();
    });
  }

  call(cmd, args = {}, timeoutMs = 60_000) {
    if (this.exited) return Promise.reject(new Error(`${this.name} has exited`));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`${this.name}: ${cmd} did not answer within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, { resolve, reject, timer });
      this.proc.send({ id, cmd, args });
    });
  }

  /** Resolves once the process has exited, killing it if it has not within `graceMs`. */
  async exit(graceMs = 5000) {
    if (this.exited) return;
    const done = new Promise((resolve) => this.proc.once('exit', resolve));
    const timer = setTimeout(() => this.kill(), graceMs);
    await done;
    clearTimeout(timer);
  }

  kill() {
    if (!this.exited) this.proc.kill('SIGKILL');
  }
}
