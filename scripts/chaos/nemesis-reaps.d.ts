// Types of nemesis-reaps.js for the TypeScript tests (test/chaos/reap-faults.test.ts).
import type { Nemesis } from './nemesis.js';

export function compareSides(a: readonly string[], b: readonly string[]): number;
export function reapFaultFailures(nem: Nemesis): string[];
export function rankSides(
  nem: { agents: { peerId?: string }[] },
  sides: number[][],
  rs: unknown[][] | undefined,
  doneBefore: Set<string>,
): { ranked: number[]; byGroups: number[]; reported: number[][] };
