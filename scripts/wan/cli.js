#!/usr/bin/env node
// The WAN emulator from the shell (docs/networking.md). Needs root and `ip netns`.
//
//   npm run wan -- up [--run-id ID] [--for 60s] [--ports 7946,2379,2380]
//       brings three regions up, prints where everything is and the round trip measured through
//       every proxy, and stays up until Ctrl-C (or --for), then tears everything down;
//   npm run wan -- status            lists live runs and measures every link again;
//   npm run wan -- down [--run-id ID | --all]
//       ends a run (its `up` process tears down) and removes any namespaces it left behind.
//
// Exit status: 0 fine, 1 failed, 2 bad usage, 77 cannot run here (not root, no `ip netns`).
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { deleteNamespaces, namespacesMatching, netnsAvailable } from '../lib/netns.js';
import { summarize } from './echo.js';
import { ECHO_PORT, formatReport, NAMESPACE_PATTERN, STATE_DIR, WanEmulator } from './emulator.js';

const HELPER = join(import.meta.dirname, 'helper.js');

function parseDuration(s) {
  const m = /^(\d+)(ms|s|m)?$/.exec(s);
  if (!m) throw new Error(`bad duration ${s}: write 90s, 2m or 5000ms`);
  return Number(m[1]) * { ms: 1, s: 1000, m: 60_000 }[m[2] ?? 's'];
}

function runs() {
  if (!existsSync(STATE_DIR)) return [];
  return readdirSync(STATE_DIR)
    .filter((f) => f.endsWith('.json'))
    .map((f) => JSON.parse(readFileSync(join(STATE_DIR, f), 'utf8')));
}

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function up(values) {
  const wan = new WanEmulator({
    runId: values['run-id'],
    ports: values.ports ? values.ports.split(',').map(Number) : undefined,
  });
  let stopping = false;
  const stop = async (why) => {
    if (stopping) return;
    stopping = true;
    console.log(`\n${why}: tearing down run ${wan.runId}`);
    await wan.down();
    const left = wan.remaining();
    console.log(left.length === 0 ? 'torn down' : `LEFT BEHIND: ${left.join(' ')}`);
    process.exit(left.length === 0 ? 0 : 1);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
  await wan.up();
  console.log(JSON.stringify(wan.describe(), null, 2));
  console.log(`\nround trips measured through each proxy (ms):\n${formatReport(await wan.measureAll())}`);
  console.log(`\nrun a process in a region: ip netns exec ${wan.ns(0)} <command>`);
  if (values.for) setTimeout(() => void stop('time is up'), parseDuration(values.for));
  else console.log('up; Ctrl-C (or `npm run wan -- down`) tears it down');
}

function status() {
  const live = runs();
  if (live.length === 0) console.log('no WAN emulator runs');
  for (const r of live) {
    if (!alive(r.pid)) {
      console.log(
        `run ${r.runId}: its owner (pid ${r.pid}) is gone; \`npm run wan -- down --run-id ${r.runId}\` cleans up`,
      );
      continue;
    }
    console.log(`run ${r.runId}: owner pid ${r.pid}`);
    const rows = [];
    for (const reg of r.regions) {
      const targets = Object.entries(reg.reaches).map(([to, host]) => ({
        to,
        host,
        port: ECHO_PORT,
        count: 5,
      }));
      const out = JSON.parse(
        execFileSync(
          'ip',
          ['netns', 'exec', reg.namespace, process.execPath, HELPER, 'measure', JSON.stringify(targets)],
          {
            encoding: 'utf8',
          },
        ),
      );
      out.forEach((o, k) => {
        const to = targets[k].to;
        const configuredMs = r.rttMs[[reg.name, to].sort().join('-')];
        if (o.error) console.log(`  ${reg.name} → ${to}: ${o.error}`);
        else rows.push({ from: reg.name, to, configuredMs, ...summarize(o.samples) });
      });
    }
    console.log(formatReport(rows).replace(/^/gm, '  '));
  }
  const orphans = namespacesMatching(NAMESPACE_PATTERN).filter(
    (ns) => !live.some((r) => ns.endsWith(`-${r.runId}`)),
  );
  if (orphans.length > 0) console.log(`namespaces of no live run: ${orphans.join(' ')}`);
}

async function down(values) {
  const targets = runs().filter((r) => values.all || r.runId === values['run-id']);
  if (!values.all && values['run-id'] === undefined) {
    console.error('down needs --run-id ID or --all');
    process.exit(2);
  }
  for (const r of targets) {
    if (alive(r.pid)) process.kill(r.pid, 'SIGTERM');
    for (let i = 0; i < 50 && alive(r.pid); i++) await new Promise((res) => setTimeout(res, 100));
    rmSync(join(STATE_DIR, `${r.runId}.json`), { force: true });
  }
  const pattern = values.all ? NAMESPACE_PATTERN : new RegExp(`^smacw(h|\\d+)-${values['run-id']}$`);
  const left = namespacesMatching(pattern);
  deleteNamespaces(left);
  console.log(`ended ${targets.length} run(s); removed ${left.length} namespace(s) left behind`);
}

async function main() {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      'run-id': { type: 'string' },
      for: { type: 'string' },
      ports: { type: 'string' },
      all: { type: 'boolean', default: false },
    },
  });
  const cmd = positionals[0];
  if (!['up', 'status', 'down'].includes(cmd)) {
    console.error(
      'usage: npm run wan -- up|status|down [--run-id ID] [--for 60s] [--ports 7946,2379] [--all]',
    );
    process.exit(2);
  }
  const why = netnsAvailable();
  if (why !== undefined) {
    console.error(`the WAN emulator cannot run here: ${why} (it needs root and ip netns)`);
    process.exit(77);
  }
  if (cmd === 'up') await up(values);
  else if (cmd === 'status') status();
  else await down(values);
}

main().catch((e) => {
  console.error(e.stack ?? String(e));
  process.exit(1);
});
