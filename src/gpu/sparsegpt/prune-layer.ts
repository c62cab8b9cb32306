/**
 * SparseGPT on one MoE layer of a GpuModel, from its Hessian sums (hessians.ts) and calibration statistics: per
 * slab of experts, the inverse-Hessian factors (factor.ts) and the batched column algorithm (prune-matrices.ts) on
 * the canonical stacked matrices, gate and up of an expert sharing its input factor:
 *   experts.gate_up [E, 2I, H]: 2E matrices [I, H], share 2;  experts.down [E, H, I]: E matrices [H, I], share 1;
 *   shared.gate_up [2S, H]: 2 matrices, share 2;               shared.down [H, S]: 1 matrix.
 * Output: keep-masks and new weight buffers (the model's dtype and layout) for these keys, as GpuLayerMasks the
 * forward reads (gpu-mask-set.ts `weights`); the model's own weights are untouched, so dense <-> pruned stays a switch.
 */
import type { LayerStats } from '../../engine/calibration/stats.ts';
import type { MatrixKey } from '../../engine/model/mask-set.ts';
import type { SparseGptSettings } from '../../engine/sparsegpt/settings.ts';
import type { GpuContext } from '../context.ts';
import type { GpuModel } from '../model/gpu-model.ts';
import type { GpuLayerMasks } from '../model/gpu-mask-set.ts';
import type { GpuMatrix } from '../model/tensor-upload.ts';
import { maskWords } from '../weights.ts';
import { checkFactorStatus, recordInverseHessianFactor } from './factor.ts';
import type { HessianSlab, LayerHessians } from './hessians.ts';
import { recordSparseGpt } from './prune-matrices.ts';

/** One pruned matrix of the layer: where it is, and the per-row OBS losses. */
export interface PrunedMatrix {
  label: string; // e.g. 'layers.0.experts.3.up'
  key: MatrixKey;
  /** Element of W[0, 0] in the canonical matrix (and bit in its mask). */
  elementOffset: number;
  rows: number;
  cols: number;
  /** Sum of the reference code's Losses over the rows: sum (w - q)^2 / U_ii^2 / 2. */
  loss: number;
}

export interface PrunedLayer {
  layer: number;
  masks: GpuLayerMasks;
  matrices: PrunedMatrix[];
  /** Buffers the layer owns (masks and updated weights). */
  buffers: GPUBuffer[];
}

interface Target {
  key: MatrixKey;
  matrix: GpuMatrix;
  owner: (z: number) => string; // label of matrix z
  rows: number;
  cols: number;
  share: number;
  slabs: HessianSlab[];
  tokens: (factor: number) => number;
}

function targetsOf(model: GpuModel, l: number, hessians: LayerHessians, stats: LayerStats): Target[] {
  const { hiddenSize: H, expertFfnSize: I } = model.spec;
  const layer = model.layers[l];
  const routedTokens = (e: number) => stats.expertTokens[e];
  const targets: Target[] = [
    {
      key: 'experts.gate_up',
      matrix: layer.experts!.gateUp,
      rows: I,
      cols: H,
      share: 2,
      slabs: hessians.input,
      tokens: routedTokens,
      owner: (z) => `layers.${l}.experts.${z >> 1}.${z & 1 ? 'up' : 'gate'}`,
    },
    {
      key: 'experts.down',
      matrix: layer.experts!.down,
      rows: H,
      cols: I,
      share: 1,
      slabs: hessians.inter,
      tokens: routedTokens,
      owner: (z) => `layers.${l}.experts.${z}.down`,
    },
  ];
  if (layer.shared && hessians.sharedInput && hessians.sharedInter) {
    const S = layer.shared.width;
    const all = () => hessians.tokens;
    targets.push(
      {
        key: 'shared.gate_up',
        matrix: layer.shared.gateUp,
        rows: S,
        cols: H,
        share: 2,
        slabs: [hessians.sharedInput],
        tokens: all,
        owner: (z) => `layers.${l}.shared.${z ? 'up' : 'gate'}`,
      },
      {
        key: 'shared.down',
        matrix: layer.shared.down,
        rows: H,
        cols: S,
        share: 1,
        slabs: [hessians.sharedInter],
        tokens: all,
        owner: () => `layers.${l}.shared.down`,
      },
    );
  }
  return targets;
}

/** Prunes MoE layer l with SparseGPT; waits for the GPU (one submit per Hessian slab). */
export async function sparseGptLayer(
  model: GpuModel,
  l: number,
  hessians: LayerHessians,
  stats: LayerStats,
  settings: SparseGptSettings,
): Promise<PrunedLayer> {
  const ctx: GpuContext = model.ctx;
  const result: PrunedLayer = { layer: l, masks: { matrices: {}, expertEnabled: null, weights: {} }, matrices: [], buffers: [] };
  try {
    for (const t of targetsOf(model, l, hessians, stats)) {
      const output = await ctx.allocate(`${t.matrix.name} (SparseGPT)`, t.matrix.buffer.size);
      result.buffers.push(output);
      const mask = ctx.createBuffer(`mask ${t.matrix.name} (SparseGPT)`, maskWords(t.matrix.elements) * 4);
      result.buffers.push(mask);
      result.masks.matrices[t.key] = mask;
      result.masks.weights![t.key] = output;
      for (const slab of t.slabs) {
        const first = slab.firstSegment * t.share; // first matrix of the slab
        const matrices = slab.segments * t.share;
        const elementOffset = first * t.rows * t.cols;
        const rec = ctx.record(`sparsegpt ${t.matrix.name}`);
        const tokens = Array.from({ length: slab.segments }, (_, f) => t.tokens(slab.firstSegment + f));
        const { factor, release: releaseFactor } = recordInverseHessianFactor(ctx, rec, {
          label: `${t.matrix.name} [${slab.firstSegment}..${slab.firstSegment + slab.segments})`,
          hessian: slab.buffer,
          cols: t.cols,
          tokens,
          damp: settings.damp,
        });
        let batch: { loss: GPUBuffer; release: () => void } | null = null;
        try {
          batch = recordSparseGpt(ctx, rec, settings, {
            label: t.matrix.name,
            rows: t.rows,
            cols: t.cols,
            matrices,
            share: t.share,
            source: { buffer: t.matrix.buffer, dtype: t.matrix.dtype, elementOffset },
            output: { buffer: output, elementOffset },
            mask: { buffer: mask, elementOffset },
            factor,
          });
          await rec.submit();
          await checkFactorStatus(ctx, factor, settings.damp);
          const losses = await ctx.readF32(batch.loss);
          for (let z = 0; z < matrices; z++) {
            let loss = 0;
            for (let r = 0; r < t.rows; r++) loss += losses[z * t.rows + r];
            result.matrices.push({ label: t.owner(first + z), key: t.key, elementOffset: (first + z) * t.rows * t.cols, rows: t.rows, cols: t.cols, loss });
          }
        } finally {
          batch?.release();
          batch?.loss.destroy();
          releaseFactor();
          factor.destroy();
        }
      }
    }
    return result;
  } catch (error) {
    for (const b of result.buffers) b.destroy();
    throw error;
  }
}
