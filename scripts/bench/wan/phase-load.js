// WAN benchmark phases that load each region locally (run.js): idle cost per agent and member,
// and local write latency at each concurrency with every region loaded at once.
import { sleep } from '../ipc.js';
import { AGENT_PORT } from '../../wan/emulator.js';
import { ETCD_CLIENT_PORT, ETCD_PEER_PORT, procSample } from './cluster.js';
import { linkBytes, stats } from './report.js';

export const SYSTEMS = ['smac', 'etcd'];
const PORTS = { smac: [AGENT_PORT], etcd: [ETCD_CLIENT_PORT, ETCD_PEER_PORT] };
const TICKS_PER_SEC = 100;

/**
 * Nothing but the systems' own background work for `seconds`: RSS at the end, CPU over the
 * window (% of one core), and bytes per second each region sent and received on the WAN links.
 */
export async function idlePhase(cluster, { seconds, log }) {
  const regions = cluster.regions;
  const pids = cluster.pids();
  const before = Object.fromEntries(SYSTEMS.map((s) => [s, pids[s].map(procSample)]));
  const bytesBefore = linkBytes(await cluster.wan.proxyStats(), regions, PORTS);
  const t0 = performance.now();
  await sleep(seconds * 1000);
  const elapsedS = (performance.now() - t0) / 1000;
  const after = Object.fromEntries(SYSTEMS.map((s) => [s, pids[s].map(procSample)]));
  const bytesAfter = linkBytes(await cluster.wan.proxyStats(), regions, PORTS);
  const rows = [];
  for (const system of SYSTEMS) {
    regions.forEach((region, i) => {
      const a = before[system][i];
      const b = after[system][i];
      rows.push({
        system,
        region,
        rssMb: b ? Math.round(b.rssBytes / 2 ** 20) : undefined,
        cpuPct: a && b ? Math.round(((b.ticks - a.ticks) / TICKS_PER_SEC / elapsedS) * 1000) / 10 : undefined,
        wanSentPerSec: Math.round((bytesAfter[system][i].sent - bytesBefore[system][i].sent) / elapsedS),
        wanReceivedPerSec: Math.round(
          (bytesAfter[system][i].received - bytesBefore[system][i].received) / elapsedS,
        ),
      });
    });
  }
  for (const r of rows)
    log(
      `idle ${r.system} ${r.region}: RSS ${r.rssMb} MB, CPU ${r.cpuPct} %, WAN sent ${r.wanSentPerSec} B/s, received ${r.wanReceivedPerSec} B/s`,
    );
  return { seconds: Math.round(elapsedS), rows };
}

/** RSS of every process now (MB), per system and region. */
export function rssNow(cluster) {
  const pids = cluster.pids();
  return Object.fromEntries(
    SYSTEMS.map((s) => [
      s,
      pids[s].map((pid) => {
        const x = procSample(pid);
        return x ? Math.round(x.rssBytes / 2 ** 20) : undefined;
      }),
    ]),
  );
}

/**
 * Local write latency: for each concurrency and system, every region's client writes to its own
 * agent or member at once, `samples` timed writes each. etcd rows say whether the region held
 * the leader when the cell started.
 */
export async function latencyPhase(cluster, { samples, concurrencies, maxMs, log }) {
  const cells = [];
  for (const concurrency of concurrencies) {
    for (const system of SYSTEMS) {
      const leader = system === 'etcd' ? await cluster.etcdLeader() : undefined;
      const results = await Promise.all(
        cluster.clients.map((c) =>
          c.call(
            'latency',
            { system, n: samples, concurrency, warmup: 20, maxMs, prefix: `lat/c${concurrency}` },
            maxMs + 120_000,
          ),
        ),
      );
      results.forEach((r, i) => {
        const region = cluster.regions[i];
        const role = system === 'smac' ? 'agent' : leader?.index === i ? 'leader' : 'follower';
        const cell = {
          system,
          concurrency,
          region,
          role,
          ...stats(r.lat),
          errors: r.errors,
          writesPerSec: Math.round(r.writesPerSec),
        };
        cells.push(cell);
        log(
          `latency ${system} c=${concurrency} ${region} (${role}): n=${cell.n} p50 ${cell.p50} p99 ${cell.p99} max ${cell.max} ms, ${cell.writesPerSec} writes/s`,
        );
      });
    }
  }
  return { samples, cells };
}
