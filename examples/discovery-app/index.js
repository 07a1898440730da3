#!/usr/bin/env node
// A small application on the SMAC SDK, over the local agent's Unix socket: it serves HTTP,
// registers itself for service discovery with a TTL health check that it keeps passing,
// reports its load (a request counter and a memory gauge), and prints what it sees of its
// service and of the load across the cluster. See README.md next to this file.
//
//   npm start                 # terminal 1: an agent, socket .smac-data/smac.sock
//   npm run example           # terminal 2: three rounds, then it deregisters and exits
//
// Settings (environment): SMAC_SOCKET (default .smac-data/smac.sock), APP_SERVICE (web),
// APP_NAME (web-<pid>), APP_HOST (127.0.0.1), APP_PORT (0: any free port).
// Flags: --rounds N (default: until SIGINT/SIGTERM), --interval-ms MS (default 5000).
import { createServer } from 'node:http';
import { parseArgs } from 'node:util';
import { SmacClient } from 'smac'; // the package itself (dist/index.js); in an application: npm i smac

const { values: flags } = parseArgs({
  options: { rounds: { type: 'string' }, 'interval-ms': { type: 'string', default: '5000' } },
});
const rounds = flags.rounds === undefined ? Infinity : Number(flags.rounds);
const intervalMs = Number(flags['interval-ms']);
const service = process.env.APP_SERVICE ?? 'web';
const id = process.env.APP_NAME ?? `web-${process.pid}`;
const host = process.env.APP_HOST ?? '127.0.0.1';
const ttlMs = Math.max(3 * intervalMs, 3000);

const smac = new SmacClient({ socketPath: process.env.SMAC_SOCKET ?? '.smac-data/smac.sock' });

// The application itself: every request it serves is counted on this node's counter.
const server = createServer((_req, res) => {
  smac.loadAdd('requests', 1).catch((e) => console.error(`load report failed: ${e.message}`));
  res.end(`hello from ${id}\n`);
});
await new Promise((resolve) => server.listen(Number(process.env.APP_PORT ?? 0), host, resolve));
const port = server.address().port;

await smac.register(service, id, { address: host, port, tags: ['example'], check: { type: 'ttl', ttlMs } });
console.log(`registered ${service}/${id} at ${host}:${port} (ttl check, ${ttlMs} ms)`);

let stopping = false;
async function stop() {
  if (stopping) return;
  stopping = true;
  await smac.deregister(service, id).catch(() => undefined);
  console.log(`deregistered ${service}/${id}`);
  smac.close();
  server.close();
}
for (const signal of ['SIGINT', 'SIGTERM'])
  process.once(signal, () => void stop().then(() => process.exit(0)));

for (let round = 1; round <= rounds && !stopping; round++) {
  await smac.heartbeat(service, id); // the TTL check passes for another ttlMs
  await fetch(`http://${host}:${port}/`).then((r) => r.text()); // serve one request (counted)
  await smac.setGauge('rss_mb', Math.round(process.memoryUsage().rss / 2 ** 20));

  const { endpoints } = await smac.service(service); // healthy endpoints on live nodes only
  const seen = endpoints.map((e) => `${e.id} ${e.address}:${e.port}`).join(', ') || 'none';
  console.log(`round ${round}: ${service} has ${endpoints.length} healthy endpoint(s): ${seen}`);
  const { counter, gauge } = await smac.load('requests').then(async (requests) => ({
    counter: requests.counter,
    gauge: (await smac.load('rss_mb')).gauge,
  }));
  console.log(
    `round ${round}: requests ${counter?.sum ?? 0} over ${counter?.count ?? 0} node(s), by region ` +
      `${JSON.stringify(counter?.regions ?? {})}; rss_mb ${gauge?.sum ?? '-'} over ${gauge?.count ?? 0} node(s)`,
  );
  if (round < rounds) await new Promise((r) => setTimeout(r, intervalMs));
}
await stop();
