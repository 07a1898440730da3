#!/usr/bin/env node
// Where an idle agent's memory goes (issue 8, "Idle per agent: RSS ≤ 100 MB"). Run with
// `npm run build && node scripts/bench/idle-memory.js` (options below). Starts --agents real
// `smac agent` processes (dist/cli/main.js) on loopback, all joined to the first, with
// mem-probe.js preloaded (it does nothing until asked); waits until every agent's failure
// detector holds all of them alive, reads each agent's RSS from /proc every 5 s for --settle s,
// then asks each agent for its breakdown (mem-probe.js: process.memoryUsage
// before and after a full GC, V8 heap spaces, code statistics, RSS by mapping). Prints the
// per-agent figures and the median over agents. Everything listens on 127.0.0.1; processes and
// temp dirs are removed however the run ends; every wait is bounded.
// With --load N, each agent then takes N pn-counter increments through its API (16 in flight),
// and RSS is read every 5 s for --after s more before the breakdown.
// Options: --agents 3 --settle 20 --load 0 --after 60 --node-flags "<flags for the agents' node>" --json
//          --modules (count the module source loaded per package: a load hook, which itself
//          costs heap) --extra "<agent CLI flags>" --snapshot FILE (also a heap snapshot of agent 0, written to FILE)
//          --unbundled (run dist/cli/main.js, as the tests do, instead of the bundle dist/bundle/main.js
//          that `npm start` and the image run) --main FILE (run this agent entry instead, e.g. a copy of
//          an earlier build's dist/bundle/ at DIR/x/bundle/, with DIR holding package.json and
//          node_modules (a symlink will do): both builds can then run in turn)
import { existsSync, readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { Registry, root, startAgentProc, until } from './agent-procs.js';
import { sleep } from './ipc.js';

const argv = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < argv.length ? argv[i + 1] : dflt;
};
const N = Number(opt('agents', 3));
const SETTLE_S = Number(opt('settle', 20));
if (!Number.isInteger(N) || N < 1 || N > 16) throw new Error('--agents: an integer 1..16');
if (!Number.isFinite(SETTLE_S) || SETTLE_S < 0 || SETTLE_S > 600) throw new Error('--settle: 0..600 s');
const nodeFlagsExtra = String(opt('node-flags', '')).split(' ').filter(Boolean);
const extra = String(opt('extra', '')).split(' ').filter(Boolean);
const SNAPSHOT = opt('snapshot', undefined);
const LOAD = Number(opt('load', 0));
const AFTER_S = Number(opt('after', 60));
if (!Number.isInteger(LOAD) || LOAD < 0 || LOAD > 1_000_000) throw new Error('--load: 0..1000000 writes');
if (!Number.isFinite(AFTER_S) || AFTER_S < 0 || AFTER_S > 600) throw new Error('--after: 0..600 s');
const asJson = argv.includes('--json');
const MODULES = argv.includes('--modules');
const MAIN_OPT = opt('main', undefined);
const MAIN = MAIN_OPT
  ? resolve(MAIN_OPT)
  : join(root, 'dist', argv.includes('--unbundled') ? 'cli' : 'bundle', 'main.js');
const note = (msg) => process.stderr.write(`[idle-memory] ${msg}\n`);
const probe = join(import.meta.dirname, 'mem-probe.js');

const reg = new Registry(note);

/** Sends SIGUSR2 and waits up to 30 s for the probe's report (a new `seq`). */
async function report(agent, file) {
  const before = existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')).seq : 0;
  agent.proc.kill('SIGUSR2');
  for (let i = 0; i < 600; i++) {
    await sleep(50);
    if (!existsSync(file)) continue;
    const r = JSON.parse(readFileSync(file, 'utf8'));
    if (r.seq > before) return r;
  }
  throw new Error(`agent ${agent.name}: no memory report within 30 s`);
}

/** RSS as `ps` shows it, read from outside every 5 s for `seconds` (the probe does nothing meanwhile). */
async function watch(agents, seconds) {
  const out = [];
  const t0 = Date.now();
  for (;;) {
    const t = (Date.now() - t0) / 1000;
    out.push({ t: Math.round(t), rss: agents.map((a) => procRssMb(a.pid)) });
    if (t >= seconds) return out;
    await sleep(Math.min(5, seconds - t) * 1000);
  }
}

/** `count` pn-counter increments through the agent's API socket, `inflight` at a time. */
async function drive(ctl, count, inflight) {
  const body = JSON.stringify({ kind: 'increment', by: 1 });
  let issued = 0;
  const worker = async () => {
    while (issued < count) {
      const i = issued++;
      await ctl.request('POST', `/v1/objects/pn-counter/load/c${i % 1024}`, body);
    }
  };
  await Promise.all(Array.from({ length: inflight }, worker));
}

function procRssMb(pid) {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor((s.length - 1) / 2)];
};

