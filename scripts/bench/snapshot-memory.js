// Peak memory of receiving a large snapshot over /smac/sync/1 (docs/agent.md, "Snapshots from
// peers"). Three processes: this one builds a replica of about --mb MB of encoded state and
// writes its snapshot to a file; a server child serves it on loopback; a receiver child pulls
// it, installs it in a replica (as installPeerSnapshot does) and encodes the
// bytes the store keeps, then reports its peak RSS (VmHWM) over its RSS before the pull, and
// its heap before and after (the state it holds). As the agent, the receiver builds the state
// row by row as the snapshot arrives (`snapshotKeyspace`); `--json` decodes the keyspace's JSON
// value whole first, as before.
//
//   node --experimental-transform-types --no-warnings --import ./scripts/lib/ts-register.js \
//     scripts/bench/snapshot-memory.js --mb 50 [--json] [--sender]
//
// --sender measures the serving side instead (`encodeServed` below).
//
// Runs the TypeScript sources (src/), so that the same command measures any commit.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const SELF = fileURLToPath(import.meta.url);
const role = process.argv[2];
const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : dflt;
};
const src = (p) => new URL(`../../src/${p}`, import.meta.url).href;

function vmHwmBytes() {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) * 1024 : NaN;
}

/** Writes lww registers into `r` until its keyspace JSON is about `mb` MB. */
function fill(r, mb) {
  const value = 'v'.repeat(200);
  const perKey = 300; // about: key, value, dots and clock of one lww register in the keyspace JSON
  const keys = Math.ceil((mb * 1024 * 1024) / perKey);
  for (let i = 0; i < keys; i += 100) {
    const ops = [];
    for (let k = i; k < Math.min(keys, i + 100); k++)
      ops.push({ type: 'lww-register', key: `app/key-${k}`, op: { kind: 'set', value: `${value}${k}` } });
    r.step({ kind: 'local', ops }, 1_700_000_000_000 + i);
  }
}

async function build(file, mb) {
  const { Replica } = await import(src('core/replica.ts'));
  const { encodeSnapshot } = await import(src('core/codec/index.ts'));
  const r = new Replica({ id: 'builder~1' });
  fill(r, mb);
  // The clock stays empty (a v1 snapshot proves no clock): this measures transfer and decoding.
  const bytes = encodeSnapshot({ ...r.snapshot(), vc: new Map() });
  writeFileSync(file, bytes);
  return bytes.length;
}

async function serve(file) {
  const { createSmacNode } = await import(src('net/node.ts'));
  const { SyncService } = await import(src('net/sync-protocol.ts'));
  const { generateKeyPair } = await import('@libp2p/crypto/keys');
  const bytes = new Uint8Array(readFileSync(file));
  const node = await createSmacNode({
    privateKey: await generateKeyPair('Ed25519'),
    listen: ['/ip4/127.0.0.1/tcp/0'],
  });
  const sync = new SyncService(node, {
    source: {
      header: () => ({ vc: new Map([['x~1', 1]]), compacted: new Map([['x~1', 1]]) }),
      snapshot: () => ({ bytes, vc: new Map([['x~1', 1]]) }),
      envelopesSince: () => [],
    },
    serveTimeoutMs: 600_000,
  });
  await sync.start();
  process.stdout.write(`${node.getMultiaddrs()[0].toString()}\n`);
}

