/**
 * The routed-token Hessian sums GPTQ and the mixed-precision allocation need, from SparseGPT's machinery
 * (src/gpu/sparsegpt/hessians.ts): one dense calibration pass with the sums S = sum x x^T of every routed expert
 * recorded at the MoE taps (S_in [H, H] over the tokens routed to the expert, S_inter [I, I] over its
 * intermediate), read back to the CPU per expert. Dense mode: every layer's sums come from the dense model (the
 * weights in the model's buffers), so a mixed-precision allocation can see every layer's errors before choosing.
 */
import type { CalibrationStats } from '../../engine/calibration/stats.ts';
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

/** Calibrates on `windows` (dense mode) and returns the statistics and every MoE layer's expert Hessian sums. */
export async function routedHessians(
  model: GpuModel,
  windows: number[][],
  options: { tokensPerBatch?: number; onProgress?: (p: CalibrationProgress) => void; signal?: AbortSignal },
): Promise<{ stats: CalibrationStats; hessians: (ExpertHessians | null)[] }> {
  const moeLayers = model.spec.moeLayers.flatMap((isMoe, l) => (isMoe ? [l] : []));
  const accumulator = await HessianAccumulator.create(model, moeLayers, false);
  try {
    const { stats } = await calibrateOnGpu(model, windows, { ...options, mode: 'dense', onMoeTap: accumulator.record.bind(accumulator) });
    const hessians: (ExpertHessians | null)[] = model.spec.moeLayers.map(() => null);
    for (const l of moeLayers) {
      const sums = accumulator.of(l);
      hessians[l] = { input: await readSlabs(model, sums.input), inter: await readSlabs(model, sums.inter) };
    }
    return { stats, hessians };
  } finally {
    accumulator.destroy();
  }
}
