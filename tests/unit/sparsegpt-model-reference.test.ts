/**
 * SparseGPT settings checks, the Hessian scaling rule, and the whole-model CPU reference (sparseGptModelReference)
 * on the mixtral fixture: exact pruned counts per block, pruned weights exactly 0, kept weights updated (not a
 * masked copy), and sequential calibration equal to dense on the first MoE layer but not after it.
 */
import { describe, expect, it } from 'vitest';
import { isKept } from '../../src/engine/model/mask-set.ts';
import { prunedPerGroup, UNSTRUCTURED } from '../../src/engine/prune/settings.ts';
import { createRng } from '../../src/engine/random.ts';
import { loadReferenceWeights } from '../../src/engine/reference/weights.ts';
import { sparseGptModelReference } from '../../src/engine/reference/sparsegpt-model.ts';
import { scaledHessian } from '../../src/engine/reference/sparsegpt/matrix.ts';
import { checkSparseGptSettings, type SparseGptSettings } from '../../src/engine/sparsegpt/settings.ts';
import { openFixture } from '../helpers/fixtures.ts';

const base: SparseGptSettings = { sparsity: 0.5, pattern: UNSTRUCTURED, blockSize: 128, damp: 0.01 };

describe('SparseGPT settings', () => {
  it('refuses bad block sizes, dampening, sparsity and N:M blocks, naming the value', () => {
    expect(() => checkSparseGptSettings(base)).not.toThrow();
    expect(() => checkSparseGptSettings({ ...base, blockSize: 0 })).toThrow(/block size 0 must be an integer in 1\.\.4096/);
    expect(() => checkSparseGptSettings({ ...base, blockSize: 12.5 })).toThrow(/block size 12\.5/);
    expect(() => checkSparseGptSettings({ ...base, blockSize: 8192 })).toThrow(/block size 8192/);
    expect(() => checkSparseGptSettings({ ...base, damp: -0.1 })).toThrow(/dampening -0\.1/);
    expect(() => checkSparseGptSettings({ ...base, damp: NaN })).toThrow(/dampening NaN/);
    expect(() => checkSparseGptSettings({ ...base, sparsity: 0.99 })).toThrow(/sparsity 0\.99 is outside/);
    expect(() => checkSparseGptSettings({ ...base, pattern: { kind: 'n:m', n: 2, m: 4 }, blockSize: 30 })).toThrow(
      /block size 30 is not a multiple of the N:M block 4 \(pattern 2:4\)/,
    );
  });

  it('scales raw sums by 2/n and uses the identity for an expert without calibration tokens', () => {
    expect(Array.from(scaledHessian([4, 2, 2, 6], 2, 4))).toEqual([2, 1, 1, 3]);
    expect(Array.from(scaledHessian([0, 0, 0, 0], 2, 0))).toEqual([1, 0, 0, 1]);
  });
});

describe('SparseGPT whole-model reference', () => {
  const rng = createRng(3);
  const windows = Array.from({ length: 4 }, () => Array.from({ length: 24 }, () => rng.int(512)));

  it('prunes exactly floor(R x B x s) per block, zeroes pruned weights and updates kept ones', async () => {
    const checkpoint = await openFixture('mixtral');
    const dense = await loadReferenceWeights(checkpoint);
    const { numExperts: E, hiddenSize: H, expertFfnSize: I } = checkpoint.spec;
    const settings = { ...base, blockSize: 48 }; // H = 64: blocks of 48 and 16
    const result = sparseGptModelReference(dense, windows, settings, 'dense');
    expect(result.loss).toBeGreaterThan(0);
    for (let l = 0; l < checkpoint.spec.numLayers; l++) {
      const mask = result.masks.layers[l]!.matrices['experts.gate_up']!;
      const updated = result.weights.layers[l].gateUp!;
      const original = dense.layers[l].gateUp!;
      let changedKept = 0;
      for (let z = 0; z < 2 * E; z++) {
        for (const [start, width] of [
          [0, 48],
          [48, 16],
        ]) {
          let pruned = 0;
          for (let r = 0; r < I; r++) for (let j = start; j < start + width; j++) pruned += isKept(mask, (z * I + r) * H + j) ? 0 : 1;
          expect(pruned).toBe(prunedPerGroup(I * width, 0.5));
        }
      }
      for (let e = 0; e < updated.length; e++) {
        if (!isKept(mask, e)) expect(updated[e]).toBe(0);
        else if (updated[e] !== original[e]) changedKept++;
      }
      // OBS updates move the kept weights of every column but the last one processed in each row.
      expect(changedKept).toBeGreaterThan(0.9 * (updated.length / 2));
    }
  });

  it('sequential calibration equals dense on the first MoE layer and differs after it', async () => {
    const dense = await loadReferenceWeights(await openFixture('qwen3_moe'));
    const a = sparseGptModelReference(dense, windows, base, 'dense');
    const b = sparseGptModelReference(dense, windows, base, 'sequential');
    expect(Array.from(b.masks.layers[0]!.matrices['experts.down']!)).toEqual(Array.from(a.masks.layers[0]!.matrices['experts.down']!));
    expect(Array.from(b.weights.layers[0].down!)).toEqual(Array.from(a.weights.layers[0].down!));
    expect(Array.from(b.weights.layers[1].down!)).not.toEqual(Array.from(a.weights.layers[1].down!));
  });
});
