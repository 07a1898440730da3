/**
 * Helpers for service tests: a Liveness the test controls, local HTTP and TCP servers on
 * 127.0.0.1 whose behaviour a test switches, and a TCP listener that never accepts (its
 * process is blocked with a full accept queue), so a connect to it hangs until the timeout.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect, createServer as createTcpServer, type Server as TcpServer, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import type { Liveness } from '../../src/services/host.js';

/** Every node is alive unless killed; regions are whatever the test says. */
export class FakeLiveness implements Liveness {
  private readonly dead = new Set<string>();
  private readonly regions = new Map<string, string>();
  private readonly known = new Set<string>();

  constructor(nodes: readonly string[] = [], regions: Readonly<Record<string, string>> = {}) {
    for (const n of nodes) this.known.add(n);
    for (const [n, r] of Object.entries(regions)) this.regions.set(n, r);
  }

  kill(node: string): void {
    this.dead.add(node);
  }

  revive(node: string): void {
    this.dead.delete(node);
  }

  isAlive(node: string): boolean {
    return !this.dead.has(node);
  }

  region(node: string): string | undefined {
    return this.regions.get(node);
  }

  nodes(): string[] {
    return [...this.known].filter((n) => !this.dead.has(n));
  }
}

export type HttpMode = 'ok' | 'fail' | 'busy' | 'hang';

/** An HTTP server whose answer the test switches: 200, 500, 429, or no answer at all. */
export class SwitchableHttpServer {
  mode: HttpMode = 'ok';
  requests = 0;
  inFlight = 0;
  maxInFlight = 0;
  /** While set, every request waits for release() before it is answered. */
  holding = false;
  private readonly held: (() => void)[] = [];
  private readonly hung: ServerResponse[] = [];
  private server: Server | undefined;

  async start(): Promise<string> {
    this.server = createServer((req: IncomingMessage, res: ServerResponse) => {
      this.requests++;
      this.inFlight++;
      this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
      const answer = (): void => {
        this.inFlight--;
        if (this.mode === 'hang') {
          this.hung.push(res);
          return;
        }
        res.statusCode = this.mode === 'ok' ? 200 : this.mode === 'busy' ? 429 : 500;
        res.end(this.mode);
      };
      if (this.holding) this.held.push(answer);
      else answer();
    });
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/health`;
  }

  release(): void {
    this.holding = false;
    for (const a of this.held.splice(0)) a();
  }

  async stop(): Promise<void> {
    for (const res of this.hung.splice(0)) res.destroy();
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) =>
      this.server?.close(() => {
        resolve();
      }),
    );
  }
}

export async function startTcpServer(): Promise<{ port: number; stop: () => Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: TcpServer = createTcpServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    stop: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) =>
        server.close(() => {
          resolve();
        }),
      );
    },
  };
}

/** A port nothing listens on (bound, then closed). */
export async function closedPort(): Promise<number> {
  const { port, stop } = await startTcpServer();
  await stop();
  return port;
}

/**
 * A listener whose process never accepts: its accept queue (backlog 1) is filled first, so
 * the kernel drops further SYNs and a connect hangs. Only loopback is involved.
 */
export async function startBlackholeListener(): Promise<{ port: number; stop: () => void }> {
  const src =
    "const s=require('node:net').createServer();" +
    "s.listen({host:'127.0.0.1',port:0,backlog:1},()=>{" +
    "require('node:fs').writeSync(1,String(s.address().port)+'\\n');" +
    'Atomics.wait(new Int32Array(new SharedArrayBuffer(4)),0,0);});';
  const child: ChildProcess = spawn(process.execPath, ['-e', src], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout?.once('data', (d: Buffer) => {
      resolve(Number(d.toString().trim()));
    });
    child.once('error', reject);
  });
  const fillers: Socket[] = [];
  // Fill the accept queue until a connect stays pending.
  for (let i = 0; i < 8; i++) {
    const s = connect({ host: '127.0.0.1', port });
    s.on('error', () => undefined);
    fillers.push(s);
    const connected = await Promise.race([
      new Promise<boolean>((resolve) =>
        s.once('connect', () => {
          resolve(true);
        }),
      ),
      new Promise<boolean>((resolve) =>
        setTimeout(() => {
          resolve(false);
        }, 200),
      ),
    ]);
    if (!connected) break;
  }
  return {
    port,
    stop: () => {
      for (const s of fillers) s.destroy();
      child.kill('SIGKILL');
    },
  };
}

/** A clock the test moves by hand. */
export class ManualClock {
  constructor(public t = 1_700_000_000_000) {}
  readonly now = (): number => this.t;
  advance(ms: number): void {
    this.t += ms;
  }
}
