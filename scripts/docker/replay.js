#!/usr/bin/env node
// Replays the Dockerfile without a Docker engine (`npm run test:docker`; docs/deploy.md).
//
//   node scripts/docker/replay.js [--keep]
//
// 1. Build. The build context is the repository filtered by .dockerignore, copied to a
//    temporary directory. Each stage of the Dockerfile gets its own directory, which stands for
//    its root file system. The steps run as `docker build` runs them: WORKDIR, ENV, COPY (from
//    the context or from an earlier stage, --chown applied), and RUN under /bin/sh as root with
//    every absolute path argument moved under the stage's directory. The base image
//    (node:24-...) is stood in for by the pinned Node 24 (node_modules/.bin/node) first on
//    PATH, and the system npm; `npm ci` fetches from the npm registry.
// 2. Run. Each "container" is a directory whose app/ is the image's (shared, read-only in
//    spirit) and whose volumes (/var/lib/smac, /run/smac) start as copies of the image's, as
//    Docker initialises named volumes. The cluster key is made by the documented first-run
//    command and mounted as a secret at /run/secrets/smac_cluster_key. Each container has its
//    own network namespace (a veth pair between the two), and the agent runs as the image's
//    USER (setpriv) and as PID 1 of its own PID namespace (unshare), with exactly the image's
//    ENV, ENTRYPOINT and CMD (absolute paths moved under the container's directory).
// 3. Check. The HEALTHCHECK command passes; the second agent joins the first and becomes ready;
//    a write on one is read on the other; an "application" with only /run/smac and the group
//    7946 reaches the socket, a user without the group does not; SIGTERM from outside (as
//    `docker stop`) makes the first agent leave gracefully within Docker's 10 s, and the second
//    sees it as `left`; restarted on its volume (an upgrade), it has the same peer id and state.
//
// Exit status: 0 passed, 1 failed, 77 cannot run here (needs root, ip netns, unshare, setpriv).
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, posix } from 'node:path';
import { createInterface } from 'node:readline';
import { contextFiles, durationMs, readBuildFiles } from './dockerfile.js';

const REPO = join(import.meta.dirname, '..', '..');
const KEEP = process.argv.includes('--keep');
const NODE_DIR = dirname(process.execPath);
const PATH = `${NODE_DIR}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`;
const APP_UID = 1000; // an application container's user
// What `docker build` gets from the host: its proxies and trusted CAs (as the predefined
// HTTP_PROXY... build args and the daemon's trust store), and npm's own settings.
const HOST_NET_ENV = Object.fromEntries(
  Object.entries(process.env).filter(([k]) => /^(HOME|.*proxy|.*_CA_.*|.*CERT.*|npm_config_.*)$/i.test(k)),
);

const log = (msg) => process.stdout.write(`replay: ${msg}\n`);
function fail(msg) {
  throw Object.assign(new Error(msg), { replayFailure: true });
}

function preflight() {
  const missing = ['ip', 'unshare', 'setpriv'].filter((c) => spawnSync('which', [c]).status !== 0);
  if (process.getuid?.() !== 0 || missing.length > 0) {
    log(`cannot run here: needs root and ${missing.join(', ') || 'ip, unshare, setpriv'} (skipped)`);
    process.exit(77);
  }
}

// ---- build -------------------------------------------------------------------------------

