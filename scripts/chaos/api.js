// A small HTTP client over an agent's Unix socket that classifies every outcome the way the
// checker needs it: 'ok' (acknowledged), 'fail' (certainly not applied: a 4xx answer, or the
// socket refused the connection, so nothing was sent) or 'unknown' (a 5xx, a reset, a
// timeout: it may have been applied). An unknown outcome carries `end`, the latest time at
// which the agent could still have prepared the op: the answer or the agent's death, or
// Infinity when the agent lived on (a timed-out request may still be served later).
import http from 'node:http';

export const REQUEST_TIMEOUT_MS = 15_000;

export class SocketApi {
  /** @param {import('./agents.js').ChaosAgent} agent */
  constructor(agent) {
    this.agent = agent;
    this.pool = new http.Agent({ keepAlive: true, maxSockets: 8 });
  }

  /**
   * @returns {Promise<{outcome: 'ok'|'fail'|'unknown', status: number, body: any, error?: string,
   *   start: number, end: number}>}
   */
  request(method, path, body) {
    const start = Date.now();
    const payload = body === undefined ? undefined : JSON.stringify(body);
    return new Promise((resolve) => {
      let settled = false;
      const done = (r) => {
        if (settled) return;
        settled = true;
        resolve({ start, ...r });
      };
      const req = http.request(
        {
          socketPath: this.agent.socket,
          method,
          path,
          agent: this.pool,
          headers: {
            accept: 'application/json',
            ...(payload === undefined
              ? {}
              : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) }),
          },
        },
        (res) => {
          const chunks = [];
          res.on('data', (c) => chunks.push(c));
          res.on('error', (e) => {
            done(this.broken(start, e, true));
          });
          res.on('end', () => {
            const status = res.statusCode ?? 0;
            const text = Buffer.concat(chunks).toString('utf8');
            let parsed;
            try {
              parsed = text.length > 0 ? JSON.parse(text) : undefined;
            } catch {
              parsed = text;
            }
            const end = Date.now();
            if (status >= 200 && status < 300) done({ outcome: 'ok', status, body: parsed, end });
            else if (status >= 400 && status < 500) done({ outcome: 'fail', status, body: parsed, end });
            else done({ outcome: 'unknown', status, body: parsed, end });
          });
        },
      );
      req.setTimeout(REQUEST_TIMEOUT_MS, () => {
        req.destroy(new Error('timeout'));
      });
      req.on('error', (e) => {
        done(this.broken(start, e, false));
      });
      if (payload !== undefined) req.write(payload);
      req.end();
    });
  }

  broken(start, e, answered) {
    const code = e.code ?? e.message;
    // Nothing was sent when the socket refused the connection or did not exist.
    if (!answered && (code === 'ECONNREFUSED' || code === 'ENOENT'))
      return { outcome: 'fail', status: 0, body: undefined, error: code, end: Date.now() };
    const a = this.agent;
    // A connection that broke after a SIGKILL was sent broke because the process died: it can
    // no longer prepare the op. Otherwise the agent lives on and may still serve the request.
    const killed = a.killSentAt >= start || (a.state === 'dead' && a.diedAt >= start);
    return {
      outcome: 'unknown',
      status: 0,
      body: undefined,
      error: code,
      end: killed ? Date.now() : Infinity,
    };
  }

  async get(path) {
    const r = await this.request('GET', path);
    return r.outcome === 'ok' ? r.body : undefined;
  }

  /** Every object under `prefix`, page by page (undefined if the agent does not answer). */
  async listAll(prefix) {
    const objects = [];
    let after;
    for (let page = 0; page < 1000; page++) {
      const q = new URLSearchParams({ prefix, limit: '1000', ...(after === undefined ? {} : { after }) });
      const r = await this.get(`/v1/objects?${q.toString()}`);
      if (r === undefined) return undefined;
      objects.push(...r.objects);
      if (r.next === undefined) return objects;
      after = r.next;
    }
    return undefined;
  }

  close() {
    this.pool.destroy();
  }
}

/** The REST path of an object (each key segment URL-encoded). */
export function objectPath(type, key) {
  return `/v1/objects/${type}/${key.split('/').map(encodeURIComponent).join('/')}`;
}