async function main() {
  const dir = reg.tempDir('smac-idle-mem-');
  const agents = [];
  const files = [];
  const start = async (i, joinAddrs) => {
    const dataDir = join(dir, `a${i}`);
    const file = join(dir, `mem-a${i}.json`);
    process.env.SMAC_BENCH_MEM_FILE = file;
    process.env.SMAC_BENCH_MEM_MODULES = MODULES ? '1' : '';
    process.env.SMAC_BENCH_MEM_SNAPSHOT = SNAPSHOT && i === 0 ? SNAPSHOT : '';
    const a = await startAgentProc(reg, `a${i}`, {
      dataDir,
      join: joinAddrs,
      extra,
      nodeFlags: ['--import', probe, ...nodeFlagsExtra],
      monitor: false,
      main: MAIN,
    });
    files[i] = file;
    return a;
  };
  agents.push(await start(0, []));
  const seed = agents[0].addresses.filter((a) => a.includes('127.0.0.1'));
  for (let i = 1; i < N; i++) agents.push(await start(i, seed));
  await until(
    `all ${N} alive at every agent`,
    async () => {
      const counts = await Promise.all(
        agents.map(async (a) => (await a.ctl.json('GET', '/v1/members?status=alive')).members.length),
      );
      return counts.every((c) => c >= N);
    },
    240_000,
    200,
  );
  note(`all ${N} alive; settling ${SETTLE_S} s`);
  const series = await watch(agents, SETTLE_S);
  let afterLoad;
  if (LOAD > 0) {
    note(`load: ${LOAD} increments per agent, 16 in flight each`);
    const t = Date.now();
    await Promise.all(agents.map((a) => drive(a.ctl, LOAD, 16)));
    note(`load done in ${((Date.now() - t) / 1000).toFixed(1)} s; watching ${AFTER_S} s`);
    afterLoad = await watch(agents, AFTER_S);
  }
  const reports = [];
  for (let i = 0; i < N; i++) reports.push(await report(agents[i], files[i]));
  // V8 hands freed pages back on a background task: RSS again a little after the GCs.
  await sleep(5000);
  const rssLater = agents.map((a) => procRssMb(a.pid));
  const load = loadavg().map((l) => l.toFixed(1));
  if (asJson) {
    process.stdout.write(
      JSON.stringify(
        { agents: N, settleS: SETTLE_S, loadavg: load, series, afterLoad, rssLater, reports },
        null,
        1,
      ) + '\n',
    );
  } else {
    const r1 = (x) => (Math.round(x * 10) / 10).toFixed(1);
    const rows = [
      ['RSS', (r) => r.before.rss],
      ['RSS after full GC', (r) => r.after.rss],
      ['  RssAnon', (r) => r.after.rssAnon],
      ['RSS after collecting all garbage', (r) => r.afterAll.rss],
      ['  RssAnon', (r) => r.afterAll.rssAnon],
      ['RSS from /proc 5 s later', (r) => rssLater[reports.indexOf(r)]],
      ['  RssFile', (r) => r.after.rssFile],
      ['heapTotal', (r) => r.before.heapTotal],
      ['heapUsed', (r) => r.before.heapUsed],
      ['heapUsed after full GC', (r) => r.after.heapUsed],
      ['heapTotal after full GC', (r) => r.after.heapTotal],
      ['external', (r) => r.after.external],
      ['arrayBuffers', (r) => r.after.arrayBuffers],
      ['code + metadata', (r) => r.code.code],
      ['bytecode + metadata', (r) => r.code.bytecode],
      ['RssAnon - heapTotal (malloc, pooled pages)', (r) => r.after.rssAnon - r.after.heapTotal],
    ];
    for (const space of Object.keys(reports[0].spaces)) {
      if (reports.every((r) => r.spacesBefore[space].size < 0.05 && r.spaces[space].size < 0.05)) continue;
      rows.push([
        `  ${space} size/used`,
        (r) => r.spacesBefore[space].size,
        (r) => r.spacesBefore[space].used,
      ]);
      rows.push([`  ${space} size/used after GC`, (r) => r.spaces[space].size, (r) => r.spaces[space].used]);
    }
    process.stdout.write(
      `agents ${N}, settle ${SETTLE_S} s, load average ${load.join(' ')}; MB, median (per agent)\n`,
    );
    process.stdout.write(`RSS from /proc, s after all alive: median (per agent)\n`);
    for (const { t, rss } of series)
      process.stdout.write(
        `  ${String(t).padStart(4)} s ${r1(median(rss)).padStart(7)}   (${rss.map(r1).join(', ')})\n`,
      );
    if (afterLoad) {
      process.stdout.write(
        `RSS from /proc, s after the load (${LOAD} writes per agent) ended: median (per agent)\n`,
      );
      for (const { t, rss } of afterLoad)
        process.stdout.write(
          `  ${String(t).padStart(4)} s ${r1(median(rss)).padStart(7)}   (${rss.map(r1).join(', ')})\n`,
        );
    }
    process.stdout.write(`At the end, from the probe in each agent:\n`);
    for (const [name, f, g] of rows) {
      const vals = reports.map(f);
      const g2 = g ? ` / ${r1(median(reports.map(g)))}` : '';
      process.stdout.write(
        `${name.padEnd(40)} ${r1(median(vals)).padStart(7)}${g2}   (${vals.map(r1).join(', ')})\n`,
      );
    }
    process.stdout.write(`RSS by mapping, agent a0 (MB):\n`);
    for (const [name, mb] of reports[0].smaps) process.stdout.write(`  ${r1(mb).padStart(7)}  ${name}\n`);
    if (MODULES) process.stdout.write(`Module source loaded, agent a0 (package: modules, kB of source):\n`);
    for (const [name, e] of MODULES ? reports[0].loaded : [])
      process.stdout.write(
        `  ${String(e.modules).padStart(4)} ${String(Math.round(e.chars / 1024)).padStart(6)}  ${name}\n`,
      );
    process.stdout.write(`threads: ${reports.map((r) => r.after.threads).join(', ')}\n`);
    if (reports[0].snapshot) process.stdout.write(`heap snapshot of a0: ${reports[0].snapshot}\n`);
  }
  await Promise.all(agents.map((a) => a.ctl.close()));
  reg.cleanup();
}

main().catch((e) => {
  note(e instanceof Error ? (e.stack ?? e.message) : String(e));
  reg.cleanup();
  process.exit(1);
});
