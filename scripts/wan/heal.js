#!/usr/bin/env node
// Convergence after a partition heals, on the emulated WAN (issue 8; docs/networking.md): three
// agents, one per region, joined through the delay proxies, default settings. Each repetition
// cuts one region, writes on both sides of the cut, heals, and times from the heal until every
// replica holds equal clocks and an equal state digest, with a timeline of what happened first
// (connections back, first heartbeat across the cut, first pull, the victim's first events from
// the other side, each agent caught up, equal clocks, equal digests) and the CPU time each agent
// used from the heal until then (on a loaded machine, wall time is mostly waiting for a CPU).
//
//   node scripts/wan/heal.js [--reps 3] [--cut 30s] [--victim 2] [--rate 20] [--mode link]
//                            [--agent-args '<json array>'] [--timeout 60s] [--keep] [--trace]
//                            [--log-level debug] [--cpu-prof DIR]
//
// --mode link takes the region's link down (nothing gets through, TCP retransmits);
// --mode proxy stops the region's proxies (connections are held, as a stalled link).
// --rate N: counter increments per second at every agent during the cut.
// --trace prints, per repetition, each change of which clock entries the agents disagree on.
// --log-level debug also prints, per repetition, every pull each agent started from the heal
// until identical, from the agents' `pull ended` lines (src/agent/pull-log.ts): from which
// region, what started it, and when (ms since the heal) it started, had its stream open, read
// its header, got its first events and ended, with the events it brought, the time spent
// verifying and applying them, and how it ended.
// --cpu-prof DIR runs the agents with node's --cpu-prof (profiles written to DIR when they stop,
// SIGTERM at the end of the run); the heal times printed let one cut the profile to the heal.
//
// Prints a line per repetition, then p50/max, and a last line `RESULT <json>`. Exit status:
// 0 ran (the caller judges the figures), 1 failed to run, 77 cannot run here (not root, no
// `ip netns`). Needs dist/ built.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { BIN, ChaosAgent, waitUntil } from '../chaos/agents.js';
import { objectPath, SocketApi } from '../chaos/api.js';
import { canonical } from '../chaos/converge.js';
import { netnsAvailable } from '../lib/netns.js';
import { formatReport, WanEmulator } from './emulator.js';

const PREFIX = 'heal/';
const POLL_MS = 50;
const log = (msg) => process.stdout.write(`[heal ${new Date().toISOString().slice(11, 23)}] ${msg}\n`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function parseDuration(s) {
  const m = /^(\d+)(ms|s|m)?$/.exec(s);
  if (!m) throw new Error(`bad duration ${s}: write 90s, 2m or 5000ms`);
  return Number(m[1]) * { ms: 1, s: 1000, m: 60_000 }[m[2] ?? 's'];
}

function sameRecord(a, b) {
  const ka = Object.keys(a);
  return ka.length === Object.keys(b).length && ka.every((k) => a[k] === b[k]);
}

function quantile(xs, q) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))];
}

/** sha256 of every object under PREFIX (type, key, value; canonical JSON). */
async function digestOf(api) {
  const objects = await api.listAll(PREFIX);
  if (!objects) return undefined;
  const h = createHash('sha256');
  for (const o of [...objects].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0)))
    h.update(`${o.type} ${o.key} ${canonical(o.value)}\n`);
  return h.digest('hex').slice(0, 16);
}

/** Writes `rate` increments per second at this agent until `until()`; counts acknowledged ones. */
async function writer(api, region, rate, until) {
  let acked = 0;
  let failed = 0;
  for (let n = 0; !until() && n < 1_000_000; n++) {
    const started = Date.now();
    const r = await api.request('POST', objectPath('pn-counter', `${PREFIX}${region}/${n % 10}`), {
      kind: 'increment',
      by: 1,
    });
    if (r.outcome === 'ok') acked++;
    else failed++;
    await sleep(Math.max(0, 1000 / rate - (Date.now() - started)));
  }
  return { acked, failed };
}

