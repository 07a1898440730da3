// Types of netns.js for the TypeScript tests.
import type { ChildProcess, SpawnOptions } from 'node:child_process';

export declare function ip(args: string[], opts?: { quiet?: boolean }): string;
export declare function netnsAvailable(): string | undefined;
export declare function namespacesMatching(pattern: RegExp): string[];
export declare function deleteNamespaces(names: string[]): void;
export declare function spawnIn(
  ns: string,
  command: string,
  args: string[],
  options?: SpawnOptions,
): ChildProcess;
