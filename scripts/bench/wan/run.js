#!/usr/bin/env node
// SMAC against etcd in three emulated regions, side by side in one run (issue 8;
// docs/benchmarks.md): `npm run bench:wan [-- --quick] [--out DIR] [--phases a,b]
// [--agent-args '["--membership-profile","wan"]']` (extra agent flags; the default is none).
//
// The WAN emulator (scripts/wan) makes three regions (Singapore, Frankfurt, N. California) as
// network namespaces joined by userspace delay proxies; each region runs one SMAC agent (default
// settings, a cluster key, joined through the proxies), one etcd member (Debian's etcd-server,
// installed by scripts/install-etcd.sh when missing, WAN-tuned timeouts) and one client process
// next to both. Phases, in order: round trips through each proxy, idle cost, local write
// latency, cross-region visibility, a burst, a partition, and failure detection (a soak under
// load, then SIGKILL). Results: <out>/wan.json, wan.md and SVG plots (vega-lite rendered in
// Node). --quick (about two minutes) checks the script; its figures are not for quoting.
//
// Exit status: 0 ran (a phase that failed is listed in the report), 1 failed, 77 cannot run
// here (not root, no `ip netns`, no etcd). Needs dist/ built (the npm script builds).
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { format, resolveConfig } from 'prettier';
import { netnsAvailable } from '../../lib/netns.js';
import { formatReport } from '../../wan/emulator.js';
import { findEtcd } from '../etcd.js';
import { ETCD_TUNING, loadAverage, WanCluster } from './cluster.js';
import { detectionPhase } from './phase-detection.js';
import { idlePhase, latencyPhase, rssNow } from './phase-load.js';
import { partitionPhase } from './phase-partition.js';
import { burstPhase, visibilityPhase } from './phase-visibility.js';
import { plotSpecs, renderSvg } from './plots.js';
import { markdownReport } from './report.js';

const ROOT = join(import.meta.dirname, '..', '..', '..');
const PHASES = ['idle', 'latency', 'visibility', 'burst', 'partition', 'detection'];

const PLAN = {
  full: {
    linkSamples: 20,
    settleS: 10,
    idleS: 30,
    latencySamples: 1000,
    latencyMaxMs: 900_000,
    visibilitySamples: 100,
    burstWrites: 5000,
    partitionS: 60,
    soakS: 600,
  },
  quick: {
    linkSamples: 5,
    settleS: 3,
    idleS: 5,
    latencySamples: 30,
    latencyMaxMs: 20_000,
    visibilitySamples: 3,
    burstWrites: 300,
    partitionS: 10,
    soakS: 15,
  },
};

/** The npm command that repeats this run (its options, as given). */
function commandLine(values, agentArgs) {
  const extra = [];
  if (values.quick) extra.push('--quick');
  if (values.phases !== PHASES.join(',')) extra.push(`--phases ${values.phases}`);
  if (agentArgs.length > 0) extra.push(`--agent-args '${JSON.stringify(agentArgs)}'`);
  return `npm run bench:wan${extra.length > 0 ? ` -- ${extra.join(' ')}` : ''}`;
}