function buildImage(work, stages, ignore) {
  const base = stages[0].base;
  const major = /^node:(\d+)/.exec(base)?.[1];
  if (major !== process.versions.node.split('.')[0])
    fail(`the image is ${base} but this replay runs on Node ${process.version}; run it with npm run`);
  const context = join(work, 'context');
  for (const f of contextFiles(REPO, ignore)) cpSync(join(REPO, f), join(context, f));
  log(`context: ${contextFiles(REPO, ignore).length} files (after .dockerignore)`);
  const built = new Map();
  let image;
  for (const [i, stage] of stages.entries()) {
    const root = join(work, 'stages', String(i));
    mkdirSync(root, { recursive: true });
    image = { root, workdir: '/', env: { PATH }, user: '0:0', steps: stage.steps };
    const at = (p) => join(root, posix.resolve(image.workdir, p));
    for (const step of stage.steps) {
      if (step.op === 'WORKDIR') {
        image.workdir = posix.resolve(image.workdir, step.args);
        mkdirSync(at('.'), { recursive: true });
      } else if (step.op === 'ENV') Object.assign(image.env, step.env);
      else if (step.op === 'USER') image.user = step.args;
      else if (step.op === 'COPY') {
        const from = step.flags.from === undefined ? context : built.get(step.flags.from)?.root;
        if (from === undefined) fail(`COPY --from=${step.flags.from}: no such stage`);
        const into = step.dest.endsWith('/') || step.sources.length > 1;
        for (const src of step.sources) {
          const source = join(from, src);
          if (!existsSync(source)) fail(`COPY ${src}: not found in ${step.flags.from ?? 'the context'}`);
          const dest =
            into && !statSync(source).isDirectory()
              ? join(at(step.dest), posix.basename(src))
              : at(step.dest);
          mkdirSync(dirname(dest), { recursive: true });
          cpSync(source, dest, { recursive: true, verbatimSymlinks: true });
          if (step.flags.chown) chownTree(dest, step.flags.chown);
        }
      } else if (step.op === 'RUN') {
        const argv = step.exec
          ? step.argv
          : ['/bin/sh', '-c', step.args.replace(/(^|\s)\/(?=\w)/g, `$1${root}/`)];
        log(`[${stage.name}] RUN ${step.args}`);
        const env = { ...HOST_NET_ENV, ...image.env };
        const r = spawnSync(argv[0], argv.slice(1), { cwd: at('.'), env, stdio: 'inherit' });
        if (r.status !== 0) fail(`RUN ${step.args} exited with ${r.status}`);
      }
    }
    built.set(stage.name, image);
  }
  return image;
}

function chownTree(path, owner) {
  const [uid, gid = uid] = owner.split(':').map(Number);
  execFileSync('chown', ['-R', `${uid}:${gid}`, path]);
}

function checkImage(image) {
  const at = (p) => join(image.root, p);
  const pkg = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8'));
  const nm = at(posix.join(image.workdir, 'node_modules'));
  // Packages the lockfile marks dev-only (devDependencies and what only they need).
  const lock = JSON.parse(readFileSync(join(REPO, 'package-lock.json'), 'utf8'));
  const devOnly = Object.entries(lock.packages).filter(([p, v]) => p.startsWith('node_modules/') && v.dev);
  const dev = devOnly.map(([p]) => p).filter((p) => existsSync(join(nm, '..', p)));
  if (dev.length > 0) fail(`dev-only packages in the image: ${dev.slice(0, 10).join(', ')}`);
  const prod = Object.keys(pkg.dependencies).filter((d) => !existsSync(join(nm, d)));
  if (prod.length > 0) fail(`production dependencies missing from the image: ${prod.join(', ')}`);
  if (existsSync(at(posix.join(image.workdir, 'src')))) fail('the image holds the TypeScript sources');
  log(
    `image: ${Object.keys(pkg.dependencies).length} production dependencies, none of ${devOnly.length} dev-only packages, no sources`,
  );
}

// ---- run ---------------------------------------------------------------------------------

const children = new Set();
const namespaces = [];

