// Types of nemesis-reaps.js for the TypeScript tests (test/chaos/reap-faults.test.ts).
import type { Nemesis } from './nemesis.js';

export function compareSides(a: readonly string[], b: readonly string[]): number;
export function reapFaultFailures(nem: Nemesis): string[];
