/**
 * Host for shaders/train/rmsnorm.wgsl: RMSNorm forward (keeping 1/rms) and both halves of its backward.
 * CPU reference: `rmsNorm` in src/engine/reference/ops.ts.
 */
import source from '../../../../shaders/train/rmsnorm.wgsl';
import { defineKernel } from '../../kernel.ts';
import type { Recorder } from '../../recorder.ts';
import { gridFlat } from '../../train/grid.ts';

export const rmsnormKernels = {
  forward: defineKernel({ name: 'train/rmsnorm-forward', source, entryPoint: 'forward' }),
  backwardInput: defineKernel({ name: 'train/rmsnorm-backward-input', source, entryPoint: 'backward_input' }),
  backwardWeight: defineKernel({ name: 'train/rmsnorm-backward-weight', source, entryPoint: 'backward_weight' }),
};

export interface NormShape {
  rows: number; // T
  width: number; // H
  eps: number;
  /** Element offset of the weight [H] in the weight buffer (and of its gradient in the gradient buffer). */
  weightOffset: number;
}

const params = (s: NormShape) => ({ rows: s.rows, width: s.width, weight_offset: s.weightOffset, eps: s.eps });

/** y [T, H] = rmsnorm(x) * w; rstd [T] kept for the backward. */
export function recordRmsNormForward(rec: Recorder, s: NormShape, x: GPUBuffer, weights: GPUBuffer, rstd: GPUBuffer, y: GPUBuffer): void {
  rec.dispatch(rmsnormKernels.forward, { bindings: { x, weights, dy: x, rstd, out: y }, params: params(s), workgroups: gridFlat(s.rows) });
}

/** dResidual [T, H] += dx from dy; then grads[weightOffset ...] = dw. */
export function recordRmsNormBackward(
  rec: Recorder,
  s: NormShape,
  x: GPUBuffer,
  weights: GPUBuffer,
  rstd: GPUBuffer,
  dy: GPUBuffer,
  dResidual: GPUBuffer,
  grads: GPUBuffer,
): void {
  rec.dispatch(rmsnormKernels.backwardInput, { bindings: { x, weights, dy, rstd, out: dResidual }, params: params(s), workgroups: gridFlat(s.rows) });
  rec.dispatch(rmsnormKernels.backwardWeight, { bindings: { x, weights, dy, rstd, out: grads }, params: params(s), workgroups: gridFlat(s.width) });
}
