// Types of dockerfile.js for the TypeScript tests (test/ship/dockerfile.test.ts).
export interface Step {
  op: string;
  flags: Record<string, string>;
  args: string;
  sources?: string[];
  dest?: string;
  exec?: boolean;
  argv?: string[];
  env?: Record<string, string>;
  none?: boolean;
}
export interface Stage {
  name: string;
  base: string;
  steps: Step[];
}
export interface IgnorePattern {
  negate: boolean;
  re: RegExp;
}
export function parseDockerfile(text: string): Stage[];
export function durationMs(s: string | undefined): number;
export function parseDockerignore(text: string): IgnorePattern[];
export function isIgnored(patterns: IgnorePattern[], path: string): boolean;
export function contextFiles(root: string, patterns: IgnorePattern[], dir?: string): string[];
export function readBuildFiles(root: string): { stages: Stage[]; ignore: IgnorePattern[] };
