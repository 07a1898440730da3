// Types of nemesis-rebase.js for the TypeScript tests (test/chaos/reap-faults.test.ts).
export function isRebaseLine(l: Record<string, unknown>, epochs?: ReadonlySet<string>): boolean;