/** Two network namespaces joined by a veth pair (eth0 on both sides), as two Docker networks routed together. */
function networks(a, b) {
  for (const name of [a, b]) {
    namespaces.push(name);
    execFileSync('ip', ['netns', 'add', name]);
    execFileSync('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
    if (name === b)
      execFileSync('ip', [
        '-n',
        b,
        'link',
        'add',
        'eth0',
        'type',
        'veth',
        'peer',
        'name',
        'eth0',
        'netns',
        a,
      ]);
  }
  for (const [name, address] of [
    [a, '10.207.0.1'],
    [b, '10.207.0.2'],
  ]) {
    execFileSync('ip', ['-n', name, 'addr', 'add', `${address}/24`, 'dev', 'eth0']);
    execFileSync('ip', ['-n', name, 'link', 'set', 'eth0', 'up']);
  }
}

/** A container: its own root (app/ from the image, volumes copied from it), netns and env. */
function container(work, image, name, extraEnv) {
  const root = join(work, 'containers', name);
  mkdirSync(root, { recursive: true });
  chmodSync(root, 0o755);
  const top = image.workdir.split('/')[1];
  symlinkSync(join(image.root, top), join(root, top));
  for (const vol of ['/var/lib/smac', '/run/smac']) {
    mkdirSync(dirname(join(root, vol)), { recursive: true });
    cpSync(join(image.root, vol), join(root, vol), { recursive: true });
    const s = statSync(join(image.root, vol));
    chownSync(join(root, vol), s.uid, s.gid);
    chmodSync(join(root, vol), s.mode & 0o7777);
  }
  for (let d = dirname(join(root, '/var/lib/smac')); d !== root; d = dirname(d)) chmodSync(d, 0o755);
  for (let d = dirname(join(root, '/run/smac')); d !== root; d = dirname(d)) chmodSync(d, 0o755);
  const inside = (p) => (p.startsWith('/') && existsSync(join(root, p.split('/')[1])) ? join(root, p) : p);
  const env = Object.fromEntries(
    Object.entries({ ...image.env, ...extraEnv }).map(([k, v]) => [k, inside(v)]),
  );
  return { name, root, netns: `${namespaceBase}-${name}`, env, inside, stdout: '', stderr: '' };
}

const namespaceBase = `smac-replay-${process.pid}`;

/** argv as `uid:gid` inside the container's netns, with only `env` (as `docker exec` does). */
function asUser(c, user, argv, groups = []) {
  const [uid, gid = uid] = user.split(':');
  return [
    'ip',
    'netns',
    'exec',
    c.netns,
    'setpriv',
    `--reuid=${uid}`,
    `--regid=${gid}`,
    groups.length > 0 ? `--groups=${groups.join(',')}` : '--clear-groups',
    'env',
    '-i',
    ...Object.entries(c.env).map(([k, v]) => `${k}=${v}`),
    ...argv.map(c.inside),
  ];
}

function exec(c, user, argv, { timeoutMs = 30_000, groups } = {}) {
  const [cmd, ...args] = asUser(c, user, argv, groups);
  const r = spawnSync(cmd, args, { cwd: c.inside('/app'), encoding: 'utf8', timeout: timeoutMs });
  return { status: r.status, stdout: r.stdout.trim(), stderr: r.stderr.trim() };
}

/** Starts ENTRYPOINT + CMD as PID 1 of a new PID namespace; resolves with the ready line. */
function start(c, image) {
  const entry = image.steps.findLast((s) => s.op === 'ENTRYPOINT')?.argv ?? [];
  const cmd = image.steps.findLast((s) => s.op === 'CMD')?.argv ?? [];
  const [ip, ...rest] = asUser(c, image.user, [...entry, ...cmd]);
  const at = rest.indexOf('setpriv');
  const argv = [...rest.slice(0, at), 'unshare', '--pid', '--fork', '--kill-child', ...rest.slice(at)];
  const child = spawn(ip, argv, { cwd: c.inside(image.workdir), stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  c.process = child;
  c.exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  child.stderr.on('data', (d) => (c.stderr += d.toString()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${c.name} not ready in 30 s:\n${c.stderr}`)), 30_000);
    createInterface({ input: child.stdout }).on('line', (line) => {
      c.stdout += line + '\n';
      if (line.startsWith('{"ready":true')) {
        clearTimeout(timer);
        resolve(JSON.parse(line));
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${c.name} exited with ${code} before it was ready:\n${c.stderr}`));
    });
  });
}

