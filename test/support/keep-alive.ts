/**
 * Helpers of the keep-alive tests (test/api/keep-alive.test.ts, test/client/keep-alive.test.ts):
 * a stall of the event loop, and a server's open connections.
 */
import type { Server } from 'node:net';

/** Blocks the event loop for `ms`, as a GC pause or a long task would (the stimulus of a test). */
export function stallLoop(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** Connections open on `server` now. */
export function connections(server: Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.getConnections((err, n) => {
      if (err) reject(err);
      else resolve(n);
    });
  });
}

/** Waits until `server` has `n` connections open, polling every 50 ms, at most `timeoutMs`. */
export async function untilConnections(
  server: Server,
  n: number,
  what: string,
  timeoutMs: number,
): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (let i = 0; i < 10_000 && Date.now() < end; i++) {
    if ((await connections(server)) === n) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}
