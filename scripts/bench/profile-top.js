#!/usr/bin/env node
// Summarizes a V8 CPU profile (`node --cpu-prof`, or `write-path.js --cpu-prof <dir>`): the
// functions with the most self time, and the packages (or dist/ directories) time went to.
// Usage: node scripts/bench/profile-top.js <file.cpuprofile> [--top N]
import { readFileSync } from 'node:fs';

const [file] = process.argv.slice(2);
if (!file) {
  process.stderr.write('usage: profile-top.js <file.cpuprofile> [--top N]\n');
  process.exit(2);
}
const topIdx = process.argv.indexOf('--top');
const top = topIdx > 0 ? Number(process.argv[topIdx + 1]) : 25;
const prof = JSON.parse(readFileSync(file, 'utf8'));
const byId = new Map(prof.nodes.map((n) => [n.id, n]));
const dt = new Map();
for (let i = 0; i < prof.samples.length; i++) {
  const id = prof.samples[i];
  dt.set(id, (dt.get(id) ?? 0) + (prof.timeDeltas[i] ?? 0) / 1000);
}
const total = [...dt.values()].reduce((a, b) => a + b, 0);

/** Where a frame's code lives: a package name, a dist/ directory, node internals, or (native). */
function area(url) {
  if (!url) return '(native/vm)';
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return pkg[1];
  const dist = /\/dist\/([^/]+)\//.exec(url);
  if (dist) return `smac ${dist[1]}`;
  if (url.startsWith('node:')) return 'node internals';
  return url.replace(/^file:\/\//, '');
}

const fns = new Map();
const areas = new Map();
for (const [id, ms] of dt) {
  const { callFrame: f } = byId.get(id);
  const name = `${f.functionName || '(anonymous)'} ${area(f.url)}:${f.lineNumber + 1}`;
  fns.set(name, (fns.get(name) ?? 0) + ms);
  const a = f.functionName === '(idle)' ? '(idle)' : area(f.url);
  areas.set(a, (areas.get(a) ?? 0) + ms);
}
const pct = (ms) => `${((ms / total) * 100).toFixed(1).padStart(5)}%`;
const busy = total - (areas.get('(idle)') ?? 0);
process.stdout.write(
  `${file}: ${Math.round(total)} ms sampled, ${Math.round(busy)} ms busy\n\nself time by area:\n`,
);
for (const [a, ms] of [...areas].sort((x, y) => y[1] - x[1]).slice(0, 15))
  process.stdout.write(`  ${pct(ms)} ${Math.round(ms).toString().padStart(7)} ms  ${a}\n`);
process.stdout.write('\nself time by function:\n');
for (const [n, ms] of [...fns].sort((x, y) => y[1] - x[1]).slice(0, top))
  process.stdout.write(`  ${pct(ms)} ${Math.round(ms).toString().padStart(7)} ms  ${n}\n`);
