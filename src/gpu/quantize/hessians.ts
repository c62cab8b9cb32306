/**
 * The routed-token Hessian sums GPTQ and the mixed-precision allocation need, from SparseGPT's machinery
 * (src/gpu/sparsegpt/hessians.ts): one dense calibration pass with the sums S = sum x x^T of every routed expert
 * recorded at the MoE taps (S_in [H, H] over the tokens routed to the expert, S_inter [I, I] over its
 * intermediate), read back to the CPU per expert. Dense mode: every layer's sums come from the dense model (the
 * weights in the model's buffers), so a mixed-precision allocation can see every layer's errors before choosing.
 * A streamed model's sums exist one layer at a time on the GPU (docs/forward.md "Layer streaming").
 */
import type { CalibrationStats, LayerStats } from '../../engine/calibration/stats.ts';
import { calibrateOnGpu, type CalibrationProgress } from '../calibration/calibrate.ts';
import type { GpuModel } from '../model/gpu-model.ts';
import { HessianAccumulator, type HessianSlab } from '../sparsegpt/hessians.ts';

/** Per MoE layer and routed expert: S_in [H, H] and S_inter [I, I], f32 row-major. */
export interface ExpertHessians {
  input: Float32Array[];
  inter: Float32Array[];
}

async function readSlabs(model: GpuModel, slabs: HessianSlab[]): Promise<Float32Array[]> {
  const out: Float32Array[] = [];
  for (const slab of slabs) {
    const sums = await model.ctx.readF32(slab.buffer, 0, slab.segments * slab.width * slab.width * 4);
    for (let s = 0; s < slab.segments; s++) out.push(sums.slice(s * slab.width * slab.width, (s + 1) * slab.width * slab.width));
  }
  return out;
}

/**
 * Calibrates on `windows` (dense mode) and hands each MoE layer's expert Hessian sums and statistics to `onLayer`,
 * which runs with the layer's weights on the GPU. A streamed model sums one layer at a time (its pass is
 * layer-major) and calls `onLayer(l)` right after layer l; a resident model sums every layer in one pass, then calls
 * it per layer. The sums are not kept after `onLayer` returns. Resolves with the statistics.
 */
export async function routedHessians(
  model: GpuModel,
  windows: number[][],
  options: {
    tokensPerBatch?: number;
    onProgress?: (p: CalibrationProgress) => void;
    signal?: AbortSignal;
    onLayer: (layer: number, hessians: ExpertHessians, stats: LayerStats) => Promise<void>;
  },
): Promise<CalibrationStats> {
  const { onLayer, ...calibration } = options;
  const moeLayers = model.spec.moeLayers.flatMap((isMoe, l) => (isMoe ? [l] : []));
  const { numExperts: E, hiddenSize: H, expertFfnSize: I } = model.spec;
  const accumulator = await HessianAccumulator.create(model, model.streamed ? [] : moeLayers, false);
  const hand = async (l: number, stats: LayerStats) => {
    const sums = accumulator.of(l);
    const hessians = { input: await readSlabs(model, sums.input), inter: await readSlabs(model, sums.inter) };
    accumulator.release(l);
    await onLayer(l, hessians, stats);
  };
  try {
    const { stats } = await calibrateOnGpu(model, windows, {
      ...calibration,
      mode: 'dense',
      onMoeTap: accumulator.record.bind(accumulator),
      // One layer's sums [E, H, H] and [E, I, I], and the read-back of one slab of them.
      layerScratchBytes: 4 * E * (H * H + I * I) + 4 * E * Math.max(H, I) ** 2,
      ...(model.streamed
        ? {
            beforeLayer: async (l: number) => {
              if (model.spec.moeLayers[l]) await accumulator.track(l);
            },
            afterLayer: async (l: number, layerStats: LayerStats | null) => {
              if (layerStats) await hand(l, layerStats);
            },
          }
        : {}),
    });
    if (!model.streamed) for (const l of moeLayers) await hand(l, stats.layers[l]!);
    return stats;
  } finally {
    accumulator.destroy();
  }
}