/** The agent's host pid: the only child of `unshare --fork`; checks it is PID 1 inside. */
function agentPid(c) {
  const unsharePid = c.process.pid;
  const kids = readFileSync(`/proc/${unsharePid}/task/${unsharePid}/children`, 'utf8').trim().split(/\s+/);
  const pid = Number(kids[0]);
  const nspid = /NSpid:\s+(.*)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1].split(/\s+/);
  if (nspid?.at(-1) !== '1') fail(`${c.name}: the agent is not PID 1 of its namespace (NSpid ${nspid})`);
  return pid;
}

async function until(what, fn, ms = 15_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const r = fn();
    if (r) return r;
    if (Date.now() > deadline) fail(`timed out waiting for ${what}`);
    await new Promise((res) => setTimeout(res, 250));
  }
}

function expectExit(what, r, status) {
  if (r.status !== status) fail(`${what}: exit ${r.status}, expected ${status}\n${r.stdout}\n${r.stderr}`);
  log(`ok  ${what} (exit ${status})${r.stdout ? `: ${r.stdout.split('\n')[0]}` : ''}`);
}

async function runAndCheck(work, image) {
  const user = image.user;
  const [uid, gid] = user.split(':').map(Number);
  const main = image.steps.findLast((s) => s.op === 'ENTRYPOINT').argv;
  const hc = image.steps.findLast((s) => s.op === 'HEALTHCHECK');
  if (!hc?.argv) fail('the image has no HEALTHCHECK command');
  const hcTimeout = durationMs(hc.flags.timeout ?? '30s');

  // First run: make the cluster key with the image (docs/deploy.md), mount it as a secret.
  const secret = '/run/secrets/smac_cluster_key';
  const a = container(work, image, 'a', { SMAC_CLUSTER_KEY_FILE: secret, SMAC_REGION: 'eu-central' });
  mkdirSync(join(a.root, '/run/secrets'), { recursive: true });
  chownSync(join(a.root, '/run/secrets'), uid, gid);
  networks(a.netns, `${namespaceBase}-b`);
  expectExit('keygen (first run)', exec(a, user, [...main, 'keygen', '--out', secret]), 0);
  const b = container(work, image, 'b', {
    SMAC_CLUSTER_KEY_FILE: secret,
    SMAC_REGION: 'ap-southeast',
  });
  mkdirSync(join(b.root, '/run/secrets'), { recursive: true });
  cpSync(join(a.root, secret), join(b.root, secret));
  chownSync(join(b.root, secret), uid, gid);

  const readyA = await start(a, image);
  const pidA = agentPid(a);
  log(`ok  agent a ready as uid ${uid}, PID 1 of its namespace (host pid ${pidA}): ${readyA.peerId}`);
  if (readyA.api.socket !== join(a.root, '/run/smac/smac.sock')) fail(`socket at ${readyA.api.socket}`);
  const sock = statSync(readyA.api.socket);
  if ((sock.mode & 0o777) !== 0o660 || sock.gid !== gid)
    fail(`socket mode ${sock.mode.toString(8)} gid ${sock.gid}`);
  if (existsSync(join(a.root, '/run/smac/identity.key'))) fail('the identity key is in the socket directory');
  const data = statSync(join(a.root, '/var/lib/smac'));
  if ((data.mode & 0o777) !== 0o700 || data.uid !== uid) fail(`data dir mode ${data.mode.toString(8)}`);
  log('ok  socket /run/smac/smac.sock 0660 group 7946; data volume 0700, the key and store only there');

  expectExit('HEALTHCHECK on a', exec(a, user, hc.argv, { timeoutMs: hcTimeout }), 0);
  expectExit('health --ready on a (no join addresses)', exec(a, user, [...main, 'health', '--ready']), 0);

  // b joins a across "networks", as in deploy/docker-compose.yml.
  b.env.SMAC_JOIN = `/ip4/10.207.0.1/tcp/7946/p2p/${readyA.peerId}`;
  await start(b, image);
  agentPid(b);
  expectExit('HEALTHCHECK on b', exec(b, user, hc.argv, { timeoutMs: hcTimeout }), 0);
  expectExit(
    'health --ready --wait 20 on b (joined a)',
    exec(b, user, [...main, 'health', '--ready', '--wait', '20']),
    0,
  );
  expectExit('a write on a', exec(a, user, [...main, 'inc', 'replay/hits', '3']), 0);
  await until(
    'the write to reach b',
    () => exec(b, user, [...main, 'get', 'pn-counter', 'replay/hits']).stdout === '3',
  );
  log('ok  b reads the write made on a');

  // An application container: another uid, only /run/smac, with or without the group.
  const app = { ...a, env: { PATH, SMAC_SOCKET: a.env.SMAC_SOCKET } };
  expectExit(
    'an app (uid 1000, group 7946) uses the socket',
    exec(app, `${APP_UID}:${APP_UID}`, [...main, 'health'], { groups: [gid] }),
    0,
  );
  expectExit(
    'an app without the group is refused',
    exec(app, `${APP_UID}:${APP_UID}`, [...main, 'health']),
    3,
  );

  // docker stop: SIGTERM from outside to PID 1, SIGKILL after 10 s.
  const t0 = Date.now();
  process.kill(pidA, 'SIGTERM');
  const exit = await Promise.race([a.exited, new Promise((r) => setTimeout(() => r(undefined), 10_000))]);
  if (exit === undefined) fail(`a did not stop within 10 s after SIGTERM:\n${a.stderr.slice(-2000)}`);
  if (exit.code !== 0)
    fail(`a exited with ${exit.code ?? exit.signal} after SIGTERM:\n${a.stderr.slice(-2000)}`);
  if (!a.stderr.includes('received SIGTERM, leaving the cluster') || !a.stderr.includes('agent stopped'))
    fail(`a did not log its graceful leave:\n${a.stderr.slice(-2000)}`);
  log(`ok  SIGTERM: a left gracefully and exited 0 in ${Date.now() - t0} ms`);
  await until('b to see a as left', () => {
    const m = exec(b, user, [...main, '--json', 'members']);
    return (
      m.status === 0 &&
      JSON.parse(m.stdout).members.some((x) => x.id === readyA.peerId && x.status === 'left')
    );
  });
  log('ok  b lists a as left');
  expectExit('HEALTHCHECK on a stopped agent fails', exec(a, user, hc.argv, { timeoutMs: hcTimeout }), 3);

  // An upgrade or a restart: a new container on the same volume keeps identity and state.
  const again = await start(a, image);
  if (again.peerId !== readyA.peerId) fail(`a restarted as ${again.peerId}, not ${readyA.peerId}`);
  const hits = exec(a, user, [...main, 'get', 'pn-counter', 'replay/hits']);
  if (hits.stdout !== '3')
    fail(`a restarted without its state: replay/hits is ${hits.stdout} ${hits.stderr}`);
  log('ok  a restarted on its volume: same peer id, and replay/hits is still 3');

  for (const c of [a, b]) {
    process.kill(agentPid(c), 'SIGTERM');
    const exited = await c.exited;
    if (exited.code !== 0) fail(`${c.name} exited with ${exited.code ?? exited.signal}`);
  }
  log('ok  a and b stopped');
}

function cleanup(work) {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  for (const n of namespaces) spawnSync('ip', ['netns', 'del', n]);
  if (KEEP) log(`kept ${work}`);
  else rmSync(work, { recursive: true, force: true });
}

async function main() {
  preflight();
  const work = mkdtempSync(join(tmpdir(), 'smac-replay-'));
  chmodSync(work, 0o755);
  for (const sig of ['SIGINT', 'SIGTERM']) {
    process.once(sig, () => {
      cleanup(work);
      process.exit(1);
    });
  }
  try {
    const { stages, ignore } = readBuildFiles(REPO);
    const image = buildImage(work, stages, ignore);
    checkImage(image);
    await runAndCheck(work, image);
    log('passed');
    return 0;
  } catch (e) {
    log(`FAILED: ${e.replayFailure ? e.message : (e.stack ?? e)}`);
    return 1;
  } finally {
    cleanup(work);
  }
}

process.exitCode = await main();