/** User + system CPU ms from a /proc/.../stat line (fields after the command's parentheses). */
function statCpuMs(stat) {
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100; // utime, stime; USER_HZ = 100
}

/**
 * CPU time (user + system) a process has used, in ms, from /proc: in all and by thread group
 * (the event loop; libuv's pool, where signatures are checked; V8's workers, mostly garbage
 * collection; the rest). Undefined when it cannot be read. `ip netns exec` execs the agent, so
 * the child's pid is the agent's.
 */
function cpuMs(pid) {
  if (pid === undefined) return undefined;
  try {
    const out = { total: 0, loop: 0, pool: 0, v8: 0, other: 0 };
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      let ms;
      let comm;
      try {
        ms = statCpuMs(readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8'));
        comm = readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim();
      } catch {
        continue; // the thread ended meanwhile
      }
      const group =
        tid === String(pid)
          ? 'loop'
          : comm.startsWith('libuv-worker')
            ? 'pool'
            : comm.startsWith('V8')
              ? 'v8'
              : 'other';
      out[group] += ms;
      out.total += ms;
    }
    return out;
  } catch {
    return undefined;
  }
}

/** Which origins the agents' clocks disagree on: `origin a:seq b:seq c:seq`, by region. */
function clockDiff(st, regions) {
  const origins = new Set(st.flatMap((s) => Object.keys(s.clock)));
  const out = [];
  for (const o of [...origins].sort()) {
    const seqs = st.map((s) => s.clock[o] ?? 0);
    if (new Set(seqs).size > 1)
      out.push(`${o.slice(-6)} ${seqs.map((q, i) => `${regions[i]}:${q}`).join(' ')}`);
  }
  return out.join('; ');
}

/**
 * Polls every agent after the heal and records when things first happened, as ms since the
 * heal: every victim↔other pair connected, a heartbeat heard across the cut both ways, the
 * first pull started on each side, clocks equal, and clocks and digests equal.
 */
async function timeline(apis, agents, regions, victim, healedAt, timeoutMs) {
  const t = {};
  const mark = (k) => {
    t[k] ??= Date.now() - healedAt;
  };
  const syncs0 = [];
  const statuses = await Promise.all(apis.map((a) => a.get('/v1/status')));
  for (const s of statuses) syncs0.push(s?.counters.syncsStarted ?? 0);
  // What the heal found: which connections survived the cut, and how the joins were dialing.
  t.atHeal = statuses.map((s, i) => ({
    region: regions[i],
    connected: (s?.peers ?? []).filter((p) => p.connected).length,
    join: (s?.join ?? []).map((j) => `${j.state}/${j.failures}`),
  }));
  const others = agents.map((_, i) => i).filter((i) => i !== victim);
  const cpu0 = agents.map((a) => cpuMs(a.child?.pid));
  const victimClock0 = statuses[victim]?.clock ?? {};
  // The origins the victim lacked events of at the heal (the other side's writes).
  const lacking = [...new Set(others.flatMap((i) => Object.keys(statuses[i]?.clock ?? {})))].filter((o) =>
    others.some((i) => (statuses[i]?.clock[o] ?? 0) > (victimClock0[o] ?? 0)),
  );
  const trace = [];
  let lastDiff;
  for (let i = 0; Date.now() - healedAt < timeoutMs && i < 100_000; i++) {
    const now = Date.now();
    const st = await Promise.all(apis.map((a) => a.get('/v1/status')));
    if (st.every((s) => s !== undefined)) {
      const peer = (a, b) => st[a].peers.find((p) => p.peerId === agents[b].peerId);
      const pairs = others.flatMap((o) => [
        [victim, o],
        [o, victim],
      ]);
      const name = ([a, b]) => `${regions[a]}>${regions[b]}`;
      for (const p of pairs) {
        if (peer(...p)?.connected) mark(`connected ${name(p)}`);
        // A heartbeat heard after the heal: its age is less than the time since the heal.
        if ((peer(...p)?.lastHeartbeatAgoMs ?? Infinity) < now - healedAt) mark(`heartbeat ${name(p)}`);
      }
      if (pairs.every((p) => t[`connected ${name(p)}`] !== undefined)) mark('connected');
      if (pairs.every((p) => t[`heartbeat ${name(p)}`] !== undefined)) mark('heartbeat');
      if (st[victim].counters.syncsStarted > syncs0[victim]) mark('victimPull');
      if (others.some((o) => st[o].counters.syncsStarted > syncs0[o])) mark('otherPull');
      // Catch-up: the victim's first events from the other side, and each agent holding every
      // event any agent holds.
      if (lacking.some((o) => (st[victim].clock[o] ?? 0) > (victimClock0[o] ?? 0))) mark('victimFirst');
      const top = {};
      for (const s of st) for (const [o, q] of Object.entries(s.clock)) top[o] = Math.max(top[o] ?? 0, q);
      st.forEach((s, i) => {
        if (Object.entries(top).every(([o, q]) => (s.clock[o] ?? 0) >= q)) mark(`caught up ${regions[i]}`);
      });
      const diff = clockDiff(st, regions);
      if (diff !== lastDiff && trace.length < 100) trace.push(`${now - healedAt} ms: ${diff || 'equal'}`);
      lastDiff = diff;
      if (st.every((s) => sameRecord(s.clock, st[0].clock))) {
        mark('clocks');
        const d = await Promise.all(apis.map((a) => digestOf(a)));
        if (d[0] !== undefined && d.every((x) => x === d[0])) {
          mark('identical');
          const cpu = agents.map((a, k) => {
            const c = cpuMs(a.child?.pid);
            const c0 = cpu0[k];
            if (c === undefined || c0 === undefined) return undefined;
            return Object.fromEntries(Object.keys(c).map((g) => [g, Math.round(c[g] - c0[g])]));
          });
          return {
            ...t,
            cpuMs: cpu,
            digest: d[0],
            syncsFailed: st.map((s) => s.counters.syncsFailed),
            trace,
          };
        }
      }
    }
    await sleep(Math.max(0, POLL_MS - (Date.now() - now)));
  }
  return { ...t, identical: undefined, trace };
}

