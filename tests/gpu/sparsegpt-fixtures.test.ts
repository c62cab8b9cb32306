/**
 * SparseGPT through the whole GPU path (calibration with Hessian sums -> factors -> column algorithm -> updated
 * weights read by the forward) on all six fixtures, against the f64 model reference (sparseGptModelReference):
 * - masks equal except where f32 vs f64 rounding moves an order statistic (counted, bounded), weights on rows with
 *   equal masks within tolerance, for 50% unstructured and 2:4, dense and sequential calibration;
 * - acceptance: every expert matrix at 50% +- 2%, and each expert's gate/up outputs on the calibration tokens
 *   reconstructed with total squared error below 0.9x that of Wanda's mask (no update);
 * - the forward reads the updated weights: GPU logits with the result equal the CPU reference forward on the
 *   weights the GPU produced.
 */
import { describe, expect, it } from 'vitest';
import type { MaskSet, MatrixKey } from '../../src/engine/model/mask-set.ts';
import type { MoeModelSpec } from '../../src/engine/model/spec.ts';
import { pruneMasksReference } from '../../src/engine/reference/prune/sorted-masks.ts';
import { columnFactors } from '../../src/engine/prune/scores.ts';
import { UNSTRUCTURED, type PrunePattern } from '../../src/engine/prune/settings.ts';
import { createRng } from '../../src/engine/random.ts';
import { referenceForward } from '../../src/engine/reference/forward.ts';
import { loadReferenceWeights, type ReferenceWeights } from '../../src/engine/reference/weights.ts';
import { sparseGptModelReference, type LayerSums } from '../../src/engine/reference/sparsegpt-model.ts';
import type { SparseGptSettings } from '../../src/engine/sparsegpt/settings.ts';
import { GpuForward } from '../../src/gpu/model/forward.ts';
import { GpuModel } from '../../src/gpu/model/gpu-model.ts';
import { sparseGptOnModel, type SparseGptMatrixReport } from '../../src/gpu/sparsegpt/run.ts';
import { FIXTURES, openFixture, type FixtureName } from '../helpers/fixtures.ts';
import { compareArrays } from '../helpers/tolerance.ts';
import { gpu, withinErrorScopes } from './gpu-context.ts';

/**
 * 32 windows of 32 seeded ids: about 250 calibration tokens per expert, ~4x the fixtures' hidden size. With ~H
 * tokens per expert and one 128-column block covering the whole 64-column matrix, SparseGPT's one-shot block mask
 * can lose to Wanda on granitemoe (measured up to 1.26x; docs/sparsegpt.md), so the acceptance check uses a
 * calibration set that gives each expert's Hessian more rows than columns.
 */
const WINDOWS = (() => {
  const rng = createRng(11);
  return Array.from({ length: 32 }, () => Array.from({ length: 32 }, () => rng.int(512)));
})();

interface GpuRun {
  masks: MaskSet;
  weights: Map<string, Float32Array>; // `${layer}.${key}` -> canonical f32 (fixtures are f32)
  report: SparseGptMatrixReport[];
  logits: Float32Array; // forward of the first window with the result
}

async function runOnGpu(name: FixtureName, settings: SparseGptSettings, mode: 'dense' | 'sequential'): Promise<GpuRun> {
  const ctx = await gpu();
  const checkpoint = await openFixture(name);
  return withinErrorScopes(ctx, async () => {
    const model = await GpuModel.upload(ctx, checkpoint);
    const result = await sparseGptOnModel(model, WINDOWS, { settings, mode });
    const forward = new GpuForward(model, 1, WINDOWS[0].length);
    try {
      const weights = new Map<string, Float32Array>();
      for (const layer of result.layers) {
        for (const key of Object.keys(layer.masks.weights!) as MatrixKey[]) {
          const bytes = await result.readWeights(layer.layer, key);
          weights.set(`${layer.layer}.${key}`, new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4));
        }
      }
      const logits = (await forward.run({ ids: WINDOWS[0], masks: result.masks, logits: true })).logits!;
      return { masks: await result.readMaskSet(), weights, report: await result.report(), logits };
    } finally {
      forward.destroy();
      result.destroy();
      model.destroy();
    }
  });
}

/** The canonical matrices SparseGPT prunes in layer l: key, stacked count, rows, cols. */
function stacks(spec: MoeModelSpec, w: ReferenceWeights, l: number): [MatrixKey, number, number, number][] {
  const { numExperts: E, hiddenSize: H, expertFfnSize: I } = spec;
  const out: [MatrixKey, number, number, number][] = [
    ['experts.gate_up', 2 * E, I, H],
    ['experts.down', E, H, I],
  ];
  const S = w.layers[l].shared?.width;
  if (S) out.push(['shared.gate_up', 2, S, H], ['shared.down', 1, H, S]);
  return out;
}

