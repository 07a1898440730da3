#!/usr/bin/env node
// The emulator's processes inside namespaces, driven over stdin/stdout (one JSON object a
// line, each answered with {id, ok, result|error}). It exits when stdin closes, so it never
// outlives the process that made it, even one killed with SIGKILL.
//
//   node helper.js proxies '<json: [{name, listenHost, targetHost, ports, delayMs}]>'   (hub)
//   node helper.js region '<json: {echoHost, echoPort}>'                               (region)
//   node helper.js measure '<json: [{host, port, count, timeoutMs}]>'  (one shot: prints samples)
// Commands: proxies: {cmd: 'cut'|'heal', names}, {cmd: 'stats'}; region: {cmd: 'measure',
// host, port, count, timeoutMs}.
import { createInterface } from 'node:readline';
import { DelayProxy } from './delay-proxy.js';
import { measureRtt, serveEcho } from './echo.js';

const [role, configJson] = process.argv.slice(2);
const config = JSON.parse(configJson);
const proxies = new Map();

async function setUp() {
  if (role === 'proxies') {
    for (const c of config) {
      const p = new DelayProxy(c);
      await p.start();
      proxies.set(c.name, p);
    }
  } else if (role === 'region') {
    await serveEcho(config.echoHost, config.echoPort);
  } else throw new Error(`unknown role ${role}`);
}

async function handle(msg) {
  switch (msg.cmd) {
    case 'cut':
    case 'heal':
      for (const name of msg.names) {
        const p = proxies.get(name);
        if (!p) throw new Error(`no proxy ${name}`);
        p[msg.cmd]();
      }
      return null;
    case 'stats':
      return [...proxies.values()].map((p) => p.stats());
    case 'measure':
      return await measureRtt(msg.host, msg.port, { count: msg.count, timeoutMs: msg.timeoutMs });
    default:
      throw new Error(`unknown command ${msg.cmd}`);
  }
}

if (role === 'measure') {
  const out = [];
  for (const t of config) {
    try {
      out.push({ samples: await measureRtt(t.host, t.port, t) });
    } catch (e) {
      out.push({ error: e.message });
    }
  }
  process.stdout.write(`${JSON.stringify(out)}\n`);
  process.exit(0);
}

const reply = (o) => process.stdout.write(`${JSON.stringify(o)}\n`);

setUp().then(
  () => {
    reply({ ready: true });
    const lines = createInterface({ input: process.stdin });
    lines.on('line', (line) => {
      const msg = JSON.parse(line);
      handle(msg).then(
        (result) => reply({ id: msg.id, ok: true, result }),
        (e) => reply({ id: msg.id, ok: false, error: e.message }),
      );
    });
    lines.on('close', () => process.exit(0));
  },
  (e) => {
    process.stderr.write(`${e.stack}\n`);
    process.exit(1);
  },
);
