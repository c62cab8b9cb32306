/**
 * Mixed-precision allocation (src/engine/quantize/allocate.ts): the knapsack equals a brute force over every
 * choice on small random cases (matrices of unequal sizes), never passes the budget, and is never worse than the
 * greedy or than any uniform width that fits; plus the byte accounting of one quantized matrix against the GPTQ
 * tensor shapes it stands for.
 */
import { describe, expect, it } from 'vitest';
import { greedyAllocation, knapsackAllocation, type AllocationItem } from '../../src/engine/quantize/allocate.ts';
import { QUANT_BITS, quantizedBytes } from '../../src/engine/quantize/quantized-matrix.ts';
import { createRng } from '../../src/engine/random.ts';

/** Least error over all QUANT_BITS^n choices within the budget. */
function bruteForce(items: AllocationItem[], averageBits: number): number {
  const budget = averageBits * items.reduce((s, it) => s + it.weights, 0);
  let best = Infinity;
  const choose = (m: number, bits: number, error: number) => {
    if (bits > budget + 1e-9) return;
    if (m === items.length) {
      best = Math.min(best, error);
      return;
    }
    QUANT_BITS.forEach((b, w) => choose(m + 1, bits + b * items[m].weights, error + items[m].errors[w]));
  };
  choose(0, 0, 0);
  return best;
}

function randomItems(seed: number, count: number): AllocationItem[] {
  const rng = createRng(seed);
  return Array.from({ length: count }, () => {
    const weights = 64 * (1 + rng.int(4));
    const scale = rng.next() * 10 + 0.1;
    // Error falls with the width: about 4^-bits, times a per-matrix importance.
    return { weights, errors: QUANT_BITS.map((b) => scale * weights * 4 ** -b * (0.5 + rng.next())) };
  });
}

describe('mixed-precision allocation', () => {
  for (let seed = 1; seed <= 12; seed++) {
    for (const averageBits of [2.5, 3, 4, 5.5]) {
      it(`seed ${seed}, ${averageBits} bits: knapsack = brute force, within budget, <= greedy and uniform`, () => {
        const items = randomItems(seed, 5);
        const exact = knapsackAllocation(items, averageBits);
        const greedy = greedyAllocation(items, averageBits);
        expect(exact.error).toBeCloseTo(bruteForce(items, averageBits), 9);
        expect(exact.averageBits).toBeLessThanOrEqual(averageBits + 1e-12);
        expect(greedy.averageBits).toBeLessThanOrEqual(averageBits + 1e-12);
        expect(exact.error).toBeLessThanOrEqual(greedy.error + 1e-9);
        QUANT_BITS.forEach((b, w) => {
          if (b <= averageBits) expect(exact.error).toBeLessThanOrEqual(items.reduce((s, it) => s + it.errors[w], 0) + 1e-9);
        });
      });
    }
  }

  it('refuses a budget below the narrowest width', () => {
    expect(() => knapsackAllocation(randomItems(1, 3), 1.5)).toThrow(/below the narrowest width 2/);
  });

  it('bytes of a quantized [out, in] matrix: the GPTQ tensors on disk, packed codes and f32 scales on the GPU', () => {
    // 4-bit [192, 96] with groups of 32: qweight I32 [96*4/32, 192], qzeros I32 [3, 192*4/32], scales F16 [3, 192], g_idx I32 [96].
    expect(quantizedBytes(192, 96, 4, 32)).toEqual({ disk: 4 * 12 * 192 + 4 * 3 * 24 + 2 * 3 * 192 + 4 * 96, gpu: 192 * 4 * 12 + 4 * 192 * 3 });
    // 3-bit: 32 values in 3 words.
    expect(quantizedBytes(64, 64, 3, 64).disk).toBe(4 * 6 * 64 + 4 * 6 + 2 * 64 + 4 * 64);
  });
});
