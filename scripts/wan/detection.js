#!/usr/bin/env node
// Failure detection across the emulated WAN (issue 8; docs/membership.md): three agents, one
// per region, joined through the delay proxies, with default settings. Counts the suspicions of
// live members over a quiet soak, then (with --kill) SIGKILLs one agent and times until every
// other region holds it dead.
//
//   node scripts/wan/detection.js [--soak 25s] [--load 4] [--kill] [--victim 2]
//                                 [--trials 1] [--agent-args '<json array>']
//
// --trials N repeats the kill N times (restarting the victim in between) and prints, for each,
// where the time went at every survivor (its probe timeout for the victim, suspect and dead).
//
// --load N keeps N counter increments in flight at every agent during the soak (replication
// traffic and a busy event loop, as in the soak under write load).
//
// Prints the report and a last line `RESULT <json>`. Exit status: 0 ran (the caller judges the
// figures), 1 failed to run, 77 cannot run here (not root, no `ip netns`). Needs dist/ built.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { BIN, ChaosAgent, waitUntil } from '../chaos/agents.js';
import { objectPath, SocketApi } from '../chaos/api.js';
import { netnsAvailable } from '../lib/netns.js';
import { formatReport, WanEmulator } from './emulator.js';

const log = (msg) => process.stdout.write(`[wan ${new Date().toISOString().slice(11, 23)}] ${msg}\n`);

function parseDuration(s) {
  const m = /^(\d+)(ms|s|m)?$/.exec(s);
  if (!m) throw new Error(`bad duration ${s}: write 90s, 2m or 5000ms`);
  return Number(m[1]) * { ms: 1, s: 1000, m: 60_000 }[m[2] ?? 's'];
}

async function main() {
  const { values } = parseArgs({
    options: {
      soak: { type: 'string', default: '25s' },
      kill: { type: 'boolean', default: false },
      victim: { type: 'string', default: '2' },
      'agent-args': { type: 'string', default: '[]' },
      'log-level': { type: 'string', default: 'warn' },
      'detect-timeout': { type: 'string', default: '60s' },
      trials: { type: 'string', default: '1' },
      load: { type: 'string', default: '0' },
      keep: { type: 'boolean', default: false },
    },
  });
  const why = netnsAvailable();
  if (why !== undefined) {
    console.error(`cannot run here: ${why} (needs root and ip netns)`);
    process.exit(77);
  }
  const wan = new WanEmulator();
  const dir = mkdtempSync(join(tmpdir(), 'smac-wan-detect-'));
  const agents = [];
  const apis = [];
  let tornDown = false;
  const tearDown = async () => {
    if (tornDown) return;
    tornDown = true;
    for (const api of apis) api.close();
    await Promise.all(agents.map((a) => a.destroy()));
    await wan.down();
    if (values.keep) log(`agent logs kept in ${dir}`);
    else rmSync(dir, { recursive: true, force: true });
  };
  for (const sig of ['SIGINT', 'SIGTERM']) {
    process.once(sig, () => {
      void tearDown().then(() => process.exit(130));
    });
  }
  try {
    await wan.up();
    const links = await wan.measureAll();
    log(`round trips through the proxies:\n${formatReport(links)}`);
    const clusterKey = join(dir, 'cluster.key');
    execFileSync(process.execPath, [BIN, 'keygen', '--out', clusterKey], { stdio: 'ignore' });
    const extraArgs = JSON.parse(values['agent-args']);
    for (let i = 0; i < wan.regions.length; i++) {
      const agent = new ChaosAgent({
        index: i,
        net: wan,
        dir: join(dir, `a${i}`),
        clusterKey,
        logLevel: values['log-level'],
        tuning: false,
        extraArgs,
      });
      agents.push(agent);
      apis.push(new SocketApi(agent));
    }
    await Promise.all(agents.map((a) => a.start()));
    const members = async (i) => (await apis[i].get('/v1/members')) ?? { members: [], transitions: [] };
    const allAlive = async () => {
      for (let i = 0; i < agents.length; i++) {
        const m = await members(i);
        if (m.members.filter((x) => x.status === 'alive').length < agents.length) return false;
      }
      return true;
    };
    const t0 = Date.now();
    await waitUntil(allAlive, 'every agent sees every region alive', 60_000, 200);
    const convergedMs = Date.now() - t0;
    log(`all ${agents.length} regions alive at every agent after ${convergedMs} ms; soaking ${values.soak}`);
    const soakStart = Date.now();
    const soakEnd = soakStart + parseDuration(values.soak);
    let writes = 0;
    const writers = [];
    for (const api of apis) {
      for (let k = 0; k < Number(values.load); k++) {
        writers.push(
          (async () => {
            while (Date.now() < soakEnd) {
              const r = await api.request('POST', objectPath('pn-counter', `wan/load/${k}`), {
                kind: 'increment',
                by: 1,
              });
              if (r.outcome === 'ok') writes++;
            }
          })(),
        );
      }
    }
    await new Promise((r) => setTimeout(r, soakEnd - Date.now()));
    await Promise.all(writers);
    if (writers.length > 0) log(`${writes} writes acknowledged during the soak`);
    const suspicions = [];
    const rtts = [];
    const probes = {};
    for (let i = 0; i < agents.length; i++) {
      const m = await members(i);
      for (const t of m.transitions) {
        if (
          Date.parse(t.at) >= soakStart &&
          t.id !== agents[i].peerId &&
          (t.to === 'suspect' || t.to === 'dead')
        )
          suspicions.push({ at: wan.regions[i], about: regionOf(agents, wan, t.id), to: t.to });
      }
      for (const x of m.members) {
        if (x.rtt) rtts.push({ from: wan.regions[i], to: x.region, ...x.rtt });
      }
      if (m.probes) probes[wan.regions[i]] = m.probes;
    }
    log(`suspicions of live members during the soak: ${suspicions.length}`);
    for (const r of rtts) {
      log(
        `  ${r.from} → ${r.to}: srtt ${r.srttMs} ms, rttvar ${r.rttvarMs} ms, probe timeout ${r.probeTimeoutMs} ms (${r.samples} samples)`,
      );
    }
    for (const [region, p] of Object.entries(probes)) {
      log(
        `  ${region}: ${p.probes} probes, ${p.pingTimeouts} ping timeouts, ${p.probeFailures} failed, ${p.staleAcks} late acks, ${p.probesOutOfTurn ?? 0} out of turn, ${p.transport?.streamsOpened ?? '?'} probe streams opened, ${p.transport?.packetsDropped ?? '?'} packets dropped`,
      );
    }
    const result = {
      links,
      convergedMs,
      soakMs: parseDuration(values.soak),
      writes,
      suspicions,
      rtts,
      probes,
    };
    if (values.kill) {
      const v = Number(values.victim);
      const trials = [];
      for (let t = 0; t < Number(values.trials); t++) {
        if (t > 0) {
          await agents[v].start();
          await waitUntil(allAlive, `${wan.regions[v]} back alive at every region`, 60_000, 200);
          // Long enough for every survivor to probe the victim again (round trips measured).
          await new Promise((r) => setTimeout(r, 8_000));
        }
        trials.push(await killTrial(agents, wan, members, v, parseDuration(values['detect-timeout'])));
      }
      result.detectionMs = trials[0].detectionMs;
      result.trials = trials;
    }
    console.log(`RESULT ${JSON.stringify(result)}`);
  } finally {
    await tearDown();
  }
}