function canonical(w: ReferenceWeights, l: number, key: MatrixKey): Float32Array {
  const layer = w.layers[l];
  return { 'experts.gate_up': layer.gateUp, 'experts.down': layer.down, 'shared.gate_up': layer.shared?.gateUp, 'shared.down': layer.shared?.down }[
    key as string
  ]!;
}

const bit = (mask: Uint32Array, e: number) => (mask[e >>> 5] >>> (e & 31)) & 1;

/** Mask bits that differ, rows that hold them, and the largest weight error on the other rows (relative to rms(W)). */
function agreement(spec: MoeModelSpec, dense: ReferenceWeights, ref: ReferenceWeights, refMasks: MaskSet, got: GpuRun) {
  let maskDiffs = 0;
  let rowsWithDiffs = 0;
  let rows = 0;
  let maxWeightError = 0;
  spec.moeLayers.forEach((isMoe, l) => {
    if (!isMoe) return;
    for (const [key, count, R, C] of stacks(spec, dense, l)) {
      const original = canonical(dense, l, key);
      const want = canonical(ref, l, key);
      const have = got.weights.get(`${l}.${key}`)!;
      const wantMask = refMasks.layers[l]!.matrices[key]!;
      const haveMask = got.masks.layers[l]!.matrices[key]!;
      for (let z = 0; z < count; z++) {
        let sumSq = 0;
        for (let i = z * R * C; i < (z + 1) * R * C; i++) sumSq += original[i] ** 2;
        const rms = Math.sqrt(sumSq / (R * C));
        for (let r = 0; r < R; r++) {
          rows++;
          const start = (z * R + r) * C;
          let diffs = 0;
          for (let e = start; e < start + C; e++) diffs += bit(wantMask, e) ^ bit(haveMask, e);
          maskDiffs += diffs;
          if (diffs) {
            rowsWithDiffs++;
            continue;
          }
          for (let e = start; e < start + C; e++) maxWeightError = Math.max(maxWeightError, Math.abs(have[e] - want[e]) / rms);
        }
      }
    }
  });
  return { maskDiffs, rowsWithDiffs, rows, maxWeightError };
}

/** sum over the calibration rows of ||(W - W') x||^2 = sum_r dw_r^T S dw_r, S the raw sums [C, C]. */
function reconstructionError(original: Float32Array, pruned: ArrayLike<number>, offset: number, R: number, C: number, S: Float64Array): number {
  let total = 0;
  const dw = new Float64Array(C);
  for (let r = 0; r < R; r++) {
    for (let j = 0; j < C; j++) dw[j] = original[offset + r * C + j] - pruned[offset + r * C + j];
    for (let i = 0; i < C; i++) {
      if (dw[i] === 0) continue;
      let row = 0;
      for (let j = 0; j < C; j++) row += S[i * C + j] * dw[j];
      total += dw[i] * row;
    }
  }
  return total;
}

/** W [R, C] with Wanda's mask (per row, 50% smallest |W| * sqrt(sum x_j^2)) applied, from the lab's prune reference. */
function wandaPruned(original: Float32Array, offset: number, R: number, C: number, S: Float64Array): Float32Array {
  const weights = original.slice(offset, offset + R * C);
  const statistic = Float32Array.from({ length: C }, (_, j) => S[j * C + j]);
  const [mask] = pruneMasksReference({ method: 'wanda', pattern: UNSTRUCTURED, group: 'row', sparsity: 0.5, seed: 0 }, [
    { label: 'wanda', rows: R, cols: C, weights, columnFactors: columnFactors(statistic, 'input_sqnorm') },
  ]).masks;
  const out = new Float32Array(original.length);
  weights.forEach((v, i) => (out[offset + i] = bit(mask, i) ? v : 0));
  return out;
}

/** Per expert: SparseGPT's gate+up reconstruction error over Wanda's (experts without calibration tokens skipped). */
function gateUpErrorRatios(spec: MoeModelSpec, dense: ReferenceWeights, sums: (LayerSums | null)[], got: GpuRun): number[] {
  const { numExperts: E, hiddenSize: H, expertFfnSize: I } = spec;
  const ratios: number[] = [];
  spec.moeLayers.forEach((isMoe, l) => {
    if (!isMoe) return;
    const original = dense.layers[l].gateUp!;
    const pruned = got.weights.get(`${l}.experts.gate_up`)!;
    for (let e = 0; e < E; e++) {
      if (sums[l]!.tokens[e] === 0) continue;
      let sgpt = 0;
      let wanda = 0;
      for (const half of [0, 1]) {
        const offset = (2 * e + half) * I * H;
        sgpt += reconstructionError(original, pruned, offset, I, H, sums[l]!.input[e]);
        wanda += reconstructionError(original, wandaPruned(original, offset, I, H, sums[l]!.input[e]), offset, I, H, sums[l]!.input[e]);
      }
      ratios.push(sgpt / wanda);
    }
  });
  return ratios;
}

