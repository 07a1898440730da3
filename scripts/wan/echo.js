// TCP round trips, for checking what a WAN link really delays (docs/networking.md):
// `serveEcho` answers every byte with itself; `measureRtt` sends one small message at a time
// on one connection and times each echo. The first sample includes the proxy's upstream
// connect; the minimum and median are what a long-lived connection sees.
import net from 'node:net';
import { performance } from 'node:perf_hooks';

export async function serveEcho(host, port) {
  const server = net.createServer({ noDelay: true, allowHalfOpen: true }, (s) => {
    s.on('error', () => undefined);
    s.pipe(s);
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, resolve);
  });
  return server;
}

/**
 * `count` sequential 16-byte round trips to host:port. Resolves with the samples in ms, or
 * rejects when a connect or an echo takes longer than `timeoutMs` (a cut link).
 */
export function measureRtt(host, port, { count = 5, timeoutMs = 5_000 } = {}) {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port, noDelay: true });
    const samples = [];
    let sentAt = 0;
    let got = 0;
    let timer;
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        socket.destroy();
        reject(new Error(`no echo from ${host}:${port} within ${timeoutMs} ms`));
      }, timeoutMs);
    };
    const send = () => {
      got = 0;
      sentAt = performance.now();
      arm();
      socket.write(Buffer.alloc(16, samples.length));
    };
    socket.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    socket.on('connect', send);
    arm();
    socket.on('data', (chunk) => {
      got += chunk.length;
      if (got < 16) return;
      samples.push(performance.now() - sentAt);
      if (samples.length < count) send();
      else {
        clearTimeout(timer);
        socket.end();
        resolve(samples);
      }
    });
  });
}

export function summarize(samples) {
  const sorted = [...samples].sort((a, b) => a - b);
  const median = sorted[Math.floor((sorted.length - 1) / 2)];
  return { minMs: round(sorted[0]), medianMs: round(median), maxMs: round(sorted[sorted.length - 1]) };
}

const round = (x) => Math.round(x * 10) / 10;
