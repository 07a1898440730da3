// The WAN benchmark's failure-detection phase (run.js), SMAC only (etcd has no membership
// failure detector to compare): a soak under write load in every region, counting suspicions
// of live members, then SIGKILL of one agent and the time until every other region holds it
// dead. It kills an agent, so it runs last.
import { waitUntil } from '../../chaos/agents.js';
import { wallNow } from '../ipc.js';

const LOAD_INTERVAL_MS = 20;

/** Transitions to suspect or dead of live members since `since`, gathered from every agent. */
async function suspicionsSince(cluster, since, seen) {
  const ids = new Map(cluster.agents.map((a, i) => [a.peerId, cluster.regions[i]]));
  await Promise.all(
    cluster.apis.map(async (api, i) => {
      const m = await api.get('/v1/members');
      for (const t of m?.transitions ?? []) {
        if (Date.parse(t.at) < since || t.id === cluster.agents[i].peerId) continue;
        if (t.to !== 'suspect' && t.to !== 'dead') continue;
        const key = `${i} ${t.id} ${t.at} ${t.to}`;
        if (!seen.has(key))
          seen.set(key, { at: cluster.regions[i], about: ids.get(t.id) ?? t.id, to: t.to, when: t.at });
      }
    }),
  );
}

export async function detectionPhase(cluster, { soakSeconds, victim = 2, log }) {
  const soakStart = Date.now();
  const durationMs = soakSeconds * 1000;
  log(`soak: ${soakSeconds} s, every region writing every ${LOAD_INTERVAL_MS} ms to its agent`);
  const writers = cluster.clients.map((c, i) =>
    c.call(
      'paced',
      {
        system: 'smac',
        prefix: `soak/${cluster.regions[i]}`,
        intervalMs: LOAD_INTERVAL_MS,
        durationMs,
        timeoutMs: 15_000,
      },
      durationMs + 120_000,
    ),
  );
  // /v1/members keeps the latest 200 transitions: gather them as the soak goes.
  const seen = new Map();
  const end = soakStart + durationMs;
  for (let i = 0; i < 10_000 && Date.now() < end; i++) {
    await new Promise((r) => setTimeout(r, Math.min(10_000, Math.max(0, end - Date.now()))));
    await suspicionsSince(cluster, soakStart, seen);
  }
  const load = await Promise.all(writers);
  await suspicionsSince(cluster, soakStart, seen);
  const suspicions = [...seen.values()];
  const acked = load.reduce((s, r) => s + r.acked.length, 0);
  const failed = load.reduce((s, r) => s + r.failed.length, 0);
  log(`soak: ${acked} writes acked, ${failed} failed; ${suspicions.length} suspicions of live members`);
  // Each agent's failure-detector counters after the soak, to tell what the suspicions came from
  // (probes out of turn follow lost connections; refutations count suspicions of the agent).
  const probes = {};
  await Promise.all(
    cluster.apis.map(async (api, i) => {
      probes[cluster.regions[i]] = (await api.get('/v1/members'))?.probes;
    }),
  );
  for (const [region, p] of Object.entries(probes)) {
    if (p === undefined) continue;
    log(
      `  ${region}: ${p.probes} probes, ${p.probesOutOfTurn ?? '?'} out of turn, ${p.pingTimeouts} ping timeouts, ${p.probeFailures} failed, ${p.refutations} refutations, health ${p.healthScore}`,
    );
  }

  const victimId = cluster.agents[victim].peerId;
  await cluster.agents[victim].kill();
  const killedAt = wallNow();
  const detection = {};
  await Promise.all(
    cluster.apis.map(async (api, i) => {
      if (i === victim) return;
      const state = {};
      try {
        await waitUntil(
          async () => {
            const m = await api.get('/v1/members');
            const x = m?.members.find((y) => y.id === victimId);
            if (x?.status === 'suspect' && state.suspectMs === undefined)
              state.suspectMs = Math.round(wallNow() - killedAt);
            return x === undefined || x.status === 'dead';
          },
          `${cluster.regions[i]} declares ${cluster.regions[victim]} dead`,
          120_000,
          50,
        );
        state.deadMs = Math.round(wallNow() - killedAt);
      } catch {
        state.deadMs = undefined;
      }
      detection[cluster.regions[i]] = state;
    }),
  );
  log(`SIGKILL of ${cluster.regions[victim]}: ${JSON.stringify(detection)}`);
  return {
    soakSeconds,
    loadWritesPerSecPerRegion: 1000 / LOAD_INTERVAL_MS,
    soakAcked: acked,
    soakFailed: failed,
    soakFailures: load.flatMap((r) => r.failed.map((f) => `${Math.round(f.ms)} ms: ${f.error}`)).slice(0, 5),
    suspicions,
    probes,
    victim: cluster.regions[victim],
    detection,
  };
}
