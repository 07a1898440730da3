/**
 * The failure detector's random choices (SWIM §4.3: a shuffled probe order; §4.1: random
 * ping-req helpers; memberlist's random gossip targets), all drawn from the one source the
 * caller injects, so that a seeded run replays exactly.
 */
export class RandomChoice {
  /** `random` returns numbers in [0, 1). */
  constructor(private readonly random: () => number) {}

  /** Uniform integer in [0, n). Tolerates a random source that strays outside [0, 1). */
  int(n: number): number {
    const i = Math.floor(this.random() * n);
    return i >= 0 && i < n ? i : 0;
  }

  /** Shuffles `xs` in place (Fisher-Yates) and returns it. */
  shuffle<T>(xs: T[]): T[] {
    for (let i = xs.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const a = xs[i] as T;
      xs[i] = xs[j] as T;
      xs[j] = a;
    }
    return xs;
  }

  /** `k` distinct elements of `xs` at random (fewer if it has fewer); reorders `xs`. */
  pick<T>(xs: T[], k: number): T[] {
    const n = Math.min(k, xs.length);
    for (let i = 0; i < n; i++) {
      const j = i + this.int(xs.length - i);
      const a = xs[i] as T;
      xs[i] = xs[j] as T;
      xs[j] = a;
    }
    return xs.slice(0, n);
  }
}
