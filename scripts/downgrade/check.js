#!/usr/bin/env node
// Tries the downgrade of docs/store.md "Upgrades and downgrades": agent a of this build (in this
// process, from dist/) and agent b; b then moves its store aside (identity key kept) and comes
// back on an older build, joining a. Prints whether the older b reaches a's state.
//
//   git archive c518c28^ | tar -x -C /tmp/smac-old && ln -s $PWD/node_modules /tmp/smac-old/
//   (cd /tmp/smac-old && npx tsc -p tsconfig.build.json)
//   npm run build && node scripts/downgrade/check.js /tmp/smac-old/dist/cli/main.js
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { Agent } from '../../dist/agent/agent.js';
import { resolveAgentConfig } from '../../dist/agent/config.js';

const OLD = process.argv[2];
if (!OLD || !existsSync(OLD)) {
  process.stderr.write('usage: node scripts/downgrade/check.js <older build>/dist/cli/main.js\n');
  process.exit(2);
}
const WAIT_MS = 15_000;
const dir = mkdtempSync(join(tmpdir(), 'smac-downgrade-'));
const logger = pino({ level: 'silent' });
const config = (dataDir, extra = {}) =>
  resolveAgentConfig({
    dataDir,
    listen: ['/ip4/127.0.0.1/tcp/0'],
    snapshotEveryEvents: 5,
    heartbeatIntervalMs: 200,
    syncIntervalMs: 300,
    logLevel: 'silent',
    ...extra,
  });
const inc = (x) => x.write([{ type: 'pn-counter', key: 'n', op: { kind: 'increment' } }]);
const value = (x) => x.read('pn-counter', 'n')?.value;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const old = (...args) =>
  JSON.parse(
    execFileSync(process.execPath, [OLD, '--socket', join(dir, 'b', 'smac.sock'), '--json', ...args], {
      stdio: ['ignore', 'pipe', 'ignore'],
    }).toString(),
  );

let child;
let a;
try {
  a = await Agent.start(config(join(dir, 'a')), { logger });
  const b = await Agent.start(config(join(dir, 'b'), { join: a.addresses() }), { logger });
  let acked = 0;
  for (let i = 0; i < 20; i++) {
    await inc(a);
    await inc(b);
    acked += 2;
  }
  for (const t = Date.now(); Date.now() - t < WAIT_MS && !(value(a) === acked && value(b) === acked);)
    await sleep(100);
  console.log(
    `both at ${value(a)}/${value(b)} of ${acked}; a emits wire version ${a.status().protocol.emitting}`,
  );
  await b.stop();
  for (const f of ['smac.db', 'smac.db-wal', 'smac.db-shm'])
    if (existsSync(join(dir, 'b', f))) renameSync(join(dir, 'b', f), join(dir, 'b', `${f}.aside`));
  child = spawn(
    process.execPath,
    [
      OLD,
      'agent',
      '--data-dir',
      join(dir, 'b'),
      '--listen',
      '/ip4/127.0.0.1/tcp/0',
      '--join',
      a.addresses()[0],
      '--snapshot-every-events',
      '5',
      '--heartbeat-interval-ms',
      '200',
      '--sync-interval-ms',
      '300',
      '--log-level',
      'warn',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  await new Promise((r) => child.stdout.once('data', r));
  for (let i = 0; i < 10; i++) {
    await inc(a);
    acked++;
  }
  let v;
  const t0 = Date.now();
  while (Date.now() - t0 < WAIT_MS) {
    try {
      v = old('get', 'pn-counter', 'n').value;
    } catch {
      v = undefined;
    }
    if (v === acked) break;
    await sleep(500);
  }
  const s = old('status');
  console.log(
    `older b after ${Date.now() - t0} ms: ${v === acked ? 'CONVERGED' : 'NOT converged'} (value ${v}, a ${value(a)}); ` +
      `rejectedSnapshots ${s.counters.rejectedSnapshots}, heartbeatsReceived ${s.counters.heartbeatsReceived}`,
  );
  const last = stderr
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .at(-1);
  if (last) console.log(`its last log line: ${JSON.parse(last).msg}`);
} finally {
  if (child && child.exitCode === null) {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
  }
  await a?.stop();
  rmSync(dir, { recursive: true, force: true });
}
process.exit(0);