/**
 * SIGKILLs agent `v` and times until every other region holds it dead, with where the time
 * went (from each survivor's own transitions and the probe timeout it held for the victim):
 * kill → suspect (round-robin wait until the victim's turn, plus the probe's span: the direct
 * timeout, the indirect probe, the rest of the period), suspect → dead (the suspicion timeout
 * and the last-chance ping), and whether a survivor's verdict was its own or gossip (it came
 * after another survivor's, by less than a round trip).
 */
async function killTrial(agents, wan, members, v, timeoutMs) {
  const victimId = agents[v].peerId;
  const before = {};
  for (let i = 0; i < agents.length; i++) {
    if (i === v) continue;
    const m = await members(i);
    const x = m.members.find((y) => y.id === victimId);
    before[wan.regions[i]] = {
      probeTimeoutMs: x?.rtt?.probeTimeoutMs,
      srttMs: x?.rtt?.srttMs,
      healthScore: m.probes?.healthScore,
      aliveMembers: m.members.filter((y) => y.status === 'alive').length,
    };
  }
  await agents[v].kill();
  const killedAt = Date.now();
  const detectionMs = {};
  await Promise.all(
    agents.map(async (_, i) => {
      if (i === v) return;
      await waitUntil(
        async () => {
          const m = await members(i);
          const x = m.members.find((y) => y.id === victimId);
          return x === undefined || x.status === 'dead';
        },
        `${wan.regions[i]} declares ${wan.regions[v]} dead`,
        timeoutMs,
        50,
      );
      detectionMs[wan.regions[i]] = Date.now() - killedAt;
    }),
  );
  const breakdown = {};
  for (let i = 0; i < agents.length; i++) {
    if (i === v) continue;
    const m = await members(i);
    const about = m.transitions.filter((t) => t.id === victimId && Date.parse(t.at) >= killedAt - 5_000);
    const at = (to) => {
      const t = about.find((x) => x.to === to);
      return t === undefined ? undefined : Date.parse(t.at) - killedAt;
    };
    breakdown[wan.regions[i]] = { ...before[wan.regions[i]], suspectMs: at('suspect'), deadMs: at('dead') };
  }
  log(`SIGKILL of ${wan.regions[v]} → dead at ${JSON.stringify(detectionMs)} (ms, polled)`);
  for (const [region, b] of Object.entries(breakdown)) {
    log(
      `  ${region}: probe timeout for the victim ${b.probeTimeoutMs} ms (srtt ${b.srttMs?.toFixed(0)}), health ${b.healthScore}; suspect at ${b.suspectMs} ms, dead at ${b.deadMs} ms (suspect → dead ${b.deadMs - b.suspectMs} ms)`,
    );
  }
  return { victim: wan.regions[v], detectionMs, breakdown };
}

function regionOf(agents, wan, id) {
  const i = agents.findIndex((a) => a.peerId === id);
  return i < 0 ? id : wan.regions[i];
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(e.stack ?? String(e));
    process.exit(1);
  },
);
