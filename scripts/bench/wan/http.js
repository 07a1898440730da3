// The WAN benchmark's client for both systems, with the same HTTP stack (node:http, keep-alive):
// a SMAC agent over its Unix socket (REST, docs/api.md) and an etcd member over its v3 JSON
// gateway (base64 keys and values). Values are JSON; a write stores `value` at `key` (an
// lww-register on SMAC, a put on etcd), a read returns it or undefined when absent.
import { createHash } from 'node:crypto';
import http from 'node:http';
import { canonical } from '../../chaos/converge.js';

const DEFAULT_TIMEOUT_MS = 15_000;
const b64 = (s) => Buffer.from(s).toString('base64');
const unb64 = (s) => Buffer.from(s, 'base64').toString();

/** The key after every key with this prefix (etcd's range_end for a prefix). */
function prefixEnd(prefix) {
  const bytes = Buffer.from(prefix);
  bytes[bytes.length - 1]++;
  return bytes.toString('base64');
}

export class HttpTarget {
  static smac(socketPath) {
    return new HttpTarget('smac', { socketPath });
  }
  static etcd(url) {
    const u = new URL(url);
    return new HttpTarget('etcd', { host: u.hostname, port: Number(u.port) });
  }

  constructor(system, where) {
    this.system = system;
    this.where = where;
    // Idle connections closed after 4 s, as the SDK does (docs/api.md "Connections"): without
    // a timeout Node keeps them until the server closes them, and a write sent on one as it
    // closes fails (ECONNRESET) with its outcome unknown.
    this.pool = new http.Agent({ keepAlive: true, maxSockets: 64, timeout: 4_000 });
  }

  /** One request; resolves to { status, body } or rejects on a transport error or timeout. */
  request(method, path, body, timeoutMs = DEFAULT_TIMEOUT_MS) {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const req = http.request(
        {
          ...this.where,
          method,
          path,
          agent: this.pool,
          headers:
            payload === undefined
              ? {}
              : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) },
        },
        (res) => {
          const chunks = [];
          res.on('data', (c) => chunks.push(c));
          res.on('error', reject);
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let parsed;
            try {
              parsed = text.length > 0 ? JSON.parse(text) : undefined;
            } catch {
              parsed = text;
            }
            resolve({ status: res.statusCode ?? 0, body: parsed });
          });
        },
      );
      req.setTimeout(timeoutMs, () => req.destroy(new Error(`timeout after ${timeoutMs} ms`)));
      req.on('error', reject);
      if (payload !== undefined) req.write(payload);
      req.end();
    });
  }

  async ok(method, path, body, timeoutMs) {
    const r = await this.request(method, path, body, timeoutMs);
    if (r.status < 200 || r.status >= 300)
      throw new Error(`${method} ${path}: HTTP ${r.status} ${JSON.stringify(r.body).slice(0, 200)}`);
    return r.body;
  }

  smacPath(key) {
    return `/v1/objects/lww-register/${key.split('/').map(encodeURIComponent).join('/')}`;
  }

  async write(key, value, timeoutMs) {
    if (this.system === 'smac') await this.ok('POST', this.smacPath(key), { kind: 'set', value }, timeoutMs);
    else await this.ok('POST', '/v3/kv/put', { key: b64(key), value: b64(JSON.stringify(value)) }, timeoutMs);
  }

  async read(key) {
    if (this.system === 'smac') {
      const r = await this.request('GET', this.smacPath(key));
      if (r.status === 404) return undefined;
      if (r.status !== 200) throw new Error(`GET ${key}: HTTP ${r.status}`);
      return r.body.value ?? undefined;
    }
    const r = await this.ok('POST', '/v3/kv/range', { key: b64(key), serializable: true });
    const kv = r.kvs?.[0];
    return kv === undefined ? undefined : JSON.parse(unb64(kv.value));
  }

  /** Every key under `prefix` with its value (canonical JSON), sorted by key. */
  async entries(prefix) {
    const out = [];
    if (this.system === 'smac') {
      let after;
      for (let page = 0; page < 1000; page++) {
        const q = new URLSearchParams({ prefix, limit: '1000', ...(after === undefined ? {} : { after }) });
        const r = await this.ok('GET', `/v1/objects?${q.toString()}`);
        for (const o of r.objects) out.push([o.key, canonical(o.value)]);
        if (r.next === undefined) break;
        after = r.next;
      }
    } else {
      const r = await this.ok('POST', '/v3/kv/range', {
        key: b64(prefix),
        range_end: prefixEnd(prefix),
        serializable: true,
      });
      for (const kv of r.kvs ?? []) out.push([unb64(kv.key), canonical(JSON.parse(unb64(kv.value)))]);
    }
    return out.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  }

  async keys(prefix) {
    return (await this.entries(prefix)).map(([k]) => k);
  }

  /**
   * What two replicas agree on when they are identical. SMAC: the vector clock and a hash of
   * the values under `prefix` (equal clocks alone prove nothing). etcd: the member's revision
   * and raft index, and the same hash.
   */
  async fingerprint(prefix) {
    const entries = await this.entries(prefix);
    const hash = createHash('sha256').update(JSON.stringify(entries)).digest('hex').slice(0, 16);
    if (this.system === 'smac') {
      const s = await this.ok('GET', '/v1/status');
      const clock = Object.keys(s.clock)
        .sort()
        .map((k) => `${k}:${s.clock[k]}`)
        .join(',');
      return { clock, hash, count: entries.length };
    }
    const s = await this.ok('POST', '/v3/maintenance/status', {});
    return { clock: `rev ${s.header.revision}`, hash, count: entries.length, leader: s.leader };
  }

  close() {
    this.pool.destroy();
  }
}
