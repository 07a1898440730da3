// A userspace TCP delay proxy: the WAN link between two emulated regions (docs/networking.md).
// Every chunk read from one side is written to the other `delayMs` after it arrived, by its
// own timestamp, so a link carries many chunks in flight at once (throughput is kept: the
// delay is latency, not a per-chunk sleep) and byte order, half-close (FIN) and resets are
// preserved. Both directions of a connection get the delay, so a round trip through the proxy
// costs 2 × delayMs plus the local hops.
//
// A cut stops forwarding without closing anything, as a partitioned link does: reads pause
// (TCP flow control then stalls the senders), queued data waits, and new connections are
// accepted but held; a heal delivers what waited and connects the held ones. Unlike a real
// partition, a connect during a cut completes its handshake with the proxy.
import net from 'node:net';
import { performance } from 'node:perf_hooks';

/** Bytes queued in one direction before the reader is paused (the link's buffer). */
const HIGH_WATER_BYTES = 4 * 1024 * 1024;

/** One direction of one connection: src's bytes reach dst delayMs later. */
class DelayLine {
  constructor(src, dst, delayMs, link, port, forward) {
    this.src = src;
    this.dst = dst;
    this.delayMs = delayMs;
    this.link = link;
    this.queue = [];
    this.head = 0;
    this.bytes = 0;
    this.timer = undefined;
    this.pausedByUs = false;
    src.on('data', (chunk) => {
      this.queue.push({ chunk, due: performance.now() + this.delayMs });
      this.bytes += chunk.length;
      link.bytes += chunk.length;
      link.bytesByPort[port] = (link.bytesByPort[port] ?? 0) + chunk.length;
      if (forward) link.forwardBytesByPort[port] = (link.forwardBytesByPort[port] ?? 0) + chunk.length;
      if (this.bytes + dst.writableLength > HIGH_WATER_BYTES) this.pause();
      this.schedule();
    });
    src.on('end', () => {
      this.queue.push({ chunk: undefined, due: performance.now() + this.delayMs });
      this.schedule();
    });
    dst.on('drain', () => this.maybeResume());
  }

  pause() {
    if (this.pausedByUs) return;
    this.pausedByUs = true;
    this.src.pause();
  }

  maybeResume() {
    if (!this.pausedByUs || this.link.isCut) return;
    if (this.bytes + this.dst.writableLength > HIGH_WATER_BYTES / 2) return;
    this.pausedByUs = false;
    this.src.resume();
  }

  schedule() {
    if (this.timer !== undefined || this.link.isCut || this.head >= this.queue.length) return;
    const wait = Math.max(0, Math.ceil(this.queue[this.head].due - performance.now()));
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.flush();
    }, wait);
  }

  /** Writes every chunk whose time has come; never early (a timer may fire a little before). */
  flush() {
    if (this.link.isCut) return;
    const now = performance.now();
    while (this.head < this.queue.length && this.queue[this.head].due <= now) {
      const { chunk } = this.queue[this.head++];
      if (chunk === undefined) {
        this.dst.end();
        continue;
      }
      this.bytes -= chunk.length;
      if (!this.dst.destroyed) this.dst.write(chunk);
    }
    if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
    this.maybeResume();
    this.schedule();
  }

  stop() {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }

  onCut() {
    this.stop();
    this.pause();
  }

  onHeal() {
    this.flush();
    this.maybeResume();
  }
}

/**
 * The proxy for one ordered pair of regions: listens on `listenHost` at each of `ports` and
 * forwards to `targetHost` at the same port.
 */
export class DelayProxy {
  /** @param {{ name: string, listenHost: string, targetHost: string, ports: number[], delayMs: number }} opts */
  constructor(opts) {
    this.opts = opts;
    this.servers = [];
    this.conns = new Set();
    this.held = [];
    this.isCut = false;
    this.bytes = 0;
    /** Bytes forwarded (both directions) by the port they came in on: which service's traffic. */
    this.bytesByPort = {};
    /** Of those, the bytes from the connecting side (the proxy's source region) to the target. */
    this.forwardBytesByPort = {};
    this.accepted = 0;
  }

  async start() {
    for (const port of this.opts.ports) {
      const server = net.createServer({ allowHalfOpen: true, noDelay: true }, (s) => this.accept(s, port));
      this.servers.push(server);
      await new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, this.opts.listenHost, () => {
          server.off('error', reject);
          resolve();
        });
      });
    }
  }

  /** The ports actually listened on (useful with port 0). */
  ports() {
    return this.servers.map((s) => s.address().port);
  }

  accept(client, port) {
    this.accepted++;
    client.on('error', () => undefined);
    if (this.isCut) {
      client.pause();
      this.held.push({ client, port });
      client.once('close', () => {
        this.held = this.held.filter((h) => h.client !== client);
      });
      return;
    }
    this.connect(client, port);
  }

  connect(client, port) {
    const upstream = net.connect({ host: this.opts.targetHost, port, allowHalfOpen: true, noDelay: true });
    upstream.on('error', () => undefined);
    const conn = {
      client,
      upstream,
      lines: [
        new DelayLine(client, upstream, this.opts.delayMs, this, port, true),
        new DelayLine(upstream, client, this.opts.delayMs, this, port, false),
      ],
    };
    this.conns.add(conn);
    // A socket that closes after a clean end has nothing more to say: its end travels down
    // its delay line. One that closes without (a reset, a failed connect) resets the other at
    // once, so no stream is half-delivered.
    let closed = 0;
    const onClose = (other, ended) => () => {
      if (!ended()) other.destroy();
      if (++closed === 2) {
        this.conns.delete(conn);
        for (const l of conn.lines) l.stop();
      }
    };
    let clientEnded = false;
    let upstreamEnded = false;
    client.once('end', () => (clientEnded = true));
    upstream.once('end', () => (upstreamEnded = true));
    client.once(
      'close',
      onClose(upstream, () => clientEnded),
    );
    upstream.once(
      'close',
      onClose(client, () => upstreamEnded),
    );
    if (this.isCut) for (const l of conn.lines) l.onCut();
  }

  cut() {
    if (this.isCut) return;
    this.isCut = true;
    for (const c of this.conns) for (const l of c.lines) l.onCut();
  }

  heal() {
    if (!this.isCut) return;
    this.isCut = false;
    for (const c of this.conns) for (const l of c.lines) l.onHeal();
    const held = this.held;
    this.held = [];
    for (const { client, port } of held) {
      this.connect(client, port);
      client.resume();
    }
  }

  stats() {
    return {
      name: this.opts.name,
      delayMs: this.opts.delayMs,
      cut: this.isCut,
      open: this.conns.size,
      held: this.held.length,
      accepted: this.accepted,
      bytes: this.bytes,
      bytesByPort: { ...this.bytesByPort },
      forwardBytesByPort: { ...this.forwardBytesByPort },
    };
  }

  async close() {
    for (const c of this.conns) {
      for (const l of c.lines) l.stop();
      c.client.destroy();
      c.upstream.destroy();
    }
    for (const h of this.held) h.client.destroy();
    await Promise.all(this.servers.map((s) => new Promise((r) => s.close(() => r()))));
  }
}
