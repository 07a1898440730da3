// The WAN benchmark's partition phase (run.js): one region's link goes down for `seconds`
// while every region writes to its local SMAC agent and etcd member (both systems at once, one
// cut). Reports the writes acknowledged on each side during the cut, the time from the heal
// until every replica is identical, and acknowledged writes missing anywhere after that.
import { wallNow } from '../ipc.js';
import { SYSTEMS } from './phase-load.js';

const INTERVAL_MS = 200;

/** Polls every region's fingerprint until all are equal; ms from `since` (or undefined). */
async function untilIdentical(cluster, system, prefix, since, timeoutMs) {
  for (let i = 0; i < 100_000 && wallNow() - since < timeoutMs; i++) {
    try {
      const fps = await Promise.all(
        cluster.clients.map((c) => c.call('fingerprint', { system, prefix }, 20_000)),
      );
      const same = fps.every((f) => f.clock === fps[0].clock && f.hash === fps[0].hash);
      if (same) return { ms: Math.round(wallNow() - since), fingerprint: fps[0] };
    } catch {
      // a member that cannot answer yet is not identical
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { ms: undefined };
}

export async function partitionPhase(cluster, { seconds, cut = 2, log, tag }) {
  const regions = cluster.regions;
  const leaderBefore = await cluster.etcdLeader();
  const durationMs = seconds * 1000;
  const prefix = `part/${tag}/`;
  cluster.wan.cutRegion(cut);
  const cutAt = wallNow();
  log(
    `cut ${regions[cut]} for ${seconds} s (etcd leader: ${leaderBefore?.region ?? 'unknown'}); writing every ${INTERVAL_MS} ms in every region`,
  );
  const writers = [];
  for (const system of SYSTEMS) {
    regions.forEach((region, i) => {
      writers.push(
        cluster.clients[i]
          .call(
            'paced',
            { system, prefix: `${prefix}${region}`, intervalMs: INTERVAL_MS, durationMs, timeoutMs: 15_000 },
            durationMs + 120_000,
          )
          .then((r) => ({ system, i, ...r })),
      );
    });
  }
  await new Promise((r) => setTimeout(r, Math.max(0, cutAt + durationMs - wallNow())));
  cluster.wan.healRegion(cut);
  const healAt = wallNow();
  log(`healed ${regions[cut]} after ${Math.round(healAt - cutAt)} ms`);
  const identical = await Promise.all(
    SYSTEMS.map((system) => untilIdentical(cluster, system, prefix, healAt, 180_000)),
  );
  const results = await Promise.all(writers);
  // Writes still in flight at the heal may have been acknowledged after it: let every replica
  // settle again before looking for lost writes.
  const settled = await Promise.all(
    SYSTEMS.map((system) => untilIdentical(cluster, system, prefix, wallNow(), 180_000)),
  );
  const rows = [];
  for (const [s, system] of SYSTEMS.entries()) {
    const present = await Promise.all(
      cluster.clients.map(async (c) => new Set(await c.call('keys', { system, prefix }, 60_000))),
    );
    const lost = [];
    for (const r of results.filter((x) => x.system === system)) {
      for (const a of r.acked) if (!present.every((p) => p.has(a.key))) lost.push(a.key);
    }
    for (const r of results.filter((x) => x.system === system)) {
      const during = r.acked.filter((a) => a.at <= healAt);
      rows.push({
        system,
        region: regions[r.i],
        side: r.i === cut ? 'minority' : 'majority',
        attempted: r.acked.length + r.failed.length,
        ackedDuringCut: during.length,
        ackedAfterHeal: r.acked.length - during.length,
        failed: r.failed.length,
        firstFailure: r.failed[0]?.error,
        failedAfterMs: r.failed.length > 0 ? Math.round(r.failed[0].ms) : undefined,
      });
    }
    rows
      .filter((x) => x.system === system)
      .forEach((x) => {
        x.identicalAfterHealMs = identical[s].ms;
        x.lost = lost.length;
        x.settled = settled[s].ms !== undefined;
      });
  }
  for (const r of rows)
    log(
      `partition ${r.system} ${r.region} (${r.side}): ${r.ackedDuringCut}/${r.attempted} acked during the cut, ${r.failed} failed; identical ${r.identicalAfterHealMs} ms after the heal; ${r.lost} acked writes lost`,
    );
  return {
    seconds,
    cutRegion: regions[cut],
    etcdLeaderBefore: leaderBefore?.region,
    etcdLeaderAfter: (await cluster.etcdLeader())?.region,
    rows,
  };
}