async function receive(addr) {
  const { createSmacNode } = await import(src('net/node.ts'));
  const { SyncService } = await import(src('net/sync-protocol.ts'));
  const { decodeSnapshot, encodeSnapshot } = await import(src('core/codec/index.ts'));
  const { Replica } = await import(src('core/replica.ts'));
  const { multiaddr } = await import('@multiformats/multiaddr');
  const { generateKeyPair } = await import('@libp2p/crypto/keys');
  const node = await createSmacNode({
    privateKey: await generateKeyPair('Ed25519'),
    listen: ['/ip4/127.0.0.1/tcp/0'],
  });
  // As the agent (agent-wiring.ts): the keyspace built into the replica's state row by row as
  // it arrives, unless --json (its JSON value decoded whole, then the state built from it).
  const rows = !process.argv.includes('--json') && typeof Replica.prototype.keyspaceBuilder === 'function';
  const into = new Replica({ id: 'receiver~1' });
  const sync = new SyncService(node, {
    idleTimeoutMs: 600_000,
    ...(rows ? { snapshotKeyspace: () => into.keyspaceBuilder() } : {}),
  });
  globalThis.gc?.();
  const rss0 = process.memoryUsage().rss;
  const heap0 = process.memoryUsage().heapUsed;
  const t0 = Date.now();
  let replica;
  let stored = 0;
  let decodedPeak = 0;
  // In a function of its own: a variable of the loop below would keep the decoded snapshot
  // alive after the install (V8 does not clear it), and the state heap measured after the pull
  // would count it (it did: 287 MiB measured for the JSON path, where the state takes 170).
  const install = (f) => {
    decodedPeak = vmHwmBytes(); // the peak until the snapshot was decoded
    // Before streaming the frame carried the whole encoding (`bytes`); now the decoded snapshot.
    // As installPeerSnapshot: the bytes the store keeps (encoded again from a streamed
    // snapshot), then the replica built from the snapshot; the store's copy is live meanwhile.
    const snap = f.bytes ? decodeSnapshot(f.bytes) : f.snapshot.snapshot;
    const bytes = f.bytes ?? encodeSnapshot(snap);
    into.install(snap);
    return bytes.length;
  };
  // Where the memory is, sampled after each chunk and after the install: V8's heap (used, and
  // reserved) and memory outside it (array buffers: received chunks, the store's bytes).
  const most = { heapUsed: 0, heapTotal: 0, external: 0 };
  const sample = () => {
    const m = process.memoryUsage();
    for (const k of Object.keys(most)) most[k] = Math.max(most[k], m[k]);
  };
  for await (const f of sync.pull(multiaddr(addr), new Map(), { onSnapshotChunk: sample })) {
    if (f.type !== 'snapshot') continue;
    stored = install(f);
    sample();
    replica = into;
  }
  const ms = Date.now() - t0;
  const peak = vmHwmBytes();
  globalThis.gc?.();
  const heap1 = process.memoryUsage().heapUsed;
  process.stdout.write(
    JSON.stringify({
      keyspace: rows ? 'rows' : 'json',
      keys: replica.stats().objects ?? null,
      storedBytes: stored,
      ms,
      rssBeforeMiB: +(rss0 / 2 ** 20).toFixed(1),
      peakRssMiB: +(peak / 2 ** 20).toFixed(1),
      peakOverBeforeMiB: +((peak - rss0) / 2 ** 20).toFixed(1),
      decodedPeakOverBeforeMiB: +((decodedPeak - rss0) / 2 ** 20).toFixed(1),
      heapStateMiB: +((heap1 - heap0) / 2 ** 20).toFixed(1),
      mostMiB: Object.fromEntries(Object.entries(most).map(([k, v]) => [k, +(v / 2 ** 20).toFixed(1)])),
    }) + '\n',
  );
  await node.stop();
}

// The sender's side (--sender): what serving a snapshot costs (agent/snapshot-exchange.ts
// `servedSnapshot`): a replica of --mb MB encoded once, its peak RSS over its RSS before (the
// peak is reset after the replica is built), from the rows of the live state as the agent does,
// or (--json) from its whole JSON value first, as before.
async function encodeServed(mb, json) {
  const { encodeSnapshot } = await import(src('core/codec/index.ts'));
  const { Replica } = await import(src('core/replica.ts'));
  const r = new Replica({ id: 'builder~1' });
  fill(r, mb);
  const rows = !json && typeof r.snapshotRows === 'function';
  globalThis.gc?.();
  writeFileSync('/proc/self/clear_refs', '5'); // resets VmHWM to the RSS now
  const rss0 = process.memoryUsage().rss;
  const t0 = Date.now();
  const bytes = encodeSnapshot(rows ? r.snapshotRows() : r.snapshot());
  const ms = Date.now() - t0;
  const peak = vmHwmBytes();
  process.stdout.write(
    JSON.stringify({
      sender: rows ? 'rows' : 'json',
      bytes: bytes.length,
      ms,
      rssBeforeMiB: +(rss0 / 2 ** 20).toFixed(1),
      peakOverBeforeMiB: +((peak - rss0) / 2 ** 20).toFixed(1),
    }) + '\n',
  );
}

function child(args) {
  return spawn(
    process.execPath,
    [
      '--expose-gc',
      '--max-old-space-size=8192',
      ...process.execArgv.filter((a) => !a.startsWith('--max-old')),
      SELF,
      ...args,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
}

function firstLine(p) {
  return new Promise((resolve, reject) => {
    let out = '';
    p.stdout.on('data', (d) => {
      out += d;
      const nl = out.indexOf('\n');
      if (nl >= 0) resolve(out.slice(0, nl));
    });
    p.on('exit', (code) => reject(new Error(`child exited with ${code}`)));
  });
}

if (role === 'serve') await serve(process.argv[3]);
else if (role === 'receive') await receive(process.argv[3]);
else if (role === 'encode') await encodeServed(Number(arg('mb', '50')), process.argv.includes('--json'));
else if (process.argv.includes('--sender')) {
  const json = process.argv.includes('--json') ? ['--json'] : [];
  process.stdout.write(`${await firstLine(child(['encode', '--mb', arg('mb', '50'), ...json]))}\n`);
} else {
  const dir = mkdtempSync(join(tmpdir(), 'smac-snapmem-'));
  const file = join(dir, 'snapshot.bin');
  try {
    const size = await build(file, Number(arg('mb', '50')));
    process.stdout.write(`snapshot: ${(size / 2 ** 20).toFixed(1)} MiB encoded\n`);
    const server = child(['serve', file]);
    const addr = await firstLine(server);
    const receiver = child(['receive', addr, ...(process.argv.includes('--json') ? ['--json'] : [])]);
    process.stdout.write(`${await firstLine(receiver)}\n`);
    server.kill('SIGTERM');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
