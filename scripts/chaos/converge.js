// Waiting for convergence after the faults are healed, and saying what differs when it does
// not come: replicas are equal when their values under the prefix are equal (canonical JSON)
// and so are their clocks; equal clocks alone prove nothing.
import { PREFIX } from './workload.js';

/** JSON with object keys sorted, so that equal values print equally. */
export function canonical(v) {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v !== null && typeof v === 'object')
    return `{${Object.keys(v)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical(v[k])}`)
      .join(',')}}`;
  return JSON.stringify(v);
}

/**
 * The clock a status shows, with the retired epochs it leaves out put back at their cuts
 * (docs/agent.md "Reaping": a retired epoch held up to its cut is pruned from `clock`).
 */
export function statusClock(status) {
  return { ...(status.retired ?? {}), ...status.clock };
}

/** One agent's view: values by `type key`, its clock, and its status counters. */
async function snapshotOf(api) {
  const status = await api.get('/v1/status');
  const objects = await api.listAll(PREFIX);
  if (!status || !objects) return undefined;
  const values = {};
  for (const o of objects) values[`${o.type} ${o.key}`] = canonical(o.value);
  return { values, clock: statusClock(status), status };
}

function sameRecord(a, b) {
  const ka = Object.keys(a);
  return ka.length === Object.keys(b).length && ka.every((k) => a[k] === b[k]);
}

/**
 * Polls every agent until all hold equal values and equal clocks, or `timeoutMs` passes.
 * @returns {Promise<{converged: boolean, views: any[], waitedMs: number, differences: string[]}>}
 */
export async function awaitConvergence(apis, timeoutMs, everyMs = 500) {
  const started = Date.now();
  let views = [];
  for (let i = 0; i < 10_000; i++) {
    views = await Promise.all(apis.map((a) => snapshotOf(a)));
    const ok =
      views.every((v) => v !== undefined) &&
      views.every((v) => sameRecord(v.values, views[0].values) && sameRecord(v.clock, views[0].clock));
    if (ok) return { converged: true, views, waitedMs: Date.now() - started, differences: [] };
    if (Date.now() - started > timeoutMs) break;
    await new Promise((r) => setTimeout(r, everyMs));
  }
  return { converged: false, views, waitedMs: Date.now() - started, differences: differences(views) };
}

/** Which agents disagree on which keys and on which clock entries. */
export function differences(views) {
  const out = [];
  views.forEach((v, i) => {
    if (v === undefined) out.push(`a${i} did not answer /v1/status or /v1/objects`);
  });
  const live = views.map((v, i) => [i, v]).filter(([, v]) => v !== undefined);
  const keys = new Set(live.flatMap(([, v]) => Object.keys(v.values)));
  for (const k of [...keys].sort()) {
    const vals = live.map(([i, v]) => `a${i}=${v.values[k] ?? '(absent)'}`);
    if (new Set(live.map(([, v]) => v.values[k] ?? '(absent)')).size > 1)
      out.push(`value of ${k}: ${vals.join(' ')}`);
  }
  const origins = new Set(live.flatMap(([, v]) => Object.keys(v.clock)));
  for (const o of [...origins].sort()) {
    const seqs = live.map(([, v]) => v.clock[o] ?? 0);
    if (new Set(seqs).size > 1)
      out.push(`clock[${o}]: ${live.map(([i], j) => `a${i}=${seqs[j]}`).join(' ')}`);
  }
  for (const [i, v] of live) {
    const s = v.status;
    if (s.buffered > 0) out.push(`a${i} holds ${s.buffered} events in its causal buffer`);
  }
  return out;
}