/**
 * The pulls each agent logged (`pull ended`, at debug level) that started from `from` on (ms
 * since the epoch) until `to`, as lines: `agent <- peer trigger: started/header/first
 * events/ended ms since the heal, events, outcome`.
 */
function pullLines(agents, regions, healedAt, to) {
  const region = new Map(agents.map((a, i) => [a.peerId, regions[i]]));
  const out = [];
  agents.forEach((a, i) => {
    const file = join(a.dir, 'agent.log');
    if (!existsSync(file)) return;
    for (const line of readFileSync(file, 'utf8').split('\n')) {
      if (!line.includes('"pull ended"')) continue;
      let j;
      try {
        j = JSON.parse(line);
      } catch {
        continue;
      }
      if (j.startedAt < healedAt - 5_000 || j.startedAt > to) continue;
      const at = (ms) => (ms === undefined ? '-' : String(j.startedAt - healedAt + ms));
      out.push({
        startedAt: j.startedAt,
        text:
          `${regions[i]} <- ${region.get(j.peer) ?? j.peer.slice(-6)} ${j.trigger}: started ${j.startedAt - healedAt}, ` +
          `opened ${at(j.openedMs)}, header ${at(j.headerMs)}, first events ${at(j.firstEventsMs)}, ended ${at(j.ms)} ms; ` +
          `${j.events} events (applying ${j.applyMs} ms), ${j.outcome}`,
      });
    }
  });
  return out.sort((x, y) => x.startedAt - y.startedAt).map((x) => x.text);
}

/** The emulator, one agent per region and their API clients; `close()` undoes it all, once. */
class Cluster {
  constructor({ logLevel, agentArgs, keep, mode, victim, cpuProf }) {
    this.opts = { logLevel, agentArgs, keep, mode, victim, cpuProf };
    this.wan = new WanEmulator();
    this.dir = mkdtempSync(join(tmpdir(), 'smac-wan-heal-'));
    this.agents = [];
    this.apis = [];
    this.isCut = false;
    this.closing = undefined;
  }

