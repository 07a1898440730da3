// The keep-alive race of issue 8's soak (docs/benchmarks.md), reproduced against a real agent
// process: a client with keep-alive connections and no idle timeout of its own (Node's
// http.Agent({ keepAlive: true }), as scripts/bench/wan/http.js) leaves connections idle until
// the agent's API server closes them; if it reuses one just before that, while the agent's
// event loop is stalled, the agent's timers (the keep-alive timeout) run before it reads the
// waiting request, and the client gets ECONNRESET for a write whose outcome it cannot know.
//
//   node scripts/bench/keepalive-race.js [--writes 16] [--stall-ms 1500] [--idle-ms 72300]
//
// The stall is SIGSTOP/SIGCONT of the agent (a GC pause or a long task looks the same to it).
// It prints one JSON line: how many of the writes were acknowledged and how many failed, why.
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
  },
});
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

const reg = new Registry(note);
try {
  const dir = reg.tempDir('smac-race-');
  const a = await startAgentProc(reg, 'A', { dataDir: join(dir, 'a') });
  const pool = new http.Agent({ keepAlive: true, maxSockets: 64 });
  // Open `writes` connections at once; they then sit idle in the client's pool.
  const warm = await Promise.all(
    Array.from({ length: writes }, (_, i) => write(pool, a.socketPath, `warm/${i}`)),
  );
  if (!warm.every((w) => w.ok)) throw new Error(`warm-up failed: ${JSON.stringify(warm)}`);
  note(`${writes} connections open; idle for ${idleMs} ms`);
  await sleep(idleMs);
  process.kill(a.pid, 'SIGSTOP');
  const pending = Array.from({ length: writes }, (_, i) => write(pool, a.socketPath, `race/${i}`));
  await sleep(stallMs);
  process.kill(a.pid, 'SIGCONT');
  const results = await Promise.all(pending);
  const failed = results.filter((r) => !r.ok);
  console.log(
    JSON.stringify({
      node: process.version,
      writes,
      idleMs,
      stallMs,
      reused: results.filter((r) => r.reused).length,
      acked: results.length - failed.length,
      failed: failed.length,
      errors: [...new Set(failed.map((f) => `${f.error} after ${f.ms} ms`))].slice(0, 5),
    }),
  );
  pool.destroy();
  await terminate(a.proc);
} finally {
  reg.cleanup();
}
