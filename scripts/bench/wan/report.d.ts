// Types of report.js for test/bench/wan-report.test.ts.
export interface Stats {
  n: number;
  p50: number | undefined;
  p99: number | undefined;
  max: number | undefined;
}
export interface VisibilitySample {
  system: string;
  from: string;
  to: string;
  oneWayMs: number;
  ms: number | undefined;
}
export interface VisibilityRow extends Stats {
  system: string;
  from: string;
  to: string;
  oneWayMs: number;
  missed: number;
  ratioP50: number | undefined;
  ratioP99: number | undefined;
}
export interface LatencyCell extends Stats {
  system: string;
  concurrency: number;
  region: string;
  role: string;
  errors: number;
  writesPerSec: number;
}
/** The JSON that run.js writes (wan.json); typed as far as the tests use it. */
export interface WanResult {
  latency?: { samples: number; cells: LatencyCell[] };
  visibility?: { samples: number; rows: VisibilityRow[] };
  meta: Record<string, unknown>;
  [phase: string]: unknown;
}

export declare function percentile(sorted: number[], p: number): number | undefined;
export declare function stats(values: (number | undefined)[]): Stats;
export declare function visibilityRows(samples: VisibilitySample[]): VisibilityRow[];
export interface ProxyCounters {
  name: string;
  bytesByPort: Record<string, number>;
  forwardBytesByPort: Record<string, number>;
}
export declare function linkBytes(
  proxyStats: ProxyCounters[],
  regions: string[],
  ports: Record<string, number[]>,
): Record<string, { sent: number; received: number }[]>;
export declare function span(values: (number | undefined)[], digits?: number): string;
export declare function summaryRows(result: WanResult): string[][];
export declare function markdownReport(result: WanResult): string;