const PATTERNS: [string, PrunePattern, number][] = [
  ['50%', UNSTRUCTURED, 0.5],
  ['2:4', { kind: 'n:m', n: 2, m: 4 }, 0],
];

describe('SparseGPT on the six fixtures', () => {
  for (const name of FIXTURES) {
    for (const mode of ['dense', 'sequential'] as const) {
      for (const [patternLabel, pattern, sparsity] of PATTERNS) {
        if (mode === 'sequential' && patternLabel === '2:4') continue;
        it(`${name}: ${patternLabel}, ${mode} calibration`, async () => {
          const checkpoint = await openFixture(name);
          const dense = await loadReferenceWeights(checkpoint);
          const spec = checkpoint.spec;
          const settings: SparseGptSettings = { sparsity, pattern, blockSize: 128, damp: 0.01 };
          const ref = sparseGptModelReference(dense, WINDOWS, settings, mode);
          const got = await runOnGpu(name, settings, mode);
          const cmp = agreement(spec, dense, ref.weights, ref.masks, got);
          const elements = got.report.reduce((n, m) => n + m.rows * m.cols, 0);
          const sparsities = got.report.map((m) => m.sparsity);
          const summary =
            `${name} ${patternLabel} ${mode}: ${cmp.maskDiffs} of ${elements} mask bits differ (${cmp.rowsWithDiffs} of ${cmp.rows} rows); ` +
            `weights within ${cmp.maxWeightError.toExponential(2)} x rms(W) elsewhere; sparsity ${Math.min(...sparsities).toFixed(4)}..${Math.max(...sparsities).toFixed(4)}`;
          // Sequential: a different bit in layer 0 changes layer 1's inputs, so allow more there.
          expect(cmp.maskDiffs, summary).toBeLessThanOrEqual(elements * (mode === 'dense' ? 0.002 : 0.01));
          expect(cmp.maxWeightError, summary).toBeLessThan(mode === 'dense' ? 1e-3 : 1e-2);
          for (const m of got.report) {
            expect(Math.abs(m.sparsity - 0.5), `${m.label} sparsity ${m.sparsity}`).toBeLessThanOrEqual(0.02);
          }
          if (pattern.kind === 'n:m') {
            for (const [l, layer] of got.masks.layers.entries()) {
              if (!layer) continue;
              for (const [key, count, R, C] of stacks(spec, dense, l)) {
                const mask = layer.matrices[key]!;
                for (let g = 0; g < count * R * C; g += 4) expect(bit(mask, g) + bit(mask, g + 1) + bit(mask, g + 2) + bit(mask, g + 3)).toBe(2);
              }
            }
          }
          let ratioNote = '';
          if (mode === 'dense' && pattern.kind === 'unstructured') {
            const ratios = gateUpErrorRatios(spec, dense, ref.sums, got);
            ratioNote = `; gate/up error vs Wanda: ${Math.min(...ratios).toFixed(3)}..${Math.max(...ratios).toFixed(3)} over ${ratios.length} experts`;
            for (const r of ratios) expect(r, summary + ratioNote).toBeLessThan(0.9);
          }
          // The forward reads the updated weights: equal to the reference forward on the GPU's own result.
          const updated: ReferenceWeights = {
            ...dense,
            layers: dense.layers.map((layer, l) => {
              const get = (key: MatrixKey) => got.weights.get(`${l}.${key}`);
              if (!get('experts.gate_up')) return layer;
              const shared = layer.shared && { width: layer.shared.width, gateUp: get('shared.gate_up')!, down: get('shared.down')! };
              return { ...layer, gateUp: get('experts.gate_up')!, down: get('experts.down')!, shared };
            }),
          };
          const logits = referenceForward(updated, WINDOWS[0]).logits;
          const forward = compareArrays(got.logits, logits, { atol: 1e-4, rtol: 1e-4, label: `${name} logits with SparseGPT weights` });
          console.log(`${summary}${ratioNote}; forward max |diff| ${forward.maxAbsDiff.toExponential(2)}; OBS loss reference ${ref.loss.toFixed(4)}`);
          expect(forward.ok, forward.report).toBe(true);
        });
      }
    }
  }

  it("olmoe: per-layer sparsity (an OWL-style allocation) reaches each layer's target", async () => {
    const ctx = await gpu();
    const checkpoint = await openFixture('olmoe');
    const targets = [0.3, 0.7];
    const report = await withinErrorScopes(ctx, async () => {
      const model = await GpuModel.upload(ctx, checkpoint);
      const result = await sparseGptOnModel(model, WINDOWS.slice(0, 8), {
        settings: { sparsity: 0.5, pattern: UNSTRUCTURED, blockSize: 128, damp: 0.01 },
        mode: 'dense',
        layerSparsity: (l) => targets[l],
      });
      try {
        return await result.report();
      } finally {
        result.destroy();
        model.destroy();
      }
    });
    for (const m of report) expect(m.sparsity, m.label).toBeCloseTo(targets[Number(m.label.split('.')[1])], 3);
  });
});
