// Types of delay-proxy.js for the TypeScript tests.
import type { ProxyStats } from './emulator.js';

export declare class DelayProxy {
  constructor(opts: {
    name: string;
    listenHost: string;
    targetHost: string;
    ports: number[];
    delayMs: number;
  });
  start(): Promise<void>;
  ports(): number[];
  cut(): void;
  heal(): void;
  stats(): ProxyStats;
  close(): Promise<void>;
}
