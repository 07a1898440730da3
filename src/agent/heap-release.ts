/**
 * Hands memory that V8 keeps but no longer uses back to the system once the agent is idle: what
 * `smac agent` runs (run.ts), not the library, since it collects garbage for the whole process.
 *
 * Why: start-up, and any load, grows V8's young generation to 32 MB semi-spaces (64 MB
 * committed) and leaves the old generation with garbage. When the work stops, V8 shrinks the
 * young generation but keeps its pages in a pool, resident; only a memory-reducing GC returns
 * them, and V8's own memory reducer waits until the recent allocation rate is low, which an agent
 * that just started or just served a load reaches only after about two and a half minutes
 * (`node --trace-memory-reducer`). Measured with `npm run bench:idle-memory` (docs/benchmarks.md
 * "Idle memory"): RSS of an idle agent 160-180 MB until then, about 120 MB after.
 *
 * What: every `intervalMs` it reads how busy the process was over the interval (its CPU time, and
 * the event loop's utilization) and its RSS. When it was idle (CPU at most `maxCpu` of a core and
 * the loop busy at most `maxLoop` of the time) and RSS has grown
 * by `growthBytes` since the last release (or there was none yet), it asks V8 for a low-memory
 * collection (the inspector's HeapProfiler.collectGarbage: full, memory-reducing GCs that also
 * free the pooled pages), at most once per `minGapMs`. That pauses the event loop for the GC (about
 * 0.1-0.25 s for a 40 MB heap on a busy 2-core machine), only when the agent had nothing to do.
 */
import { performance, type EventLoopUtilization } from 'node:perf_hooks';

export interface HeapReleasePolicy {
  /** How often load and RSS are read. */
  readonly intervalMs: number;
  /** CPU time over the last interval, as a fraction of one core, at or below which it is idle. */
  readonly maxCpu: number;
  /**
   * Event-loop utilization (0..1) over the last interval at or below which it is idle. Loose:
   * on a host with more runnable processes than cores, an idle agent's callbacks take longer in
   * wall time and its utilization reads 10-20 %; a saturated loop reads near 100 %.
   */
  readonly maxLoop: number;
  /** RSS growth since the last release that is worth a release. */
  readonly growthBytes: number;
  /** At least this long between two releases. */
  readonly minGapMs: number;
}

export const DEFAULT_HEAP_RELEASE: HeapReleasePolicy = {
  intervalMs: 10_000,
  // An idle agent uses about 1-2 % of a core (heartbeats, probes); a loaded one far more.
  maxCpu: 0.1,
  maxLoop: 0.5,
  growthBytes: 32 * 2 ** 20,
  minGapMs: 60_000,
};

/** What the decision needs to remember: when the last release was, and RSS right after it. */
export interface HeapReleaseState {
  readonly lastReleaseAt?: number;
  readonly rssAfterRelease?: number;
}

/** How busy the process was over the last interval: CPU (fraction of a core) and event loop (0..1). */
export interface Busy {
  readonly cpu: number;
  readonly loop: number;
}

/** Whether to release now, given how busy the last interval was and the current RSS. */
export function shouldRelease(
  now: number,
  rss: number,
  busy: Busy,
  state: HeapReleaseState,
  policy: HeapReleasePolicy,
): boolean {
  if (busy.cpu > policy.maxCpu || busy.loop > policy.maxLoop) return false;
  if (state.lastReleaseAt !== undefined && now - state.lastReleaseAt < policy.minGapMs) return false;
  return state.rssAfterRelease === undefined || rss - state.rssAfterRelease >= policy.growthBytes;
}

/** The process-level effects, replaceable in tests. */
export interface HeapReleaseHost {
  now(): number;
  rss(): number;
  /** How busy the process was since the previous call (the first call: since start). */
  busy(): Busy;
  /** Runs the low-memory collection; resolves when it is done. */
  collect(): Promise<void>;
}

export interface HeapRelease {
  /** Runs one check now (the timer calls this); resolves once any release is done. */
  check(): Promise<boolean>;
  stop(): void;
}

/** One release: RSS before and after it (bytes), and how long the collection took (ms). */
export interface HeapReleased {
  readonly rssBefore: number;
  readonly rssAfter: number;
  readonly ms: number;
}

export interface HeapReleaseOptions {
  readonly policy?: HeapReleasePolicy;
  readonly host?: HeapReleaseHost;
  /** Told of each release (run from main.ts: a debug log line). */
  readonly onRelease?: (r: HeapReleased) => void;
}

/** Starts the periodic check (an unref'd timer: it never keeps the process alive). */
export function startHeapRelease(options: HeapReleaseOptions = {}): HeapRelease {
  const policy = options.policy ?? DEFAULT_HEAP_RELEASE;
  const host = options.host ?? processHost();
  let state: HeapReleaseState = {};
  let running = false;
  const check = async (): Promise<boolean> => {
    if (running) return false;
    const busy = host.busy();
    const rssBefore = host.rss();
    const start = host.now();
    if (!shouldRelease(start, rssBefore, busy, state, policy)) return false;
    running = true;
    try {
      await host.collect();
    } finally {
      running = false;
      state = { lastReleaseAt: host.now(), rssAfterRelease: host.rss() };
    }
    options.onRelease?.({ rssBefore, rssAfter: state.rssAfterRelease ?? rssBefore, ms: host.now() - start });
    return true;
  };
  const timer = setInterval(() => {
    check().catch(() => undefined);
  }, policy.intervalMs);
  timer.unref();
  return {
    check,
    stop: () => {
      clearInterval(timer);
    },
  };
}

function processHost(): HeapReleaseHost {
  let lastLoop: EventLoopUtilization = performance.eventLoopUtilization();
  let lastCpu = process.cpuUsage();
  let lastAt = performance.now();
  return {
    now: () => performance.now(),
    rss: () => process.memoryUsage.rss(),
    busy: () => {
      const loop = performance.eventLoopUtilization();
      const cpu = process.cpuUsage();
      const at = performance.now();
      const cpuUs = cpu.user - lastCpu.user + cpu.system - lastCpu.system;
      const busy = {
        cpu: at > lastAt ? cpuUs / 1000 / (at - lastAt) : 0,
        loop: performance.eventLoopUtilization(loop, lastLoop).utilization,
      };
      lastLoop = loop;
      lastCpu = cpu;
      lastAt = at;
      return busy;
    },
    collect: async () => {
      // A node built without the inspector has no node:inspector: then nothing is released.
      const inspector = await import('node:inspector').catch(() => undefined);
      if (inspector === undefined) return;
      await new Promise<void>((resolve) => {
        const session = new inspector.Session();
        session.connect();
        session.post('HeapProfiler.collectGarbage', () => {
          // Not from inside the callback: node 24 then hangs in disconnect (a futex wait).
          setImmediate(() => {
            session.disconnect();
            resolve();
          });
        });
      });
    },
  };
}
