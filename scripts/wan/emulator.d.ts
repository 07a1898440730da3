// Types of emulator.js for the TypeScript tests.
import type { ChildProcess, SpawnOptions } from 'node:child_process';

export declare const REGIONS: readonly string[];
export declare const REGION_NAMES: Readonly<Record<string, string>>;
export declare const RTT_MS: Readonly<Record<string, number>>;
export declare const AGENT_PORT: number;
export declare const ECHO_PORT: number;
export declare const STATE_DIR: string;
export declare const NAMESPACE_PATTERN: RegExp;
export declare function pairKey(a: string, b: string): string;

export interface LinkMeasurement {
  from: string;
  to: string;
  configuredMs: number;
  minMs: number;
  medianMs: number;
  maxMs: number;
  samples: number[];
}

export interface ProxyStats {
  name: string;
  delayMs: number;
  cut: boolean;
  open: number;
  held: number;
  accepted: number;
  bytes: number;
  bytesByPort: Record<string, number>;
  forwardBytesByPort: Record<string, number>;
}

export declare class WanEmulator {
  constructor(opts?: {
    runId?: string;
    regions?: string[];
    rttMs?: Record<string, number>;
    ports?: number[];
    node?: string;
  });
  readonly runId: string;
  readonly regions: string[];
  readonly hub: string;
  ns(i: number): string;
  addr(i: number): string;
  addrFrom(from: number, to: number): string;
  configuredRttMs(i: number, j: number): number;
  up(): Promise<void>;
  cutRegion(i: number): void;
  healRegion(i: number): void;
  cutPair(i: number, j: number): Promise<void>;
  healPair(i: number, j: number): Promise<void>;
  proxyStats(): Promise<ProxyStats[]>;
  measure(from: number, to: number, opts?: { count?: number; timeoutMs?: number }): Promise<LinkMeasurement>;
  measureAll(opts?: { count?: number; timeoutMs?: number }): Promise<LinkMeasurement[]>;
  spawn(i: number, command: string, args: string[], options?: SpawnOptions): ChildProcess;
  describe(): unknown;
  down(): Promise<void>;
  downSync(): void;
  remaining(): string[];
}

export declare function formatReport(rows: LinkMeasurement[]): string;
