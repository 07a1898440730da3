// WAN benchmark phases about replication across regions (run.js): how long a write takes to
// become readable in each other region, and how long a burst takes to arrive in full.
import { sleep } from '../ipc.js';
import { SYSTEMS } from './phase-load.js';
import { visibilityRows } from './report.js';

/**
 * For each system and each writing region, `samples` writes one at a time. Before each, the
 * other regions' clients start polling their local agent or member for the value (SMAC: a local
 * read; etcd: a serializable, local read); a sample is the time from the write's start to the
 * first read that returned it.
 */
export async function visibilityPhase(cluster, { samples, log, tag }) {
  const raw = [];
  const n = cluster.regions.length;
  for (const system of SYSTEMS) {
    for (let w = 0; w < n; w++) {
      for (let k = 0; k < samples; k++) {
        const key = `vis/${cluster.regions[w]}/${k % 32}`;
        const value = `${tag}-${system}-${w}-${k}`;
        const readers = [];
        for (let r = 0; r < n; r++) {
          if (r === w) continue;
          readers.push(
            cluster.clients[r]
              .call('waitValue', { system, key, value, timeoutMs: 30_000, everyMs: 1 }, 60_000)
              .then((seen) => ({ r, seen })),
          );
        }
        await sleep(5); // the readers' first (unsuccessful) reads are under way
        const { sent } = await cluster.clients[w].call('writeOnce', { system, key, value }, 60_000);
        for (const { r, seen } of await Promise.all(readers)) {
          raw.push({
            system,
            from: cluster.regions[w],
            to: cluster.regions[r],
            oneWayMs: cluster.wan.configuredRttMs(w, r) / 2,
            ms: seen.at === undefined ? undefined : seen.at - sent,
          });
        }
      }
    }
  }
  const rows = visibilityRows(raw);
  for (const r of rows)
    log(
      `visibility ${r.system} ${r.from}→${r.to}: p50 ${r.p50} ms (${r.ratioP50}×), p99 ${r.p99} ms (${r.ratioP99}×), missed ${r.missed}`,
    );
  return { samples, rows };
}

/**
 * `writes` writes from region `from` with 16 in flight, then one marker write, while region
 * `to` polls for the marker. A marker that is readable means every write before it is too:
 * SMAC delivers one origin's events in order, and an etcd member applies its log in order.
 */
export async function burstPhase(cluster, { writes, from = 0, to = 1, log, tag }) {
  const rows = [];
  for (const system of SYSTEMS) {
    const marker = { key: `burst/${tag}/marker`, value: `${tag}-${system}-done` };
    const reader = cluster.clients[to].call(
      'waitValue',
      { system, key: marker.key, value: marker.value, timeoutMs: 600_000, everyMs: 5 },
      660_000,
    );
    const b = await cluster.clients[from].call(
      'burst',
      { system, n: writes, concurrency: 16, prefix: `burst/${tag}/${system}`, marker },
      600_000,
    );
    const seen = await reader;
    const row = {
      system,
      from: cluster.regions[from],
      to: cluster.regions[to],
      writes,
      acked: b.acked,
      errors: b.errors,
      ackedInMs: Math.round(b.tLastAck - b.tStart),
      writesPerSec: Math.round(b.acked / ((b.tLastAck - b.tStart) / 1000)),
      allVisibleMs: seen.at === undefined ? undefined : Math.round(seen.at - b.tStart),
      afterLastAckMs: seen.at === undefined ? undefined : Math.round(seen.at - b.tLastAck),
    };
    rows.push(row);
    log(
      `burst ${system} ${row.from}→${row.to}: ${row.acked}/${writes} acked in ${row.ackedInMs} ms (${row.writesPerSec}/s), all visible at ${row.allVisibleMs} ms (${row.afterLastAckMs} ms after the last ack)`,
    );
  }
  return { rows };
}