const log = (msg) => process.stdout.write(`[bench:wan ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);

async function main() {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      out: { type: 'string' },
      phases: { type: 'string', default: PHASES.join(',') },
      keep: { type: 'boolean', default: false },
      'agent-args': { type: 'string', default: '[]' },
    },
  });
  const plan = values.quick ? PLAN.quick : PLAN.full;
  const phases = new Set(values.phases.split(','));
  for (const p of phases)
    if (!PHASES.includes(p)) throw new Error(`unknown phase ${p}: ${PHASES.join(', ')}`);
  const outDir =
    values.out ?? (values.quick ? join(tmpdir(), 'smac-bench-wan-quick') : join(ROOT, 'docs', 'bench'));
  const why = netnsAvailable();
  if (why !== undefined) {
    console.error(`bench:wan cannot run here: ${why} (it needs root and ip netns)`);
    process.exit(77);
  }
  const etcd = findEtcd({ mayInstall: true, note: log });
  if (!etcd.bin) {
    console.error(`bench:wan cannot run here: ${etcd.why}`);
    process.exit(77);
  }
  const etcdVersion = /etcd Version: (\S+)/.exec(
    execFileSync(etcd.bin, ['--version'], { encoding: 'utf8' }),
  )?.[1];

  const startedAt = new Date();
  const loads = [loadAverage()];
  const loadTimer = setInterval(() => loads.push(loadAverage()), 5_000);
  const dir = mkdtempSync(join(tmpdir(), 'smac-bench-wan-'));
  const agentArgs = JSON.parse(values['agent-args']);
  const cluster = new WanCluster({ dir, etcdBin: etcd.bin, log, agentArgs });
  let tornDown = false;
  const tearDown = async () => {
    if (tornDown) return;
    tornDown = true;
    clearInterval(loadTimer);
    const left = await cluster.teardown();
    if (left.length > 0) log(`LEFT BEHIND: ${left.join(' ')}`);
    if (values.keep) log(`logs and data kept in ${dir}`);
    else rmSync(dir, { recursive: true, force: true });
  };
  for (const sig of ['SIGINT', 'SIGTERM'])
    process.once(sig, () => void tearDown().then(() => process.exit(130)));

  const result = { errors: [], loadByPhase: {} };
  const tag = startedAt.getTime().toString(36);
  const phase = async (name, fn) => {
    if (!phases.has(name)) return;
    const t0 = Date.now();
    const load0 = loadAverage();
    try {
      result[name] = await fn();
      result.loadByPhase[name] = [load0, loadAverage()];
      log(`${name}: done in ${Math.round((Date.now() - t0) / 1000)} s`);
    } catch (e) {
      result.errors.push(`${name}: ${e.message.split('\n')[0]}`);
      log(`${name} FAILED: ${e.stack ?? e}`);
    }
  };
  try {
    await cluster.up();
    result.links = (await cluster.wan.measureAll({ count: plan.linkSamples })).map(({ samples, ...l }) => l);
    log(`round trips through the proxies:\n${formatReport(result.links)}`);
    await new Promise((r) => setTimeout(r, plan.settleS * 1000));
    await phase('idle', () => idlePhase(cluster, { seconds: plan.idleS, log }));
    await phase('latency', () =>
      latencyPhase(cluster, {
        samples: plan.latencySamples,
        concurrencies: [1, 16],
        maxMs: plan.latencyMaxMs,
        log,
      }),
    );
    result.rssAfterLoad = rssNow(cluster);
    await phase('visibility', () => visibilityPhase(cluster, { samples: plan.visibilitySamples, log, tag }));
    await phase('burst', () => burstPhase(cluster, { writes: plan.burstWrites, log, tag }));
    await phase('partition', () => partitionPhase(cluster, { seconds: plan.partitionS, log, tag }));
    await phase('detection', () => detectionPhase(cluster, { soakSeconds: plan.soakS, log }));
  } finally {
    await tearDown();
  }
  loads.push(loadAverage());
  const endedAt = new Date();
  result.meta = {
    command: commandLine(values, agentArgs),
    agentArgs,
    quick: values.quick,
    plan,
    startedAt: startedAt.toISOString().slice(0, 19) + 'Z',
    endedAt: endedAt.toISOString().slice(0, 19) + 'Z',
    durationS: Math.round((endedAt - startedAt) / 1000),
    cpus: cpus().length,
    loadAverage: { start: loads[0], max: Math.max(...loads), end: loads.at(-1) },
    node: `Node ${process.version}`,
    etcdVersion,
    etcdTuning: ETCD_TUNING,
    smacConvergedMs: cluster.smacConvergedMs,
  };
  mkdirSync(outDir, { recursive: true });
  // Formatted as the repository's `prettier --check` wants them (docs/bench is checked in).
  const pretty = async (file, text) =>
    writeFileSync(file, await format(text, { ...(await resolveConfig(file)), filepath: file }));
  await pretty(join(outDir, 'wan.json'), JSON.stringify(result, null, 2));
  await pretty(join(outDir, 'wan.md'), markdownReport(result));
  for (const [name, spec] of Object.entries(plotSpecs(result))) {
    try {
      writeFileSync(join(outDir, `${name}.svg`), await renderSvg(spec));
    } catch (e) {
      log(`plot ${name} failed: ${e.message}`);
    }
  }
  log(
    `results in ${outDir} (wan.json, wan.md, SVGs)${result.errors.length > 0 ? `; failed phases: ${result.errors.join('; ')}` : ''}`,
  );
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(e.stack ?? String(e));
    process.exit(1);
  },
);
