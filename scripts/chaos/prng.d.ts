// Types of prng.js for the TypeScript tests.
export class Prng {
  constructor(seed: number);
  next(): number;
  int(lo: number, hi: number): number;
  chance(p: number): boolean;
  pick<T>(xs: readonly T[]): T;
  fork(salt: number): Prng;
}
