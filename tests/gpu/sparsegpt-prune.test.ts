/**
 * SparseGPT on the GPU (src/gpu/sparsegpt/prune-matrices.ts) against the f64 CPU reference on seeded random
 * matrices with correlated inputs: unstructured (several blocks, a partial last block, widths not multiples of 32)
 * and N:M, f32 and packed f16 / bf16 sources at odd element offsets, factors shared by two matrices. Masks must
 * agree except where f32 rounding moves an order statistic (counted and bounded), weights on agreeing rows within
 * f32 tolerance, pruned counts exact per block, N:M exact per group, pruned weights exactly 0.
 */
import { describe, expect, it } from 'vitest';
import type { WeightDtype } from '../../src/engine/model/spec.ts';
import { prunedPerGroup, UNSTRUCTURED, type PrunePattern } from '../../src/engine/prune/settings.ts';
import { createRng } from '../../src/engine/random.ts';
import type { SparseGptSettings } from '../../src/engine/sparsegpt/settings.ts';
import { compareWithReference, rawSums, sparseGptOnGpu, type SparseGptCase } from './sparsegpt-helpers.ts';
import { gpu } from './gpu-context.ts';

function randomCase(label: string, R: number, C: number, Z: number, share: number, dtype: WeightDtype, seed: number): SparseGptCase {
  const rng = createRng(seed);
  const F = Math.ceil(Z / share);
  const sums = new Float32Array(F * C * C);
  for (let f = 0; f < F; f++) sums.set(rawSums(C, 2 * C, seed * 10 + f), f * C * C);
  return {
    label,
    rows: R,
    cols: C,
    dtype,
    share,
    sums,
    tokens: Array.from({ length: F }, () => 2 * C),
    weights: Float32Array.from({ length: Z * R * C }, () => rng.normal() * 0.1),
  };
}

function settingsOf(pattern: PrunePattern, sparsity: number, blockSize: number): SparseGptSettings {
  return { pattern, sparsity, blockSize, damp: 0.01 };
}

describe('SparseGPT on the GPU vs the f64 reference', () => {
  // Column-loop workgroups of the device's height (8 rows on a CPU driver), and of a GPU's 64 where the last field says so.
  const cases: [string, SparseGptCase, SparseGptSettings, number?][] = [
    ['f32, 3 blocks of 16 (last 8), 50%', randomCase('a', 24, 40, 4, 2, 'f32', 1), settingsOf(UNSTRUCTURED, 0.5, 16)],
    ['f16, one block of 64, 30%', randomCase('b', 40, 64, 2, 1, 'f16', 2), settingsOf(UNSTRUCTURED, 0.3, 128)],
    ['bf16, blocks of 32, 70%', randomCase('c', 33, 96, 3, 2, 'bf16', 3), settingsOf(UNSTRUCTURED, 0.7, 32)],
    ['bf16, blocks of 32, 70%, tiles of 64 rows', randomCase('c', 33, 96, 3, 2, 'bf16', 3), settingsOf(UNSTRUCTURED, 0.7, 32), 64],
    ['f16, 3:8, blocks of 32, tiles of 64 rows', randomCase('e', 17, 64, 2, 1, 'f16', 5), settingsOf({ kind: 'n:m', n: 3, m: 8 }, 0, 32), 64],
    ['f32, 2:4, blocks of 16', randomCase('d', 24, 48, 4, 2, 'f32', 4), settingsOf({ kind: 'n:m', n: 2, m: 4 }, 0, 16)],
    ['f16, 3:8, blocks of 32', randomCase('e', 17, 64, 2, 1, 'f16', 5), settingsOf({ kind: 'n:m', n: 3, m: 8 }, 0, 32)],
  ];
  for (const [name, c, settings, maxTileRows] of cases) {
    it(name, async () => {
      const ctx = await gpu();
      const got = await sparseGptOnGpu(ctx, settings, c, maxTileRows);
      const cmp = compareWithReference(settings, c, got);
      const { rows: R, cols: C } = c;
      console.log(
        `${name}: ${cmp.maskDiffs} of ${cmp.elements} mask bits differ (${cmp.rowsWithDiffs} rows); weights on agreeing rows within ` +
          `${cmp.maxWeightError.toExponential(2)} x rms(W); OBS loss GPU ${cmp.lossGpu.toFixed(4)} reference ${cmp.lossRef.toFixed(4)}`,
      );
      expect(cmp.maskDiffs).toBeLessThanOrEqual(Math.ceil(cmp.elements * 0.002));
      expect(cmp.maxWeightError).toBeLessThan(c.dtype === 'f32' ? 1e-4 : c.dtype === 'f16' ? 2e-3 : 1.6e-2);
      expect(Math.abs(cmp.lossGpu - cmp.lossRef)).toBeLessThan(1e-3 * cmp.lossRef + 1e-6);
      const kept = (e: number) => (got.mask[e >>> 5] >>> (e & 31)) & 1;
      for (let z = 0; z < cmp.matrices; z++) {
        const base = z * R * C;
        if (settings.pattern.kind === 'n:m') {
          const { n: keep, m: block } = settings.pattern;
          for (let r = 0; r < R; r++) {
            for (let g = 0; g < C; g += block) {
              let n = 0;
              for (let j = g; j < g + block; j++) n += kept(base + r * C + j);
              expect(n).toBe(keep);
            }
          }
        } else {
          for (let start = 0; start < C; start += settings.blockSize) {
            const width = Math.min(settings.blockSize, C - start);
            let pruned = 0;
            for (let r = 0; r < R; r++) for (let j = start; j < start + width; j++) pruned += 1 - kept(base + r * C + j);
            expect(pruned).toBe(prunedPerGroup(R * width, settings.sparsity));
          }
        }
        for (let e = base; e < base + R * C; e++) if (!kept(e)) expect(got.weights[e]).toBe(0);
      }
    });
  }
});
