// Preloaded into an agent by scripts/bench/idle-memory.js (`node --import ./mem-probe.js ...`)
// when SMAC_BENCH_MEM_FILE is set. On SIGUSR2 it writes to that file (a temp file renamed, so a
// reader never sees half of it) where the process's memory is: process.memoryUsage() and
// /proc/self/status (RssAnon, RssFile) before and after a full GC, V8's heap spaces and code
// statistics, and RSS summed by mapping (/proc/self/smaps). With SMAC_BENCH_MEM_SNAPSHOT=<path> it
// also writes a heap snapshot there. Without the variable it does nothing.
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { registerHooks } from 'node:module';
import { Session } from 'node:inspector';
import v8 from 'node:v8';
import vm from 'node:vm';

const file = process.env.SMAC_BENCH_MEM_FILE;
const MB = 2 ** 20;

function usage() {
  const m = process.memoryUsage();
  const st = readFileSync('/proc/self/status', 'utf8');
  const field = (k) => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(st)?.[1] ?? NaN);
  return {
    rss: m.rss / MB,
    heapTotal: m.heapTotal / MB,
    heapUsed: m.heapUsed / MB,
    external: m.external / MB,
    arrayBuffers: m.arrayBuffers / MB,
    rssAnon: field('RssAnon') / 1024,
    rssFile: field('RssFile') / 1024,
    threads: field('Threads'),
  };
}

/** RSS (MB) summed by mapping name ([anon] for unnamed), largest first. */
function smapsByName() {
  const groups = {};
  let name = '';
  for (const line of readFileSync('/proc/self/smaps', 'utf8').split('\n')) {
    const h = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (h) {
      name = h[1] || '[anon]';
      continue;
    }
    const r = /^Rss:\s+(\d+) kB/.exec(line);
    if (r) groups[name] = (groups[name] ?? 0) + Number(r[1]) / 1024;
  }
  return Object.entries(groups)
    .sort((a, b) => b[1] - a[1])
    .slice(0, 15);
}

/** Source characters loaded per package (or node: builtin group), from a module load hook. */
const loaded = new Map();
function packageOf(url) {
  const nm = url.lastIndexOf('/node_modules/');
  if (nm >= 0) {
    const rest = url.slice(nm + 14).split('/');
    return rest[0].startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0];
  }
  const dist = /\/dist\/([^/]+)\//.exec(url);
  return dist ? `smac dist/${dist[1]}` : url.startsWith('node:') ? 'node: builtins' : url;
}

if (file && process.env.SMAC_BENCH_MEM_MODULES === '1') {
  registerHooks({
    load(url, context, nextLoad) {
      const r = nextLoad(url, context);
      const len = r.source === undefined || r.source === null ? 0 : r.source.length;
      const p = packageOf(url);
      const e = loaded.get(p) ?? { modules: 0, chars: 0 };
      e.modules += 1;
      e.chars += len;
      loaded.set(p, e);
      return r;
    },
  });
}

/** V8's heap spaces: name -> { size, used } in MB. */
function spaceSizes() {
  return Object.fromEntries(
    v8
      .getHeapSpaceStatistics()
      .map((s) => [s.space_name, { size: s.space_size / MB, used: s.space_used_size / MB }]),
  );
}

if (file) {
  let seq = 0;
  let gc;
  process.on('SIGUSR2', () => {
    // Only now, so that the probe changes nothing in the process until it is asked.
    if (gc === undefined) {
      v8.setFlagsFromString('--expose-gc');
      gc = vm.runInNewContext('gc');
    }
    const before = usage();
    const spacesBefore = spaceSizes();
    gc();
    const after = usage();
    const spaces = spaceSizes();
    // Then what the inspector's collectGarbage (a low-memory notification: memory-reducing full
    // GCs that also free the pages V8 pooled) leaves.
    const session = new Session();
    session.connect();
    session.post('HeapProfiler.collectGarbage', () =>
      // Not from inside the callback: node 24 then hangs in disconnect.
      setImmediate(() => {
        session.disconnect();
        const afterAll = usage();
        const c = v8.getHeapCodeStatistics();
        const snapshot = process.env.SMAC_BENCH_MEM_SNAPSHOT
          ? v8.writeHeapSnapshot(process.env.SMAC_BENCH_MEM_SNAPSHOT)
          : undefined;
        const report = {
          seq: ++seq,
          before,
          after,
          afterAll,
          spacesBefore,
          spaces,
          code: { code: c.code_and_metadata_size / MB, bytecode: c.bytecode_and_metadata_size / MB },
          smaps: smapsByName(),
          loaded: [...loaded].sort((a, b) => b[1].chars - a[1].chars),
          snapshot,
        };
        writeFileSync(`${file}.tmp`, JSON.stringify(report));
        renameSync(`${file}.tmp`, file);
      }),
    );
  });
}
