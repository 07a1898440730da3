#!/usr/bin/env node
// The nemesis test (issue 7): real agents in network namespaces, clients on every type, a
// seeded nemesis, then heal, wait for convergence and check the history. See docs/chaos.md.
//
//   node scripts/chaos/run.js --seed 42 --duration 120s --agents 5 [--no-store-loss]
//
// Exit status: 0 passed, 1 failed (the report says why), 2 bad usage, 77 cannot run here
// (not root, or no `ip netns`).
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { BIN, ChaosAgent, waitUntil } from './agents.js';
import { SocketApi } from './api.js';
import { Checker } from './checker.js';
import { awaitConvergence } from './converge.js';
import { ChaosNet, leftoverNamespaces, netnsAvailable } from './net.js';
import { Nemesis } from './nemesis.js';
import { reapFaultFailures } from './nemesis-reaps.js';
import { splitFaultFailures } from './nemesis-splits.js';
import { Prng } from './prng.js';
import { foreignRebases } from './nemesis-rebase.js';
import { rebaseFailures } from './reap-cuts.js';
import { Client, History } from './workload.js';

/** How long, in all, the run waits before its check for re-runs not seen to end during their fault. */
const RERUN_SETTLE_MS = 120_000;

function parseDuration(s) {
  const m = /^(\d+)(ms|s|m)?$/.exec(s);
  if (!m) throw new Error(`bad duration ${s}: write 90s, 2m or 5000ms`);
  return Number(m[1]) * { ms: 1, s: 1000, m: 60_000 }[m[2] ?? 's'];
}

function forceLeaveMode(v) {
  if (v !== 'any' && v !== 'heal-only') throw new Error('--force-leave must be any or heal-only');
  return v;
}

/** The reap-timer fault's reapAfterMs: above the longest other fault (6 s) and its restart. */
function reapAfter(v) {
  const ms = parseDuration(v);
  if (ms < 10_000) throw new Error('--reap-after must be at least 10s: every other fault must stay below it');
  return ms;
}

function options() {
  const { values } = parseArgs({
    options: {
      seed: { type: 'string' },
      duration: { type: 'string', default: '120s' },
      agents: { type: 'string', default: '5' },
      'no-store-loss': { type: 'boolean', default: false },
      // heal-only: a force-left member is only healed, never killed and restarted (the restart
      // variant fails today: docs/chaos.md, open bug 1).
      'force-leave': { type: 'string', default: 'any' },
      // Agents reap a member silent and not alive this long (their --reap-after-ms), and the
      // nemesis gains the reap-timer fault. Off by default: it must exceed every other fault.
      'reap-after': { type: 'string' },
      // Leaves out the faults of two reaps at once (mutual-reap, opposite-reaps): a seed then
      // replays the plan it had before they were added.
      'no-reap-faults': { type: 'boolean', default: false },
      // Leaves out the three-way splits and the joiner during a split (4 agents or more): a
      // seed then replays the plan it had before they were added.
      'no-split-faults': { type: 'boolean', default: false },
      'snapshot-every': { type: 'string', default: '25' },
      'converge-timeout': { type: 'string', default: '60s' },
      'log-level': { type: 'string', default: 'warn' },
      keep: { type: 'boolean', default: false },
    },
  });
  const agents = Number(values.agents);
  if (!Number.isInteger(agents) || agents < 3 || agents > 5) throw new Error('--agents must be 3, 4 or 5');
  return {
    seed: values.seed === undefined ? randomBytes(4).readUInt32BE(0) : Number(values.seed) >>> 0,
    durationMs: parseDuration(values.duration),
    agents,
    storeLoss: !values['no-store-loss'],
    reapFaults: !values['no-reap-faults'],
    splitFaults: !values['no-split-faults'] && agents >= 4,
    forceLeave: forceLeaveMode(values['force-leave']),
    reapAfterMs: values['reap-after'] === undefined ? undefined : reapAfter(values['reap-after']),
    snapshotEvery: Number(values['snapshot-every']),
    convergeMs: parseDuration(values['converge-timeout']),
    logLevel: values['log-level'],
    keep: values.keep,
  };
}

