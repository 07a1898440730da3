// An etcd v3 client in its own process, driven by scripts/bench/replication.js over IPC, so
// that etcd is measured the way SMAC is: writer and watchers in separate processes, each
// timing on its own event loop. It speaks etcd's v3 JSON gateway (grpc-gateway) over HTTP/1.1
// with Node's global fetch: POST /v3/kv/put, /v3/kv/range and the streaming POST /v3/watch,
// whose response is newline-delimited JSON messages. Keys and values are base64 on the wire.
import { serve, sleep, wallNow } from './ipc.js';

const b64 = (s) => Buffer.from(s).toString('base64');
const unb64 = (s) => Buffer.from(s, 'base64').toString();

async function post(url, path, body) {
  const res = await fetch(url + path, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${path}: HTTP ${res.status} ${text}`);
  return JSON.parse(text);
}

const put = (url, key, value) =>
  post(url, '/v3/kv/put', { key: b64(key), value: b64(JSON.stringify(value)) });

/** The key after every key with this prefix: the watch's range_end. */
function prefixEnd(prefix) {
  const bytes = Buffer.from(prefix);
  bytes[bytes.length - 1]++;
  return bytes.toString('base64');
}

let watch;

serve({
  /** Sequential puts: acknowledgement latency (ms) of each, after a warm-up. */
  async putLatency({ url, n, warmup = 200 }) {
    const lat = [];
    for (let i = 0; i < warmup + n; i++) {
      const s = performance.now();
      await put(url, `bench/k${i % 64}`, { i });
      if (i >= warmup) lat.push(performance.now() - s);
    }
    return lat;
  },
  /** Serializable (local, no consensus) range reads: the HTTP + JSON gateway floor. */
  async rangeLatency({ url, n }) {
    const lat = [];
    for (let i = 0; i < n; i++) {
      const s = performance.now();
      await post(url, '/v3/kv/range', { key: b64(`bench/k${i % 64}`), serializable: true });
      lat.push(performance.now() - s);
    }
    return lat;
  },
  /** Puts on a fixed schedule (not waiting for acks), each carrying its send time; with ack latencies. */
  async paced({ url, n, intervalMs, maxInFlight = 256 }) {
    const tStart = wallNow();
    let inFlight = 0;
    let skippedWaits = 0;
    const acks = [];
    const ackMs = [];
    for (let i = 0; i < n; i++) {
      const wait = tStart + i * intervalMs - wallNow();
      if (wait > 1) await sleep(wait);
      while (inFlight >= maxInFlight) {
        skippedWaits++;
        await sleep(1);
      }
      inFlight++;
      const sent = wallNow();
      acks.push(
        put(url, `vis/${i}`, { t: sent, i }).then(() => {
          inFlight--;
          ackMs.push(wallNow() - sent);
        }),
      );
    }
    await Promise.all(acks);
    return { sent: n, elapsedMs: wallNow() - tStart, skippedWaits, ackMs };
  },
  /** `inflight` concurrent writers for `durationMs`. */
  async load({ url, inflight, durationMs }) {
    let acked = 0;
    let issued = 0;
    const tStart = wallNow();
    let tEnd = tStart;
    const worker = async () => {
      while (wallNow() < tStart + durationMs) {
        const i = issued++;
        await put(url, `tp/k${i % 4096}`, { i });
        acked++;
        tEnd = wallNow();
      }
    };
    await Promise.all(Array.from({ length: inflight }, worker));
    const elapsedMs = tEnd - tStart;
    return { events: acked, elapsedMs, eventsPerSec: acked / (elapsedMs / 1000) };
  },
  /** Opens a watch on `prefix`; resolves once etcd confirmed it, then records receive times. */
  async watchStart({ url, prefix }) {
    const abort = new AbortController();
    const res = await fetch(url + '/v3/watch', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ create_request: { key: b64(prefix), range_end: prefixEnd(prefix) } }),
      signal: abort.signal,
    });
    if (!res.ok) throw new Error(`/v3/watch: HTTP ${res.status} ${await res.text()}`);
    const state = { abort, samples: [], errors: 0 };
    watch = state;
    let created;
    const ready = new Promise((resolve) => (created = resolve));
    const pump = async () => {
      const decoder = new TextDecoder();
      let buffered = '';
      for await (const chunk of res.body) {
        const t = wallNow();
        buffered += decoder.decode(chunk, { stream: true });
        let nl;
        while ((nl = buffered.indexOf('\n')) >= 0) {
          const line = buffered.slice(0, nl).trim();
          buffered = buffered.slice(nl + 1);
          if (line.length === 0) continue;
          const msg = JSON.parse(line);
          if (msg.error) {
            state.errors++;
            continue;
          }
          if (msg.result?.created) created();
          for (const ev of msg.result?.events ?? []) {
            const sent = JSON.parse(unb64(ev.kv.value)).t;
            if (typeof sent === 'number') state.samples.push(t - sent);
          }
        }
      }
    };
    state.done = pump().catch((e) => {
      if (!abort.signal.aborted) state.failure = e;
    });
    await Promise.race([ready, sleep(10_000).then(() => Promise.reject(new Error('watch not created')))]);
    return true;
  },
  async visResults() {
    const state = watch;
    watch = undefined;
    if (!state) return [];
    state.abort.abort();
    await state.done;
    if (state.failure) throw state.failure;
    return state.samples;
  },
});
