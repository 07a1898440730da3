// Types of nemesis.js for the TypeScript tests (test/chaos/reaps.test.ts): only what they use.
import type { ChaosOp } from './checker.js';

export const FAULT_KINDS: string[];

export interface ReapRecord {
  kind: string;
  unplanned?: boolean;
  targets: number[];
  reap: { epoch: string; cut: number };
  /** Every epoch of the member the fault's reap retired (a force-leave or reap-timer fault). */
  reaps?: { epoch: string; cut: number }[];
  beyond?: number;
  /** The epoch of the member's last acknowledged write when the fault's cut was agreed. */
  writingUnder?: string;
  end: number;
  rebase?: {
    cut: number;
    held: number;
    origin: string;
    rerun: number;
    abandoned?: string;
    time: number;
    done: number;
  };
  rerunUnfinished?: Record<string, unknown>;
}

export class Nemesis {
  constructor(opts: {
    rng: unknown;
    agents: {
      peerId?: string;
      dir: string;
      storeLosses: (number | number[])[];
      kill?: () => Promise<void>;
      start?: () => Promise<void>;
    }[];
    apis: unknown[];
    clients: unknown[];
    net: unknown;
    history: { ops: ChaosOp[] };
    storeLoss: boolean;
    forceLeaveRestart?: boolean;
    reapAfterMs?: number | undefined;
    reapFaults?: boolean;
    splitFaults?: boolean;
    addAgent?: (index: number, joinTo: number[]) => Promise<void>;
    log: (msg: string) => void;
  });
  plan(count: number): string[];
  reapRecords(): ReapRecord[];
  kinds: string[];
  faults: ReapRecord[];
  unplannedReaps(reaps: { epoch: string; cut?: number }[]): ReapRecord[];
  forceLeave(f: ReapRecord, target: number, before: Map<string, number>): Promise<void>;
}