const log = (msg) => process.stdout.write(`[chaos ${new Date().toISOString().slice(11, 23)}] ${msg}\n`);

async function main() {
  let opts;
  try {
    opts = options();
  } catch (e) {
    process.stderr.write(`chaos: ${e.message}\n`);
    return 2;
  }
  log(
    `seed ${opts.seed} (replay: node scripts/chaos/run.js --seed ${opts.seed} --duration ${opts.durationMs}ms --agents ${opts.agents}${opts.storeLoss ? '' : ' --no-store-loss'}${opts.reapFaults ? '' : ' --no-reap-faults'}${opts.splitFaults || opts.agents < 4 ? '' : ' --no-split-faults'} --force-leave ${opts.forceLeave}${opts.reapAfterMs === undefined ? '' : ` --reap-after ${opts.reapAfterMs}ms`})`,
  );
  const why = netnsAvailable();
  if (why) {
    log(`SKIP: ${why}; the nemesis test needs root and ip netns`);
    return 77;
  }
  const stale = leftoverNamespaces();
  if (stale.length > 0)
    log(`note: namespaces left by an earlier run: ${stale.join(' ')} (ip netns del <name>)`);

  const runId = randomBytes(3).toString('hex');
  const dir = mkdtempSync(join(tmpdir(), `smac-chaos-${runId}-`));
  // With the split faults, one spare slot (namespace, address) for the agent that joins during a
  // split (scripts/chaos/nemesis-splits.js); it stays unused until then.
  const net = new ChaosNet(runId, opts.agents + (opts.splitFaults ? 1 : 0), randomBytes(1)[0]);
  const agents = [];
  const apis = [];
  let tornDown;
  // One teardown, whoever asks first (a signal, a failure, the end); later callers wait for it.
  const tearDown = () => (tornDown ??= tearDownOnce());
  const tearDownOnce = async () => {
    await Promise.all(agents.map((a) => a.destroy()));
    for (const api of apis) api.close();
    net.tearDown();
    if (!opts.keep) rmSync(dir, { recursive: true, force: true });
    else log(`kept ${dir}`);
  };
  const onSignal = (sig) => {
    log(`${sig}: tearing down`);
    void tearDown().finally(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  // If whoever reads our output goes away, keep going and still tear down.
  process.stdout.on('error', () => undefined);
  process.on('uncaughtException', (e) => {
    process.stderr.write(`chaos: uncaught ${e.stack ?? e}; tearing down\n`);
    void tearDown().finally(() => process.exit(1));
  });
  try {
    net.setUp();
    const clusterKey = join(dir, 'cluster.key');
    execFileSync(process.execPath, [BIN, 'keygen', '--out', clusterKey], { stdio: 'ignore' });
    const newAgent = (i, joinTo) => {
      const adir = join(dir, `a${i}`);
      mkdirSync(adir);
      const a = new ChaosAgent({
        index: i,
        net,
        dir: adir,
        clusterKey,
        snapshotEvery: opts.snapshotEvery,
        logLevel: opts.logLevel,
        extraArgs: opts.reapAfterMs === undefined ? [] : ['--reap-after-ms', String(opts.reapAfterMs)],
        joinTo,
      });
      agents.push(a);
      apis.push(new SocketApi(a));
      return a;
    };
    const first = [...Array(opts.agents).keys()];
    for (const i of first)
      newAgent(
        i,
        first.filter((j) => j !== i),
      );
    await Promise.all(agents.map((a) => a.start()));
    log(`${opts.agents} agents up in namespaces ${agents.map((_, i) => net.ns(i)).join(' ')}`);
    // Every agent connected to every other, bounded: on a loaded machine connections churn, and
    // the faults and the checker do not need a full mesh, so the run goes on with a note.
    let mesh = [];
    const full = await waitUntil(
      async () => {
        const ss = await Promise.all(apis.map((api) => api.get('/v1/status')));
        mesh = ss.map((s) => s?.peers.filter((p) => p.connected).length ?? 0);
        return mesh.every((c) => c >= opts.agents - 1);
      },
      'every agent connected to every other',
      90_000,
      200,
    ).catch(() => false);
    if (!full) log(`note: no full mesh within 90 s (connected peers per agent: ${mesh.join(' ')}); going on`);
    log(`cluster ${full ? 'connected' : 'partly connected'}; starting clients and the nemesis`);
    const rng = new Prng(opts.seed);
    const history = new History();
    const clients = agents.map((_, i) => new Client(i, apis[i], history, rng.fork(100 + i)));
    const running = clients.map((c) => c.run(1_000_000, 15));
    // The agent that joins during a split: started fresh, joined to `joinTo` only, with its own
    // client (seeded like the others by its index).
    const addAgent = async (i, joinTo) => {
      const a = newAgent(i, joinTo);
      await a.start();
      const c = new Client(i, apis[i], history, rng.fork(100 + i));
      clients.push(c);
      running.push(c.run(1_000_000, 15));
    };
    const nemesis = new Nemesis({
      rng: rng.fork(1),
      agents,
      apis,
      clients,
      net,
      history,
      storeLoss: opts.storeLoss,
      forceLeaveRestart: opts.forceLeave === 'any',
      reapAfterMs: opts.reapAfterMs,
      reapFaults: opts.reapFaults,
      splitFaults: opts.splitFaults,
      addAgent: opts.splitFaults ? addAgent : undefined,
      log,
    });
    await nemesis.run(Date.now() + opts.durationMs);
    for (const c of clients) c.stop();
    await Promise.all(running);
    await nemesis.settleRebases(RERUN_SETTLE_MS);
    net.healAll();
    for (const a of agents) {
      if (a.state === 'stopped') a.resume();
      if (a.state === 'dead') await a.start();
    }
    log(
      `faults done; history ${JSON.stringify(history.counts())}; waiting for convergence (up to ${opts.convergeMs} ms)`,
    );
    const conv = await awaitConvergence(apis, opts.convergeMs);
    // Nothing below asks the agents anything (the checks read the views and the logs): stop
    // them, so that on a shared machine the checker does not compete with six agents still
    // syncing (seed 33: 13 min of checking at load 20, the agents busy all along).
    for (const a of agents) a.pause();
    const failures = [];
    if (!conv.converged) {
      failures.push(`no convergence within ${opts.convergeMs} ms after healing; what differs:`);
      failures.push(...conv.differences.slice(0, 60).map((d) => `  ${d}`));
    } else log(`converged after ${conv.waitedMs} ms`);
    // Check against the first agent's state (all are equal when converged) and every clock.
    const live = conv.views.filter((v) => v !== undefined);
    // Every agreed reap (the converged replicas agree on them): ops beyond a cut were re-run.
    // An epoch a rebase abandoned (written under after an unclean restart, before the member
    // learned its older epoch was reaped) is re-run whole: like a reap at cut 0.
    // Reaps no fault asked for (a reapAfterMs timer that fired while a killed agent was slow to
    // restart): checked like the planned ones, from the member's own log lines.
    const unplanned = nemesis.unplannedReaps(live[0]?.status?.compaction?.reaps ?? []);
    for (const u of unplanned)
      log(
        `unplanned reap of a${u.targets[0]}: ${u.reap.epoch.slice(-16)} cut ${u.reap.cut}; ${u.rebase ? `rebased, re-ran ${u.rebase.rerun}` : 'no rebase logged'}`,
      );
    const abandoned = [...nemesis.reapRecords(), ...unplanned]
      .filter((f) => typeof f.rebase?.abandoned === 'string')
      .map((f) => ({ epoch: f.rebase.abandoned, cut: 0 }));
    // When the member's re-run ended (its log line), the checker bounds the re-run ops by it.
    const rerunDone = (epoch) =>
      [...nemesis.faults, ...unplanned].find((f) => f.reap?.epoch === epoch || f.rebase?.abandoned === epoch)
        ?.rebase?.done;
    // Own epochs abandoned by a rebase from another member's epoch: re-run beyond `handedOver`.
    const foreign = foreignRebases(nemesis);
    const reaps = [...(live[0]?.status?.compaction?.reaps ?? []), ...abandoned, ...foreign].map((r) => ({
      ...r,
      rerunDone: r.rerunDone ?? rerunDone(r.epoch),
    }));
    const checker = new Checker({ history, cuts: nemesis.cuts, agents, reaps });
    const result =
      live.length > 0
        ? checker.run(
            live[0].values,
            live.map((v) => v.clock),
          )
        : { failures: ['no agent answered'], decided: {} };
    failures.push(...result.failures);
    const kinds = new Set(nemesis.faults.map((f) => f.kind));
    for (const k of nemesis.kinds) if (!kinds.has(k)) failures.push(`fault kind ${k} never happened`);
    const leaves = nemesis.faults.filter((f) => f.kind === 'force-leave' || f.kind === 'reap-timer');
    if (leaves.length > 0 && !leaves.some((f) => f.reap)) failures.push('no force-leave completed a reap');
    // One record per reaped member: the force-leave faults and each member of the two-reap ones.
    const reaped = nemesis.reapRecords();
    failures.push(...rebaseFailures([...reaped, ...unplanned], history.ops, nemesis.faults));
    failures.push(...reapFaultFailures(nemesis));
    failures.push(...splitFaultFailures(nemesis));
    // An agent that exited without being killed crashed: name it, with the end of its log.
    for (const a of agents)
      for (const c of a.crashes)
        failures.push(
          `${a.name} exited on its own at ${new Date(c.at).toISOString().slice(11, 23)} (code ${c.code}, signal ${c.signal}); the end of its log:\n      ${c.tail.replaceAll('\n', '\n  ')}`,
        );
    if (!nemesis.faults.some((f) => f.kind.startsWith('kill') && f.midWrite))
      failures.push('no kill hit a request in flight');
    const compactedInFault = nemesis.faults.filter((f) => f.compactions > 0).map((f) => f.kind);
    if (compactedInFault.length === 0) failures.push('no compaction ran during any fault');
    const note = (f) =>
      f.kind === 'mutual-reap' || f.kind === 'three-way-reap'
        ? `${f.mutual ? '' : ' not'} mutual, a${f.winners.join('+a')} won`
        : f.kind === 'opposite-reaps'
          ? `${f.crossed ? '' : ' not'} crossed`
          : f.kind === 'join-during-split'
            ? ` via a${f.via}, ${f.acked} acked in the split`
            : '';
    log(`faults: ${nemesis.faults.map((f) => `${f.kind}(a${f.targets.join('+a')}${note(f)})`).join(' ')}`);
    log(
      `reaps: ${reaped.map((f) => `${f.kind === 'force-leave' ? '' : `${f.kind} `}${f.reap ? `a${f.targets[0]} cut ${f.reap.cut}, re-ran ${f.rebase?.rerun ?? '?'}${f.restart ? ' (restarted)' : ''}` : `a${f.targets[0]} none`}`).join('; ') || 'none'}; re-run writes the checker counted: ${result.rerun ?? 0}`,
    );
    log(
      `compaction ran during: ${compactedInFault.join(' ') || 'none'}; decided by the checker: ${JSON.stringify(result.decided)}`,
    );
    if (opts.keep)
      writeFileSync(
        join(dir, 'history.json'),
        JSON.stringify({ opts, faults: nemesis.faults, cuts: nemesis.cuts, ...history }, (_, v) =>
          v === Infinity ? 'Infinity' : v,
        ),
      );
    if (failures.length > 0) {
      log(`FAILED (seed ${opts.seed}):\n${failures.map((f) => `  ${f}`).join('\n')}`);
      return 1;
    }
    log(`PASSED (seed ${opts.seed})`);
    return 0;
  } catch (e) {
    log(`ERROR (seed ${opts.seed}): ${e.stack ?? e}`);
    return 1;
  } finally {
    await tearDown();
  }
}

process.exit(await main());