  async open() {
    await this.wan.up();
    log(`round trips through the proxies:\n${formatReport(await this.wan.measureAll())}`);
    const clusterKey = join(this.dir, 'cluster.key');
    execFileSync(process.execPath, [BIN, 'keygen', '--out', clusterKey], { stdio: 'ignore' });
    this.agents = this.wan.regions.map(
      (_, index) =>
        new ChaosAgent({
          index,
          net: this.wan,
          dir: join(this.dir, `a${index}`),
          clusterKey,
          logLevel: this.opts.logLevel,
          tuning: false,
          extraArgs: this.opts.agentArgs,
        }),
    );
    this.apis = this.agents.map((a) => new SocketApi(a));
    await Promise.all(this.agents.map((a) => a.start()));
  }

  /** The links between the victim and every other region: down, or back up. */
  async setCut(on) {
    const { wan } = this;
    const v = this.opts.victim;
    this.isCut = on;
    if (this.opts.mode === 'link') {
      if (on) wan.cutRegion(v);
      else wan.healRegion(v);
      return;
    }
    for (let j = 0; j < wan.regions.length; j++) {
      if (j === v) continue;
      if (on) await wan.cutPair(v, j);
      else await wan.healPair(v, j);
    }
  }

  close() {
    this.closing ??= (async () => {
      for (const api of this.apis) api.close();
      if (this.opts.cpuProf) {
        // A profile is written when the process exits on its own: stop the agents first.
        await Promise.all(
          this.agents.map(async (a) => {
            if (!a.child) return;
            a.child.kill('SIGTERM');
            await Promise.race([a.exited, sleep(20_000)]);
          }),
        );
        log(`CPU profiles in ${this.opts.cpuProf}`);
      }
      await Promise.all(this.agents.map((a) => a.destroy()));
      await this.wan.down();
      if (this.opts.keep) log(`agent logs kept in ${this.dir}`);
      else rmSync(this.dir, { recursive: true, force: true });
    })();
    return this.closing;
  }
}

/**
 * Waits until every agent is connected to every other, has heard a heartbeat from each, and all
 * clocks are equal. Without the heartbeats, the first repetition cut the victim off a second
 * after the joins, before the members had heard each other's wire versions: each side then
 * wrote in version 1 throughout the cut (a member not heard from counts as the oldest release),
 * whose events carry no chain link, so every one had its signature checked after the heal.
 */
async function settled(cluster) {
  await waitUntil(
    async () => {
      const st = await Promise.all(cluster.apis.map((a) => a.get('/v1/status')));
      return st.every(
        (s) =>
          s !== undefined &&
          s.peers.filter((p) => p.connected && p.lastHeartbeatAgoMs !== undefined).length >=
            cluster.agents.length - 1 &&
          sameRecord(s.clock, st[0].clock),
      );
    },
    'every agent connected to every other and heard from each, clocks equal',
    120_000,
    200,
  );
}

