// Types of plots.js for test/bench/wan-report.test.ts.
import type { LatencyCell, VisibilityRow, WanResult } from './report.js';

export interface VegaLiteSpec {
  data: { values: Record<string, unknown>[] };
  [key: string]: unknown;
}
export declare function latencySpec(cells: LatencyCell[]): VegaLiteSpec;
export declare function visibilitySpec(rows: VisibilityRow[]): VegaLiteSpec;
export declare function partitionSpec(rows: Record<string, unknown>[]): VegaLiteSpec;
export declare function plotSpecs(result: WanResult): Record<string, VegaLiteSpec>;
export declare function renderSvg(spec: VegaLiteSpec): Promise<string>;
