// Types of checker.js for the TypeScript tests (test/chaos/checker.test.ts).
export interface ChaosOp {
  id: number;
  agent: number;
  type: string;
  key: string;
  op: Record<string, unknown>;
  start: number;
  end: number;
  outcome: 'ok' | 'fail' | 'unknown';
  origin?: string | undefined;
  seq?: number | undefined;
  lostWithStore?: boolean;
  rerun?: boolean;
}
export interface ChaosRead {
  agent: number;
  type: string;
  key: string;
  start: number;
  end: number;
  clock: Record<string, number>;
  value: unknown;
}
export interface ChaosCut {
  start: number;
  end: number;
  side: Record<number, string>;
}
export class Checker {
  constructor(input: {
    history: { ops: ChaosOp[]; reads: ChaosRead[] };
    cuts: ChaosCut[];
    agents: { storeLosses: (number | [number, number])[]; peerId?: string }[];
    reaps?: { epoch: string; cut?: number; rerunDone?: number | undefined; rerunOnly?: boolean }[];
  });
  run(
    values: Record<string, string>,
    clocks: Record<string, number>[],
  ): { failures: string[]; decided: Record<string, number>; rerun: number };
}
