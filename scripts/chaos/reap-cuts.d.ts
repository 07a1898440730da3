// Types of reap-cuts.js for the TypeScript tests (test/chaos/reaps.test.ts).
export function agreedReaps(
  perSurvivor: { epoch: string; cut?: number }[][],
  peer: string,
  doneBefore: Set<string>,
): { epoch: string; cut: number }[] | undefined;
export function rebaseFailures(
  faults: import('./nemesis.js').ReapRecord[],
  ops: import('./checker.js').ChaosOp[],
  faults?: { kind: string; targets: number[]; start: number }[],
): string[];
export function reportedSide(
  agents: { peerId?: string }[],
  rs: { epoch: string; participants?: string[]; missing?: string[]; excused?: string[] }[] | undefined,
  of: number[],
  doneBefore: Set<string>,
): number[];
