// Sending DNS packets to a listener on 127.0.0.1, as a resolver does: one UDP exchange, or
// several queries on one TCP connection (2-byte length prefix each way).
import { createSocket } from 'node:dgram';
import { connect } from 'node:net';

/** One UDP exchange; undefined when nothing comes back within `timeoutMs` (a dropped packet). */
export function udpAsk(port: number, buf: Buffer, timeoutMs = 5_000): Promise<Buffer | undefined> {
  const sock = createSocket('udp4');
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      sock.close();
      resolve(undefined);
    }, timeoutMs);
    sock.once('message', (msg) => {
      clearTimeout(timer);
      sock.close();
      resolve(msg);
    });
    sock.send(buf, port, '127.0.0.1');
  });
}

/** The answers to `bufs`, sent on one TCP connection, in order. */
export function tcpAsk(port: number, bufs: Buffer[]): Promise<Buffer[]> {
  return new Promise((resolve, reject) => {
    const out: Buffer[] = [];
    let pending = Buffer.alloc(0);
    const conn = connect(port, '127.0.0.1', () => {
      for (const b of bufs) {
        const len = Buffer.alloc(2);
        len.writeUInt16BE(b.length);
        conn.write(Buffer.concat([len, b]));
      }
    });
    conn.setTimeout(10_000, () => {
      conn.destroy();
      reject(new Error('TCP answer timed out'));
    });
    conn.on('error', reject);
    conn.on('data', (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      while (pending.length >= 2 && pending.length >= pending.readUInt16BE(0) + 2) {
        out.push(pending.subarray(2, pending.readUInt16BE(0) + 2));
        pending = pending.subarray(pending.readUInt16BE(0) + 2);
      }
      if (out.length === bufs.length) {
        conn.end();
        resolve(out);
      }
    });
  });
}
