// Types of echo.js for the TypeScript tests.
import type { Server } from 'node:net';

export declare function serveEcho(host: string, port: number): Promise<Server>;
export declare function measureRtt(
  host: string,
  port: number,
  opts?: { count?: number; timeoutMs?: number },
): Promise<number[]>;
export declare function summarize(samples: number[]): { minMs: number; medianMs: number; maxMs: number };
