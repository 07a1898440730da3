// Preloaded into benchmarked processes (`node --import ./scripts/bench/loop-monitor.js ...`)
// when SMAC_BENCH_LOOP_FILE is set: measures event-loop delay (perf_hooks
// monitorEventLoopDelay, 2 ms resolution), GC pauses (PerformanceObserver 'gc') and CPU time.
// On SIGUSR2 it writes what it measured since the previous SIGUSR2 to that file (written to a
// temp file and renamed, so a reader never sees half of it) and starts over. The agent itself
// installs no SIGUSR2 handler, so the signal is free for this. Without the variable it does
// nothing. On Linux it adds the main thread's own CPU time (/proc/self/task/PID/schedstat: the
// process figure includes libuv's pool and V8's GC threads) and the read and write system
// calls the process made (/proc/self/io: socket and file I/O both count), which depend much
// less on what else the machine runs than any time does.
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { monitorEventLoopDelay, performance, PerformanceObserver } from 'node:perf_hooks';

const file = process.env.SMAC_BENCH_LOOP_FILE;

if (file) {
  const loop = monitorEventLoopDelay({ resolution: 2 });
  loop.enable();
  let gc = { count: 0, totalMs: 0, maxMs: 0 };
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      gc.count++;
      gc.totalMs += e.duration;
      gc.maxMs = Math.max(gc.maxMs, e.duration);
    }
  }).observe({ entryTypes: ['gc'] });
  let seq = 0;
  /** Main-thread CPU ns and read/write syscalls so far, or undefined where /proc has none. */
  const procNow = () => {
    try {
      const sched = readFileSync(`/proc/self/task/${process.pid}/schedstat`, 'utf8').split(' ');
      const io = readFileSync('/proc/self/io', 'utf8');
      const field = (name) => Number(new RegExp(`^${name}: (\\d+)`, 'm').exec(io)?.[1]);
      return { mainNs: Number(sched[0]), syscr: field('syscr'), syscw: field('syscw') };
    } catch {
      return undefined;
    }
  };
  let procFrom = procNow();
  let cpuFrom = process.cpuUsage();
  let wallFrom = performance.now();
  const ms = (ns) => Math.round(ns / 1e4) / 100;
  process.on('SIGUSR2', () => {
    const cpu = process.cpuUsage(cpuFrom);
    const wallMs = performance.now() - wallFrom;
    const mem = process.memoryUsage();
    const procTo = procNow();
    const report = {
      seq: ++seq,
      wallMs: Math.round(wallMs),
      cpuPct: Math.round(((cpu.user + cpu.system) / 1000 / wallMs) * 1000) / 10,
      // Delay beyond the 2 ms timer: 0 for a loop that is never busy when the timer is due.
      loopMs: { p50: ms(loop.percentile(50)), p99: ms(loop.percentile(99)), max: ms(loop.max) },
      gc: {
        count: gc.count,
        totalMs: Math.round(gc.totalMs * 10) / 10,
        maxMs: Math.round(gc.maxMs * 10) / 10,
      },
      rssMb: Math.round(mem.rss / 2 ** 20),
      heapUsedMb: Math.round(mem.heapUsed / 2 ** 20),
      ...(procFrom && procTo
        ? {
            mainCpuMs: Math.round((procTo.mainNs - procFrom.mainNs) / 1e5) / 10,
            syscalls: { read: procTo.syscr - procFrom.syscr, write: procTo.syscw - procFrom.syscw },
          }
        : {}),
    };
    writeFileSync(`${file}.tmp`, JSON.stringify(report));
    renameSync(`${file}.tmp`, file);
    loop.reset();
    gc = { count: 0, totalMs: 0, maxMs: 0 };
    procFrom = procNow();
    cpuFrom = process.cpuUsage();
    wallFrom = performance.now();
  });
}
