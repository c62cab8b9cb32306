/**
 * GPU pruning masks == CPU reference, bit for bit, on every expert matrix (routed and shared) of the six hf-tiny
 * checkpoints, all matrices of a model in one request (so layer groups span a layer's experts as the pipeline
 * will run them): every method x pattern x group x sparsity on the f32 weights, and again on f16 / bf16 copies
 * (rounding makes ties common). Statistics are seeded random positive vectors with ~10% zero columns (experts
 * some inputs never reach), until calibration is wired in.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { readTensorF32 } from '../../src/engine/model/checkpoint.ts';
import type { WeightDtype } from '../../src/engine/model/spec.ts';
import { expertMatrices, type ExpertMatrix } from '../../src/engine/prune/matrices.ts';
import { createRng } from '../../src/engine/random.ts';
import { parsePattern, PRUNE_GROUPS, MASK_METHODS, UNSTRUCTURED, type MaskMethod, type PruneSettings } from '../../src/engine/prune/settings.ts';
import { FIXTURES, openFixture } from '../helpers/fixtures.ts';
import { gpu, withinErrorScopes } from './gpu-context.ts';
import { bothMasks, expectSameMasks, type PruneCase } from './prune-helpers.ts';

interface FixtureMatrices {
  matrices: ExpertMatrix[];
  values: Float32Array[];
  statistics: Map<string, Float32Array>;
}

async function loadFixture(name: (typeof FIXTURES)[number], seed: number): Promise<FixtureMatrices> {
  const checkpoint = await openFixture(name);
  const matrices = expertMatrices(checkpoint.spec, checkpoint.names);
  const tensors = new Map<string, Float32Array>();
  const values: Float32Array[] = [];
  for (const m of matrices) {
    if (!tensors.has(m.tensor)) tensors.set(m.tensor, await readTensorF32(checkpoint, m.tensor));
    values.push(tensors.get(m.tensor)!.subarray(m.elementOffset, m.elementOffset + m.rows * m.cols));
  }
  const rng = createRng(seed);
  const statistics = new Map<string, Float32Array>();
  for (const m of matrices) {
    for (const stat of [m.statistic, m.gatedStatistic]) {
      if (!statistics.has(stat))
        statistics.set(
          stat,
          Float32Array.from({ length: m.cols }, () => (rng.next() < 0.1 ? 0 : rng.next() * 8)),
        );
    }
  }
  return { matrices, values, statistics };
}

function cases(fixture: FixtureMatrices, method: MaskMethod, dtype: WeightDtype): PruneCase[] {
  return fixture.matrices.map((m, i) => ({
    label: m.label,
    rows: m.rows,
    cols: m.cols,
    dtype,
    values: fixture.values[i],
    statistic: fixture.statistics.get(method === 'moe-pruner' ? m.gatedStatistic : m.statistic)!,
    layerGroup: m.layerGroup,
    randomStream: m.randomStream,
  }));
}

/** 0.05 lands k inside the zero-statistic columns of many rows (wanda / moe-pruner ties at score 0). */
const SPARSITIES = [0, 0.05, 0.1, 0.5, 0.95];
const NM_PATTERNS = ['2:4', '4:8', '3:8'];

describe.each(FIXTURES.map((name, i) => [name, i] as const))('GPU pruning masks on every expert matrix of %s', (name, index) => {
  let fixture: FixtureMatrices;
  beforeAll(async () => {
    fixture = await loadFixture(name, 100 + index);
  });

  it('lists the expert matrices of every MoE layer', () => {
    expect(fixture.matrices.length).toBeGreaterThanOrEqual(2 * 8 * 3);
    expect(new Set(fixture.matrices.map((m) => m.label)).size).toBe(fixture.matrices.length);
  });

  for (const dtype of ['f32', 'f16', 'bf16'] as const) {
    it(`${dtype}: every method, pattern, group and sparsity, bit-identical to the CPU reference`, async () => {
      const ctx = await gpu();
      const boundaryTies = new Map<string, number>();
      await withinErrorScopes(ctx, async () => {
        for (const method of MASK_METHODS) {
          const requestCases = cases(fixture, method, dtype);
          const runs: PruneSettings[] = [];
          // Packed copies: fewer sparsities (the f32 runs cover the grid), same patterns and groups.
          const sparsities = dtype === 'f32' ? SPARSITIES : [0.05, 0.5];
          for (const group of PRUNE_GROUPS) {
            for (const sparsity of sparsities) runs.push({ method, pattern: UNSTRUCTURED, group, sparsity, seed: 5 });
          }
          for (const pattern of dtype === 'f32' ? NM_PATTERNS : ['2:4']) {
            runs.push({ method, pattern: parsePattern(pattern), group: 'row', sparsity: 0, seed: 5 });
          }
          for (const settings of runs) {
            const both = await bothMasks(ctx, settings, requestCases);
            expectSameMasks(settings, requestCases, both);
            const key = `${method} ${settings.pattern.kind}`;
            boundaryTies.set(key, (boundaryTies.get(key) ?? 0) + both.reference.boundaryTies);
          }
        }
      });
      // The tie rule decided real masks here, not only in the adversarial cases.
      expect(boundaryTies.get('wanda unstructured')).toBeGreaterThan(0);
      expect(boundaryTies.get('moe-pruner unstructured')).toBeGreaterThan(0);
      if (dtype !== 'f32') expect(boundaryTies.get('magnitude unstructured')).toBeGreaterThan(0);
    });
  }
});
