/**
 * Idle keep-alive connections of the agent's HTTP listeners (issue 8: writes failing with
 * ECONNRESET in the WAN soak; docs/api.md "Connections").
 *
 * Node closes a connection that stayed idle for `keepAliveTimeout` (plus its
 * `keepAliveTimeoutBuffer`) from a timer. After a stall of the event loop (a GC pause, a long
 * synchronous task, a loaded machine), timers run before the loop polls its sockets: a request
 * that a client sent on the idle connection during the stall, just before the timeout, sits
 * unread in the socket while the timer closes it, and the client gets ECONNRESET (a reset,
 * since the socket had unread data) for a request whose outcome it cannot know; a write must
 * not be retried blindly. So the close waits for the loop's next poll of its sockets
 * (setImmediate runs after it) and happens only if nothing arrived meanwhile. A connection
 * whose request was read is no longer idle: Node clears the timeout and arms it again after
 * the response. A client that keeps connections idle for longer than the server announces
 * (`Keep-Alive: timeout=`) can still meet a close in flight; the SDK closes them first.
 */
import type { Server } from 'node:http';
import type { Socket } from 'node:net';

/** Idle keep-alive connections: Fastify's default, above the SDK's (4 s) and common proxies' (60 s). */
export const DEFAULT_KEEP_ALIVE_TIMEOUT_MS = 72_000;

/**
 * Makes `server` close an idle connection at its keep-alive timeout only once the loop has read
 * what the connection received. Its only socket timeouts are keep-alive ones (the listeners set
 * no `server.timeout`; the request timeouts are checked separately), and with a 'timeout'
 * listener Node leaves the close to it.
 */
export function closeIdleOnlyAfterReading(server: Server): void {
  server.on('timeout', (socket: Socket) => {
    const readBefore = socket.bytesRead;
    setImmediate(() => {
      if (!socket.destroyed && socket.bytesRead === readBefore) socket.destroy();
    });
  });
}
