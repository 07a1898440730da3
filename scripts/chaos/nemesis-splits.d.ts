// Types of nemesis-splits.js for the TypeScript tests (test/chaos/split-faults.test.ts).
import type { Nemesis } from './nemesis.js';

export const SPLIT_KINDS: string[];
export function splitFaultFailures(nem: Nemesis): string[];
