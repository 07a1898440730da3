// A small reader of the two files `docker build` reads: the Dockerfile (the instructions this
// project's Dockerfile uses) and .dockerignore. Shared by the static test
// (test/ship/dockerfile.test.ts) and the replay (scripts/docker/replay.js). Not a general
// Dockerfile parser: no ARG expansion, no heredocs, no ONBUILD; it throws on what it does not know.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

const KNOWN = new Set([
  'FROM',
  'WORKDIR',
  'COPY',
  'RUN',
  'ENV',
  'USER',
  'VOLUME',
  'EXPOSE',
  'STOPSIGNAL',
  'HEALTHCHECK',
  'ENTRYPOINT',
  'CMD',
  'LABEL',
]);

/** Lines joined across `\` continuations, comments and blank lines dropped (as Docker does). */
function logicalLines(text) {
  const out = [];
  let current = '';
  for (const raw of text.split('\n')) {
    const line = raw.replace(/\r$/, '');
    if (/^\s*#/.test(line) || (current === '' && line.trim() === '')) continue;
    if (line.endsWith('\\')) current += line.slice(0, -1) + ' ';
    else {
      out.push((current + line).trim());
      current = '';
    }
  }
  if (current.trim() !== '') out.push(current.trim());
  return out;
}

/** `--name=value` flags at the start of an instruction's arguments, and the rest. */
function takeFlags(rest) {
  const flags = {};
  let s = rest;
  for (let m; (m = /^--([a-z-]+)(?:=(\S*))?\s*/.exec(s));) {
    flags[m[1]] = m[2] ?? 'true';
    s = s.slice(m[0].length);
  }
  return { flags, rest: s };
}

/** Exec form (a JSON array) or shell form (`/bin/sh -c ...`), as Docker runs them. */
function command(rest) {
  if (rest.startsWith('[')) {
    const arr = JSON.parse(rest);
    if (!Array.isArray(arr) || !arr.every((x) => typeof x === 'string'))
      throw new Error(`bad exec form: ${rest}`);
    return { exec: true, argv: arr };
  }
  return { exec: false, argv: ['/bin/sh', '-c', rest] };
}

/** `k=v k2="v 2"` pairs (or the legacy `ENV k v`). */
function envPairs(rest) {
  if (!/^[A-Za-z_][A-Za-z0-9_]*=/.test(rest)) {
    const [k, ...v] = rest.split(/\s+/);
    return { [k]: v.join(' ') };
  }
  const out = {};
  const re = /([A-Za-z_][A-Za-z0-9_]*)=("(?:[^"\\]|\\.)*"|\S*)\s*/gy;
  for (let m; (m = re.exec(rest));) out[m[1]] = m[2].startsWith('"') ? JSON.parse(m[2]) : m[2];
  return out;
}

/**
 * The Dockerfile's stages: [{ name, base, steps: [{ op, flags, args, ... }] }]. COPY steps have
 * `sources` and `dest`; RUN, CMD, ENTRYPOINT have `argv` and `exec`; ENV has `env`;
 * HEALTHCHECK has `flags` and `argv` (or `none`).
 */
export function parseDockerfile(text) {
  const stages = [];
  for (const line of logicalLines(text)) {
    const m = /^([A-Za-z]+)\s*(.*)$/.exec(line);
    const op = m[1].toUpperCase();
    if (!KNOWN.has(op)) throw new Error(`The replay does not know the instruction ${op}: ${line}`);
    const { flags, rest } = takeFlags(m[2]);
    if (op === 'FROM') {
      const [base, as, name] = rest.split(/\s+/);
      stages.push({ base, name: as?.toUpperCase() === 'AS' ? name : String(stages.length), steps: [] });
      continue;
    }
    const stage = stages.at(-1);
    if (stage === undefined) throw new Error(`${op} before FROM`);
    const step = { op, flags, args: rest };
    if (op === 'COPY') {
      const parts = rest.startsWith('[') ? JSON.parse(rest) : rest.split(/\s+/);
      step.sources = parts.slice(0, -1);
      step.dest = parts.at(-1);
    } else if (op === 'RUN' || op === 'CMD' || op === 'ENTRYPOINT') Object.assign(step, command(rest));
    else if (op === 'ENV') step.env = envPairs(rest);
    else if (op === 'HEALTHCHECK') {
      if (/^NONE$/i.test(rest)) step.none = true;
      else {
        const cmd = /^CMD\s+(.*)$/i.exec(rest);
        if (!cmd) throw new Error(`HEALTHCHECK without CMD: ${line}`);
        Object.assign(step, command(cmd[1]));
      }
    }
    stage.steps.push(step);
  }
  return stages;
}

/** Duration flags of HEALTHCHECK (`30s`, `1m`, `500ms`) in milliseconds. */
export function durationMs(s) {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(s ?? '');
  if (!m) throw new Error(`not a duration: ${s}`);
  return Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2]];
}

/** Patterns of a .dockerignore: [{ negate, re }], in order (the last match wins). */
export function parseDockerignore(text) {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => {
      const negate = l.startsWith('!');
      const pattern = (negate ? l.slice(1) : l).replace(/^\/+/, '').replace(/\/+$/, '');
      let re = '';
      for (let i = 0; i < pattern.length; i++) {
        const c = pattern[i];
        if (c === '*' && pattern[i + 1] === '*') {
          re += pattern[i + 2] === '/' ? '(?:.*/)?' : '.*';
          i += pattern[i + 2] === '/' ? 2 : 1;
        } else if (c === '*') re += '[^/]*';
        else if (c === '?') re += '[^/]';
        else re += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
      }
      return { negate, pattern, re: new RegExp(`^${re}$`) };
    });
}

/** Whether `path` (relative, `/`-separated) is kept out of the context: it or a parent matches. */
export function isIgnored(patterns, path) {
  const parts = path.split('/');
  let ignored = false;
  for (const p of patterns) {
    for (let n = 1; n <= parts.length; n++) {
      if (p.re.test(parts.slice(0, n).join('/'))) {
        ignored = !p.negate;
        break;
      }
    }
  }
  return ignored;
}

/** Every file of the build context under `root` (relative paths), .dockerignore applied. */
export function contextFiles(root, patterns, dir = '') {
  const out = [];
  for (const name of readdirSync(join(root, dir))) {
    const rel = dir === '' ? name : `${dir}/${name}`;
    const isDir = statSync(join(root, rel)).isDirectory();
    // An ignored directory is still walked when an exception (`!dir/sub`) may keep something in it.
    const kept = (p) => p.negate && p.pattern.startsWith(`${rel}/`);
    if (isIgnored(patterns, rel) && !(isDir && patterns.some(kept))) continue;
    if (isDir) out.push(...contextFiles(root, patterns, rel));
    else out.push(rel);
  }
  return out;
}

/** The Dockerfile and .dockerignore of the project at `root`, read and parsed. */
export function readBuildFiles(root) {
  return {
    stages: parseDockerfile(readFileSync(join(root, 'Dockerfile'), 'utf8')),
    ignore: parseDockerignore(readFileSync(join(root, '.dockerignore'), 'utf8')),
  };
}
