/**
 * Host for shaders/train/swiglu.wgsl: act = silu(g) * u on expert rows, and its backward; with a clamped-swiglu
 * activation, gpt_oss's clamped variant (distillation).
 * CPU reference: `swigluRows` in src/engine/reference/train/ops.ts.
 * CPU reference: `clampedSwigluReference`, `clampedSwigluBackwardReference` in src/engine/reference/distill/kernels.ts.
 */
import source from '../../../../shaders/train/swiglu.wgsl';
import type { ExpertActivation } from '../../../engine/model/spec.ts';
import { defineKernel } from '../../kernel.ts';
import type { Recorder } from '../../recorder.ts';
import { gridFlat } from '../../train/grid.ts';

export const swigluKernels = {
  forward: defineKernel({ name: 'train/swiglu-forward', source, entryPoint: 'forward' }),
  backward: defineKernel({ name: 'train/swiglu-backward', source, entryPoint: 'backward' }),
};

/** The override constants of `activation` (none for plain SwiGLU, so the trainer's pipelines stay as they were). */
const constantsOf = (activation: ExpertActivation) =>
  activation.kind === 'clamped-swiglu' ? { CLAMPED: true, ALPHA: activation.alpha, LIMIT: activation.limit } : undefined;

/** One SwiGLU pass over [R, I] elements: both passes bind gu, d_act and out and share Params and overrides. */
function dispatchSwiGlu(
  rec: Recorder,
  kernel: typeof swigluKernels.forward,
  rows: number,
  width: number,
  bindings: { gu: GPUBuffer; d_act: GPUBuffer; out: GPUBuffer },
  activation: ExpertActivation,
): void {
  rec.dispatch(kernel, { bindings, params: { count: rows * width, width }, constants: constantsOf(activation), workgroups: gridFlat(rows * width) });
}

/** gu [R, 2I] -> act [R, I]. `unused` fills the backward-only binding. */
export function recordSwiGluForward(
  rec: Recorder,
  rows: number,
  width: number,
  gu: GPUBuffer,
  act: GPUBuffer,
  unused: GPUBuffer,
  activation: ExpertActivation = { kind: 'swiglu' },
): void {
  dispatchSwiGlu(rec, swigluKernels.forward, rows, width, { gu, d_act: unused, out: act }, activation);
}

/** dAct [R, I] -> dGu [R, 2I]. */
export function recordSwiGluBackward(
  rec: Recorder,
  rows: number,
  width: number,
  gu: GPUBuffer,
  dAct: GPUBuffer,
  dGu: GPUBuffer,
  activation: ExpertActivation = { kind: 'swiglu' },
): void {
  dispatchSwiGlu(rec, swigluKernels.backward, rows, width, { gu, d_act: dAct, out: dGu }, activation);
}
