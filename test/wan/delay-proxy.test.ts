// The WAN emulator's delay proxy (scripts/wan/delay-proxy.js) on loopback, no root needed:
// a round trip costs at least twice the one-way delay, bytes arrive whole and in order at full
// speed (the delay is per chunk by timestamp, not a sleep per chunk), half-close passes
// through, and a cut holds traffic until the heal delivers it.
import { createHash, randomBytes } from 'node:crypto';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { DelayProxy } from '../../scripts/wan/delay-proxy.js';
import { measureRtt, serveEcho } from '../../scripts/wan/echo.js';

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c();
});

async function proxyTo(server: net.Server, delayMs: number): Promise<{ proxy: DelayProxy; port: number }> {
  const port = (server.address() as net.AddressInfo).port;
  // The proxy listens on another loopback address at the target's port, as it does between regions.
  const proxy = new DelayProxy({
    name: 'a>b',
    listenHost: '127.0.0.2',
    targetHost: '127.0.0.1',
    ports: [port],
    delayMs,
  });
  await proxy.start();
  closers.push(() => proxy.close());
  return { proxy, port };
}

async function echo(): Promise<net.Server> {
  const server = await serveEcho('127.0.0.1', 0);
  closers.push(
    () =>
      new Promise((r) =>
        server.close(() => {
          r();
        }),
      ),
  );
  return server;
}

describe('delay proxy', () => {
  it('adds its one-way delay in each direction of a round trip', async () => {
    const { port } = await proxyTo(await echo(), 40);
    const samples = await measureRtt('127.0.0.2', port, { count: 5 });
    for (const s of samples) {
      expect(s).toBeGreaterThanOrEqual(80);
      expect(s).toBeLessThan(80 + 200);
    }
  });

  it('keeps throughput and byte order: 32 MiB through a 100 ms link', async () => {
    const received = createHash('sha256');
    let bytes = 0;
    const done = new Promise<void>((resolve) => {
      const sink = net.createServer((s) => {
        s.on('data', (c: Buffer) => {
          received.update(c);
          bytes += c.length;
        });
        s.on('end', () => {
          s.end();
          resolve();
        });
      });
      sink.listen(0, '127.0.0.1', () => {
        void proxyTo(sink, 50).then(({ port }) => {
          const payload = randomBytes(32 * 1024 * 1024);
          sent = createHash('sha256').update(payload).digest('hex');
          const c = net.connect({ host: '127.0.0.2', port }, () => c.end(payload));
          c.on('error', () => undefined);
          started = performance.now();
        });
      });
      closers.push(
        () =>
          new Promise((r) =>
            sink.close(() => {
              r();
            }),
          ),
      );
    });
    let sent = '';
    let started = 0;
    await done;
    const tookMs = performance.now() - started;
    expect(bytes).toBe(32 * 1024 * 1024);
    expect(received.digest('hex')).toBe(sent);
    // A sleep per chunk would take hundreds of 50 ms steps (tens of seconds).
    expect(tookMs).toBeLessThan(8_000);
  });

  it('passes a half-close through, after the data', async () => {
    const { port } = await proxyTo(await echo(), 20);
    const c = net.connect({ host: '127.0.0.2', port, allowHalfOpen: true });
    const chunks: Buffer[] = [];
    c.on('data', (d: Buffer) => chunks.push(d));
    await new Promise<void>((r) =>
      c.once('connect', () => {
        r();
      }),
    );
    c.end('hello');
    await new Promise<void>((r) =>
      c.once('end', () => {
        r();
      }),
    );
    expect(Buffer.concat(chunks).toString()).toBe('hello');
    c.destroy();
  });

  it('holds traffic while cut and delivers it after the heal', async () => {
    const { proxy, port } = await proxyTo(await echo(), 10);
    proxy.cut();
    await expect(measureRtt('127.0.0.2', port, { count: 1, timeoutMs: 300 })).rejects.toThrow(/no echo/);
    const late = measureRtt('127.0.0.2', port, { count: 1, timeoutMs: 5_000 });
    await new Promise((r) => setTimeout(r, 200));
    expect(proxy.stats().held).toBeGreaterThanOrEqual(1);
    proxy.heal();
    const [rtt] = await late;
    expect(rtt).toBeGreaterThanOrEqual(200);
  });
});
