/**
 * Host for shaders/train/adamw.wgsl: global gradient norm, clipping and the AdamW step over flat buffers.
 * CPU reference: `adamwReferenceStep` in src/engine/reference/train/adamw.ts.
 */
import source from '../../../../shaders/train/adamw.wgsl';
import type { AdamWSettings } from '../../../engine/train/recipe.ts';
import { defineKernel } from '../../kernel.ts';
import type { Recorder } from '../../recorder.ts';
import { gridFlat } from '../../train/grid.ts';

export const adamwKernels = {
  normPartial: defineKernel({ name: 'train/adamw-norm-partial', source, entryPoint: 'norm_partial' }),
  normTotal: defineKernel({ name: 'train/adamw-norm-total', source, entryPoint: 'norm_total' }),
  update: defineKernel({ name: 'train/adamw-update', source, entryPoint: 'update' }),
};

/** Invocations of the partial-norm pass (the shader's LANES); the stats buffer holds 1 + this many floats. */
export const NORM_LANES = 4096;

export type { AdamWSettings };

/** The `Params` uniform of train/adamw.wgsl (and of distill/masked_adamw.wgsl, which shares its layout). */
export function adamWParams(count: number, decayEnd: number, step: number, s: AdamWSettings) {
  return {
    count,
    decay_end: decayEnd,
    step,
    lr: s.lr,
    beta1: s.beta1,
    beta2: s.beta2,
    eps: s.eps,
    weight_decay: s.weightDecay,
    // No clipping: a finite f32 so the shader's min(1, max_norm / norm) stays 1.
    max_norm: Number.isFinite(s.maxNorm) ? s.maxNorm : 3.4e38,
  };
}

/**
 * One optimizer step t (from 1) on `count` parameters; elements before `decayEnd` get weight decay.
 * moments: [2 * count] (m, v); stats: [1 + NORM_LANES], stats[0] = the gradient norm before clipping.
 */
export function recordAdamW(
  rec: Recorder,
  count: number,
  decayEnd: number,
  step: number,
  s: AdamWSettings,
  grads: GPUBuffer,
  weights: GPUBuffer,
  moments: GPUBuffer,
  stats: GPUBuffer,
): void {
  const params = adamWParams(count, decayEnd, step, s);
  const bindings = { grads, weights, moments, stats };
  rec.dispatch(adamwKernels.normPartial, { bindings, params, workgroups: [NORM_LANES / 64] });
  rec.dispatch(adamwKernels.normTotal, { bindings, params, workgroups: [1] });
  rec.dispatch(adamwKernels.update, { bindings, params, workgroups: gridFlat(count) });
}
