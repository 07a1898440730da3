// The keep-alive race of issue 8's soak (docs/benchmarks.md), reproduced against a real agent
// process: a client with keep-alive connections and no idle timeout of its own (Node's
// http.Agent({ keepAlive: true }), as scripts/bench/wan/http.js) leaves connections idle until
// the agent's API server closes them; if it reuses one just before that, while the agent's
// event loop is stalled, the agent's timers (the keep-alive timeout) run before it reads the
// waiting request, and the client gets ECONNRESET for a write whose outcome it cannot know.
//
//   node scripts/bench/keepalive-race.js [--writes 16] [--stall-ms 1500] [--idle-ms 72300]
//                                        [--rounds 1] [--paced-ms 0] [--paced-idle-ms 0]
//
// The stall is SIGSTOP/SIGCONT of the agent (a GC pause or a long task looks the same to it).
// With --rounds N it repeats, each round on new connections, its idle time and stall varied
// around the timeout (idle + 0, 200 or 400 ms; stall or stall - 700 ms), so that every round
// straddles the close; with --paced-ms M a second client writes every M ms meanwhile (the
// soak's load: 20), closing its idle connections after --paced-idle-ms (0: never, as the
// soak's client did; the SDK's is 4000). It prints one JSON line: writes acknowledged and
// failed, and why.
// Everything is a Unix socket in a temp dir and a libp2p listener on 127.0.0.1; the agent and
// the temp dir are removed however the run ends.
import http from 'node:http';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { sleep } from './ipc.js';
import { Registry, startAgentProc, terminate } from './agent-procs.js';

const { values: args } = parseArgs({
  options: {
    writes: { type: 'string', default: '16' },
    'stall-ms': { type: 'string', default: '1500' },
    // Fastify's keep-alive timeout is 72 s; Node 24's server closes 1 s after it (its buffer).
    'idle-ms': { type: 'string', default: '72300' },
    rounds: { type: 'string', default: '1' },
    'paced-ms': { type: 'string', default: '0' },
    'paced-idle-ms': { type: 'string', default: '0' },
  },
});
const rounds = Number(args.rounds);
const pacedMs = Number(args['paced-ms']);
const pacedIdleMs = Number(args['paced-idle-ms']);
const writes = Number(args.writes);
const stallMs = Number(args['stall-ms']);
const idleMs = Number(args['idle-ms']);
const note = (s) => process.stderr.write(`${s}\n`);

function write(agent, socketPath, key) {
  const body = JSON.stringify({ kind: 'set', value: key });
  const sent = performance.now();
  return new Promise((resolve) => {
    const req = http.request(
      {
        socketPath,
        agent,
        method: 'POST',
        path: `/v1/objects/lww-register/${encodeURIComponent(key)}`,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      },
      (res) => {
        res.resume();
        res.on('end', () =>
          resolve({ ok: res.statusCode === 200, status: res.statusCode, reused: req.reusedSocket }),
        );
      },
    );
    req.setTimeout(30_000, () => req.destroy(new Error('no answer within 30 s')));
    req.on('error', (e) =>
      resolve({
        ok: false,
        error: e.code ?? e.message,
        ms: Math.round(performance.now() - sent),
        reused: req.reusedSocket,
      }),
    );
    req.end(body);
  });
}

/** One round: `writes` connections left idle `idle` ms, then a write on each during a stall. */
async function round(a, idle, stall) {
  const pool = new http.Agent({ keepAlive: true, maxSockets: 64 });
  try {
    const warm = await Promise.all(
      Array.from({ length: writes }, (_, i) => write(pool, a.socketPath, `warm/${i}`)),
    );
    if (!warm.every((w) => w.ok)) throw new Error(`warm-up failed: ${JSON.stringify(warm)}`);
    note(`${writes} connections open; idle for ${idle} ms, then a ${stall} ms stall`);
    await sleep(idle);
    process.kill(a.pid, 'SIGSTOP');
    const pending = Array.from({ length: writes }, (_, i) => write(pool, a.socketPath, `race/${i}`));
    await sleep(stall);
    process.kill(a.pid, 'SIGCONT');
    return await Promise.all(pending);
  } finally {
    pool.destroy();
  }
}

/** Writes every `everyMs` until `stop.done`; each outcome. */
async function paced(a, everyMs, stop) {
  const pool = new http.Agent({
    keepAlive: true,
    maxSockets: 64,
    ...(pacedIdleMs > 0 ? { timeout: pacedIdleMs } : {}),
  });
  const pending = [];
  const t0 = performance.now();
  for (let i = 0; i < 10_000_000 && !stop.done; i++) {
    pending.push(write(pool, a.socketPath, `paced/${i % 1000}`));
    const wait = t0 + (i + 1) * everyMs - performance.now();
    if (wait > 0) await sleep(wait);
  }
  const results = await Promise.all(pending);
  pool.destroy();
  return results;
}

const reg = new Registry(note);
try {
  const dir = reg.tempDir('smac-race-');
  const a = await startAgentProc(reg, 'A', { dataDir: join(dir, 'a') });
  const stop = { done: false };
  const background = pacedMs > 0 ? paced(a, pacedMs, stop) : Promise.resolve([]);
  const results = [];
  for (let r = 0; r < rounds; r++) {
    results.push(
      ...(await round(a, idleMs + (r % 3) * 200, r % 2 === 0 ? stallMs : Math.max(100, stallMs - 700))),
    );
  }
  stop.done = true;
  const load = await background;
  const failed = results.filter((r) => !r.ok);
  const loadFailed = load.filter((r) => !r.ok);
  console.log(
    JSON.stringify({
      node: process.version,
      rounds,
      writes,
      idleMs,
      stallMs,
      reused: results.filter((r) => r.reused).length,
      acked: results.length - failed.length,
      failed: failed.length,
      errors: [...new Set(failed.map((f) => `${f.error} after ${f.ms} ms`))].slice(0, 5),
      paced: {
        everyMs: pacedMs,
        idleMs: pacedIdleMs,
        acked: load.length - loadFailed.length,
        failed: loadFailed.length,
        reusedFailed: loadFailed.filter((f) => f.reused).length,
        errors: [...new Set(loadFailed.map((f) => `${f.error} after ${f.ms} ms`))].slice(0, 5),
      },
    }),
  );
  await terminate(a.proc);
} finally {
  reg.cleanup();
}
