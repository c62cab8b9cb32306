/**
 * Host for shaders/distill/masked_adamw.wgsl: AdamW that moves only trainable kept weights and holds pruned ones
 * at exactly 0 (moments too), with train/adamw.wgsl's global-norm clipping over the masked gradient.
 * CPU reference: `maskedAdamWReference` in src/engine/reference/distill/kernels.ts.
 */
import source from '../../../../shaders/distill/masked_adamw.wgsl';
import { defineKernel } from '../../kernel.ts';
import type { Recorder } from '../../recorder.ts';
import { adamWParams, adamwKernels, NORM_LANES, type AdamWSettings } from '../train/adamw.ts';
import { gridFlat } from '../../train/grid.ts';

export const maskedAdamWKernels = {
  maskGrads: defineKernel({ name: 'distill/mask-grads', source, entryPoint: 'mask_grads' }),
  update: defineKernel({ name: 'distill/masked-adamw-update', source, entryPoint: 'update' }),
};

export interface MaskedAdamWBuffers {
  grads: GPUBuffer; // [P]
  weights: GPUBuffer; // [P]
  moments: GPUBuffer; // [2P]
  stats: GPUBuffer; // [1 + NORM_LANES]; stats[0] = the masked gradient's norm before clipping
  updateBits: GPUBuffer; // [ceil(P / 32)] 1 = trainable and kept
  keptBits: GPUBuffer; // [ceil(P / 32)] 0 = pruned
}

const NO_STEP: AdamWSettings = { lr: 0, beta1: 0, beta2: 0, eps: 0, weightDecay: 0, maxNorm: Infinity };

const bindingsOf = (b: MaskedAdamWBuffers) => ({
  grads: b.grads,
  weights: b.weights,
  moments: b.moments,
  stats: b.stats,
  update_bits: b.updateBits,
  kept_bits: b.keptBits,
});

/** grads = 0 where the update bit is 0 (the gradient the optimizer sees). */
export function recordMaskGradients(rec: Recorder, count: number, b: MaskedAdamWBuffers): void {
  rec.dispatch(maskedAdamWKernels.maskGrads, { bindings: bindingsOf(b), params: adamWParams(count, 0, 1, NO_STEP), workgroups: gridFlat(count) });
}

/** One step t (from 1) on `count` parameters; elements before `decayEnd` get weight decay. */
export function recordMaskedAdamW(rec: Recorder, count: number, decayEnd: number, step: number, s: AdamWSettings, b: MaskedAdamWBuffers): void {
  const params = adamWParams(count, decayEnd, step, s);
  recordMaskGradients(rec, count, b);
  const norm = { grads: b.grads, weights: b.weights, moments: b.moments, stats: b.stats };
  rec.dispatch(adamwKernels.normPartial, { bindings: norm, params, workgroups: [NORM_LANES / 64] });
  rec.dispatch(adamwKernels.normTotal, { bindings: norm, params, workgroups: [1] });
  rec.dispatch(maskedAdamWKernels.update, { bindings: bindingsOf(b), params, workgroups: gridFlat(count) });
}
