/**
 * Seeded pseudo-random numbers, identical on every platform: calibration sampling, data order, random pruning
 * and synthetic weights all draw from here so that (inputs, seed) fixes the result.
 * mulberry32 (Tommy Ettinger, public domain): 32-bit state, good enough statistically for sampling and init.
 */
export interface Rng {
  /** Uniform u32. */
  nextU32(): number;
  /** Uniform in [0, 1) with 32 random bits. */
  next(): number;
  /** Uniform integer in [0, n). */
  int(n: number): number;
  /** Standard normal (Box-Muller). */
  normal(): number;
}

export function createRng(seed: number): Rng {
  let state = seed >>> 0;
  const nextU32 = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
  const next = (): number => nextU32() / 4294967296;
  return {
    nextU32,
    next,
    int: (n: number) => Math.floor(next() * n),
    normal: () => {
      const u = 1 - next();
      const v = next();
      return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
    },
  };
}