/** One repetition: cut, write on both sides for cutMs, heal, and time the convergence. */
async function repetition(cluster, r, { cutMs, timeoutMs, rate, trace }) {
  const { wan, apis, agents } = cluster;
  const victim = cluster.opts.victim;
  await settled(cluster);
  await cluster.setCut(true);
  const stopAt = Date.now() + cutMs;
  log(`rep ${r}: ${wan.regions[victim]} cut (${cluster.opts.mode}) for ${cutMs} ms, writing on both sides`);
  const counts = await Promise.all(
    apis.map((api, i) => writer(api, wan.regions[i], rate, () => Date.now() >= stopAt)),
  );
  await sleep(Math.max(0, stopAt - Date.now()));
  await cluster.setCut(false);
  const healedAt = Date.now();
  log(`rep ${r}: healed (${healedAt} ms since the epoch, to match the agents' logs)`);
  const t = await timeline(apis, agents, wan.regions, victim, healedAt, timeoutMs);
  const acked = counts.map((c) => c.acked);
  // The machine's load matters: every figure here is wall-clock time on shared cores.
  t.load = Number(loadavg()[0].toFixed(1));
  log(
    `rep ${r}: acked ${JSON.stringify(acked)}; after heal (ms): connected ${t.connected}, heartbeat ${t.heartbeat}, ` +
      `victim pull ${t.victimPull}, victim's first events ${t.victimFirst}, caught up ${wan.regions.map((x) => `${x} ${t[`caught up ${x}`]}`).join(' ')}, ` +
      `clocks equal ${t.clocks}, identical ${t.identical ?? `not within ${timeoutMs}`}; CPU ms used meanwhile ` +
      `${(t.cpuMs ?? []).map((c, i) => `${wan.regions[i]} ${c ? `${c.total} (loop ${c.loop}, pool ${c.pool}, v8 ${c.v8}, other ${c.other})` : '?'}`).join(', ')} (load ${t.load})`,
  );
  if (trace) for (const line of t.trace) log(`  ${line}`);
  if (cluster.opts.logLevel === 'debug') {
    await sleep(200); // the last pulls' lines on their way to the logs
    t.pulls = pullLines(agents, wan.regions, healedAt, healedAt + (t.identical ?? timeoutMs));
    for (const line of t.pulls) log(`  pull ${line}`);
  }
  return { ...t, acked, healedAt };
}

async function main() {
  const { values } = parseArgs({
    options: {
      reps: { type: 'string', default: '3' },
      cut: { type: 'string', default: '30s' },
      victim: { type: 'string', default: '2' },
      rate: { type: 'string', default: '20' },
      mode: { type: 'string', default: 'link' },
      timeout: { type: 'string', default: '60s' },
      'agent-args': { type: 'string', default: '[]' },
      'log-level': { type: 'string', default: 'warn' },
      keep: { type: 'boolean', default: false },
      trace: { type: 'boolean', default: false },
      'cpu-prof': { type: 'string' },
    },
  });
  if (!['link', 'proxy'].includes(values.mode)) throw new Error('--mode is link or proxy');
  const why = netnsAvailable();
  if (why !== undefined) {
    console.error(`cannot run here: ${why} (needs root and ip netns)`);
    process.exit(77);
  }
  const cluster = new Cluster({
    logLevel: values['log-level'],
    agentArgs: JSON.parse(values['agent-args']),
    keep: values.keep,
    mode: values.mode,
    victim: Number(values.victim),
    cpuProf: values['cpu-prof'],
  });
  if (values['cpu-prof']) {
    // The agents inherit it (ChaosAgent spawns them with this environment); so does nothing else.
    process.env.NODE_OPTIONS = `${process.env.NODE_OPTIONS ?? ''} --cpu-prof --cpu-prof-dir=${values['cpu-prof']}`;
  }
  process.once('SIGINT', () => void cluster.close().then(() => process.exit(130)));
  process.once('SIGTERM', () => void cluster.close().then(() => process.exit(143)));
  const cutMs = parseDuration(values.cut);
  const timeoutMs = parseDuration(values.timeout);
  try {
    await cluster.open();
    const reps = [];
    for (let r = 1; r <= Number(values.reps); r++) {
      const opts = { cutMs, timeoutMs, rate: Number(values.rate), trace: values.trace };
      reps.push(await repetition(cluster, r, opts));
      if (reps.at(-1).identical === undefined) break;
    }
    const done = reps.map((x) => x.identical).filter((x) => x !== undefined);
    const summary = {
      mode: values.mode,
      cutMs,
      reps: reps.length,
      converged: done.length,
      p50: done.length ? quantile(done, 0.5) : undefined,
      max: done.length ? Math.max(...done) : undefined,
    };
    log(
      `identical after heal: p50 ${summary.p50} ms, max ${summary.max} ms (${done.length}/${reps.length} converged)`,
    );
    console.log(`RESULT ${JSON.stringify({ ...summary, runs: reps })}`);
    if (cluster.isCut) await cluster.setCut(false);
  } finally {
    await cluster.close();
  }
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(e.stack ?? String(e));
    process.exit(1);
  },
);
