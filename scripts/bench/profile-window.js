// What a process ran during given time windows, from its V8 CPU profile (`node --cpu-prof`):
// used by scripts/bench/write-tail.js to say which work ran on an agent's event loop while its
// slow requests waited. Windows are [startUs, endUs] on the profile's clock (process.hrtime in
// µs: CLOCK_MONOTONIC, the same in every process on the machine).
//
// Sample i covers the time since sample i-1 and is charged to sample i's stack (the convention
// of Chrome's profiler and profile-top.js). A gap between two samples longer than `gapUs` means
// the thread was not sampled at all (not scheduled, or stopped where the sampler cannot reach
// it): such time is counted as "unsampled" rather than charged to a function.

/** Where a frame's code lives: a package name, a dist/ directory, node internals, or (native). */
export function area(url) {
  if (!url) return '(native/vm)';
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return pkg[1];
  const dist = /\/dist\/([^/]+\/[^/]+)$/.exec(url) ?? /\/dist\/([^/]+)\//.exec(url);
  if (dist) return `smac ${dist[1]}`;
  if (url.startsWith('node:')) return 'node internals';
  return url.replace(/^file:\/\//, '');
}

const frameName = (f) => `${f.functionName || '(anonymous)'} ${area(f.url)}:${f.lineNumber + 1}`;

/** Sorted, merged copy of `windows` ([startUs, endUs] pairs). */
function merge(windows) {
  const out = [];
  for (const [a, b] of [...windows].sort((x, y) => x[0] - y[0])) {
    const last = out.at(-1);
    if (last && a <= last[1]) last[1] = Math.max(last[1], b);
    else out.push([a, b]);
  }
  return out;
}

/**
 * Time inside `windows` by self function, by area and by inclusive function (each function on
 * the sampled stack, once per sample), in ms, plus the unsampled time, the idle time and the
 * windows' total. `top` rows of each list, largest first.
 */
export function windowBreakdown(profile, windows, { gapUs = 4000, top = 25 } = {}) {
  const ws = merge(windows);
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const self = new Map();
  const areas = new Map();
  const incl = new Map();
  const add = (m, k, v) => m.set(k, (m.get(k) ?? 0) + v);
  let unsampled = 0;
  let sampled = 0;
  let t = profile.startTime;
  let w = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const from = t;
    const delta = profile.timeDeltas[i] ?? 0;
    t += delta;
    while (w < ws.length && ws[w][1] <= from) w++;
    let overlap = 0;
    for (let j = w; j < ws.length && ws[j][0] < t; j++)
      overlap += Math.max(0, Math.min(t, ws[j][1]) - Math.max(from, ws[j][0]));
    if (overlap <= 0) continue;
    const ms = overlap / 1000;
    if (delta > gapUs) {
      unsampled += ms;
      continue;
    }
    sampled += ms;
    const node = byId.get(profile.samples[i]);
    add(self, frameName(node.callFrame), ms);
    add(areas, node.callFrame.functionName === '(idle)' ? '(idle)' : area(node.callFrame.url), ms);
    const seen = new Set();
    for (let id = node.id; id !== undefined; id = parent.get(id)) {
      const name = frameName(byId.get(id).callFrame);
      if (seen.has(name)) continue;
      seen.add(name);
      add(incl, name, ms);
    }
  }
  const sorted = (m) =>
    [...m]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, ms]) => ({ name, ms: Math.round(ms * 10) / 10 }));
  const total = ws.reduce((s, [a, b]) => s + (b - a) / 1000, 0);
  return {
    windows: ws.length,
    totalMs: Math.round(total),
    sampledMs: Math.round(sampled),
    unsampledMs: Math.round(unsampled),
    idleMs: Math.round(areas.get('(idle)') ?? 0),
    areas: sorted(areas),
    self: sorted(self),
    inclusive: sorted(incl),
  };
}

/**
 * The stretches in which the thread never went idle for `minMs` or more (event-loop stalls as
 * the profile saw them), longest first: each with its start (profile clock, µs), length, the
 * part of it between samples longer than `gapUs` (not scheduled), and its top self functions
 * and stack roots below the event loop (what the stalled turn was doing).
 */
export function stalls(profile, { minMs = 50, gapUs = 4000, top = 5, count = 10 } = {}) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const out = [];
  let cur;
  let t = profile.startTime;
  const close = () => {
    if (cur && (t - cur.start) / 1000 >= minMs) out.push(cur);
    cur = undefined;
  };
  for (let i = 0; i < profile.samples.length; i++) {
    const delta = profile.timeDeltas[i] ?? 0;
    const node = byId.get(profile.samples[i]);
    if (node.callFrame.functionName === '(idle)') {
      close();
      t += delta;
      continue;
    }
    cur ??= { start: t, unsampled: 0, self: new Map(), tasks: new Map() };
    t += delta;
    cur.end = t;
    if (delta > gapUs) {
      cur.unsampled += delta / 1000;
      continue;
    }
    const add = (m, k) => m.set(k, (m.get(k) ?? 0) + delta / 1000);
    add(cur.self, frameName(node.callFrame));
    // The outermost JS frame of the sample: the task the event loop was running.
    let task = node;
    for (let id = node.id; id !== undefined; id = parent.get(id)) {
      const f = byId.get(id).callFrame;
      if (f.url) task = byId.get(id);
    }
    add(cur.tasks, frameName(task.callFrame));
  }
  close();
  const topOf = (m) =>
    [...m]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, ms]) => `${Math.round(ms)} ms ${name}`);
  return out
    .sort((a, b) => b.end - b.start - (a.end - a.start))
    .slice(0, count)
    .map((s) => ({
      startUs: s.start,
      ms: Math.round((s.end - s.start) / 1000),
      unsampledMs: Math.round(s.unsampled),
      self: topOf(s.self),
      tasks: topOf(s.tasks),
    }));
}

// CLI: node scripts/bench/profile-window.js <file.cpuprofile> [--min-ms N]: the longest stalls.
if (process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href) {
  const { readFileSync } = await import('node:fs');
  const [file] = process.argv.slice(2);
  const i = process.argv.indexOf('--min-ms');
  const minMs = i > 0 ? Number(process.argv[i + 1]) : 50;
  for (const s of stalls(JSON.parse(readFileSync(file, 'utf8')), { minMs }))
    process.stdout.write(
      `${s.ms} ms (unsampled ${s.unsampledMs}) at ${s.startUs}\n  self: ${s.self.join('; ')}\n  tasks: ${s.tasks.join('; ')}\n`,
    );
}
